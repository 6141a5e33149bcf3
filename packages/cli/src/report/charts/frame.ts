import type { LinearScale } from "./scale.js";
import { element, svgText, textWidth } from "./svg.js";

/** The plotting area of a chart, in pixels of its SVG. */
export interface Frame {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

export const FONT = 12;
export const SMALL_FONT = 11;

/**
 * Numeric labels padded to the same number of decimals ("0.8", "1.0", "1.2" rather than "0.8", "1",
 * "1.2"), so that an axis reads as one scale; other labels are left alone.
 */
export function alignDecimals(labels: readonly string[]): string[] {
  const numeric = /^-?\d+(?:\.(\d+))?$/;
  if (!labels.every((l) => numeric.test(l))) return [...labels];
  const digits = Math.max(0, ...labels.map((l) => numeric.exec(l)![1]?.length ?? 0));
  return labels.map((l) => {
    const have = numeric.exec(l)![1]?.length ?? 0;
    return have === digits ? l : `${l}${have === 0 ? "." : ""}${"0".repeat(digits - have)}`;
  });
}

/** Horizontal grid lines with their labels on the left, and the axis title turned upright. */
export function yAxis(
  frame: Frame,
  y: LinearScale,
  ticks: readonly number[],
  format: (v: number) => string,
  title: string,
): string[] {
  const out: string[] = [];
  const labels = alignDecimals(ticks.map(format));
  ticks.forEach((t, i) => {
    const py = y(t);
    out.push(
      element("line", {
        x1: frame.left,
        x2: frame.left + frame.width,
        y1: py,
        y2: py,
        class: t === 0 ? "zero" : "grid",
      }),
      svgText(frame.left - 6, py + 4, labels[i]!, { "text-anchor": "end", class: "tick" }),
    );
  });
  const cx = 14;
  const cy = frame.top + frame.height / 2;
  out.push(
    svgText(cx, cy, title, {
      transform: `rotate(-90 ${cx} ${cy})`,
      "text-anchor": "middle",
      class: "axis-title",
    }),
  );
  return out;
}

/** Vertical tick labels under the plot, with the axis title below them. */
export function xAxis(
  frame: Frame,
  x: LinearScale,
  ticks: readonly number[],
  format: (v: number) => string,
  title: string,
): string[] {
  const base = frame.top + frame.height;
  const out: string[] = [
    element("line", { x1: frame.left, x2: frame.left + frame.width, y1: base, y2: base, class: "axis" }),
  ];
  const labels = alignDecimals(ticks.map(format));
  ticks.forEach((t, i) => {
    const px = x(t);
    out.push(
      element("line", { x1: px, x2: px, y1: base, y2: base + 4, class: "axis" }),
      svgText(px, base + 17, labels[i]!, { "text-anchor": "middle", class: "tick" }),
    );
  });
  out.push(
    svgText(frame.left + frame.width / 2, base + 34, title, { "text-anchor": "middle", class: "axis-title" }),
  );
  return out;
}

export interface LegendItem {
  readonly name: string;
  readonly color: string;
  /** How the series is drawn: a filled box (bars), a line, or a dashed line. */
  readonly mark?: "box" | "line" | "dashed";
}

/** A legend laid out in rows from (x, y), wrapping at `maxWidth`; returns its markup and height. */
export function legend(
  items: readonly LegendItem[],
  x: number,
  y: number,
  maxWidth: number,
): { markup: string; height: number } {
  const out: string[] = [];
  let cx = x;
  let row = 0;
  const rowHeight = 18;
  for (const item of items) {
    const w = 22 + textWidth(item.name, SMALL_FONT) + 16;
    if (cx > x && cx + w > x + maxWidth) {
      cx = x;
      row++;
    }
    const cy = y + row * rowHeight;
    if ((item.mark ?? "box") === "box")
      out.push(element("rect", { x: cx, y: cy - 9, width: 14, height: 10, fill: item.color }));
    else
      out.push(
        element("line", {
          x1: cx,
          x2: cx + 16,
          y1: cy - 4,
          y2: cy - 4,
          stroke: item.color,
          "stroke-width": 2.5,
          "stroke-dasharray": item.mark === "dashed" ? "5 3" : null,
        }),
      );
    out.push(svgText(cx + 20, cy, item.name, { class: "legend" }));
    cx += w;
  }
  return { markup: out.join(""), height: items.length === 0 ? 0 : (row + 1) * rowHeight };
}
