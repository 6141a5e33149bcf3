import { type Frame, legend, xAxis, yAxis } from "./frame.js";
import { linearScale, niceDomain, niceTicks } from "./scale.js";
import { element, svgRoot, svgText } from "./svg.js";

export interface LineSeries {
  readonly name: string;
  readonly color: string;
  /** [x, y] points in x order. */
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
}

export interface LineChartOptions {
  readonly label: string;
  readonly series: readonly LineSeries[];
  readonly xTitle: string;
  readonly yTitle: string;
  readonly xFormat: (v: number) => string;
  readonly yFormat: (v: number) => string;
  /** Fixed value range (e.g. [0, 1] for λ); default: the data's, widened to round ticks. */
  readonly yDomain?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
  /** Text shown in the plot when no series has points. */
  readonly empty?: string;
  /** The x values are counts (epochs, steps): ticks only at whole numbers. */
  readonly integerX?: boolean;
}

/** Lines (with a dot on each point when there are few) on shared axes, with a legend above. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 540;
  const leg = legend(
    o.series.map((s) => ({
      name: s.name,
      color: s.color,
      mark: s.dashed ? ("dashed" as const) : ("line" as const),
    })),
    64,
    16,
    width - 80,
  );
  const frame: Frame = {
    left: 64,
    top: 16 + leg.height + 10,
    width: width - 64 - 18,
    height: o.height ?? 200,
  };
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = all.length === 0 ? [0, 1] : niceDomain(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = o.yDomain ?? (all.length === 0 ? [0, 1] : niceDomain(Math.min(...ys), Math.max(...ys)));
  const x = linearScale([x0, x1], [frame.left, frame.left + frame.width]);
  const y = linearScale([y0, y1], [frame.top + frame.height, frame.top]);
  const out: string[] = [
    leg.markup,
    ...yAxis(frame, y, niceTicks(y0, y1, 5), o.yFormat, o.yTitle),
    ...xAxis(
      frame,
      x,
      niceTicks(x0, x1, Math.min(6, o.integerX ? Math.max(1, x1 - x0) : 6)).filter(
        (t) => !o.integerX || Number.isInteger(t),
      ),
      o.xFormat,
      o.xTitle,
    ),
  ];
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([px, py], i) => `${i === 0 ? "M" : "L"}${round(x(px))} ${round(y(py))}`).join("");
    out.push(
      element("path", {
        d,
        fill: "none",
        stroke: s.color,
        "stroke-width": 2,
        "stroke-dasharray": s.dashed ? "6 4" : null,
        "stroke-linejoin": "round",
      }),
    );
    if (s.points.length <= 30)
      for (const [px, py] of s.points)
        out.push(element("circle", { cx: x(px), cy: y(py), r: 3, fill: s.color }));
  }
  if (all.length === 0 && o.empty)
    out.push(
      svgText(frame.left + frame.width / 2, frame.top + frame.height / 2, o.empty, {
        "text-anchor": "middle",
        class: "note",
      }),
    );
  return svgRoot(width, frame.top + frame.height + 44, o.label, out);
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
