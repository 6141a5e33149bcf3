import { SMALL_FONT } from "./frame.js";
import { linearScale } from "./scale.js";
import { element, svgRoot, svgText, textWidth, tooltip } from "./svg.js";

export interface HorizontalBarChartOptions {
  readonly label: string;
  readonly title: string;
  readonly labels: readonly string[];
  /** One value ≥ 0 per label. */
  readonly values: readonly number[];
  readonly format: (v: number) => string;
  readonly color?: string;
  readonly width?: number;
}

/** One bar per label, longest first as given, each with its value printed at its end. */
export function horizontalBarChart(o: HorizontalBarChartOptions): string {
  const width = o.width ?? 360;
  const rowHeight = 20;
  const labelWidth = Math.max(60, ...o.labels.map((l) => textWidth(l, SMALL_FONT))) + 10;
  const valueRoom = 64;
  const top = 26;
  const x = linearScale([0, Math.max(...o.values, 0) || 1], [labelWidth, width - valueRoom]);
  const out: string[] = [svgText(0, 14, o.title, { class: "chart-title" })];
  o.labels.forEach((label, i) => {
    const v = o.values[i]!;
    const y = top + i * rowHeight;
    out.push(
      svgText(labelWidth - 8, y + 13, label, { "text-anchor": "end", class: "tick" }),
      element(
        "rect",
        {
          x: labelWidth,
          y: y + 3,
          width: Math.max(1, x(v) - labelWidth),
          height: rowHeight - 6,
          fill: o.color ?? "#0072b2",
        },
        tooltip(`${label}: ${o.format(v)}`),
      ),
      svgText(x(v) + 4, y + 13, o.format(v), { class: "tick" }),
    );
  });
  return svgRoot(width, top + o.labels.length * rowHeight + 6, o.label, out);
}
