import type { Histogram } from "../results-schema.js";
import { type Frame, legend, SMALL_FONT, xAxis } from "./frame.js";
import { AFTER_COLOR, BEFORE_COLOR, GRID_COLOR, THRESHOLD_COLOR } from "./palette.js";
import { linearScale, niceDomain, niceTicks } from "./scale.js";
import { element, svgRoot, svgText, tooltip } from "./svg.js";

export interface WeightHistogramOptions {
  readonly label: string;
  readonly before: Histogram;
  readonly after: Histogram;
  /** The weight grid's step Δ: its levels k·Δ, |k| ≤ qmax, are marked under the axis. */
  readonly gridStep: number;
  readonly qmax: number;
  /** ±τ, drawn as dashed lines; null when the layer was not trimmed. */
  readonly threshold: number | null;
  readonly format: (v: number) => string;
  readonly width?: number;
  readonly height?: number;
}

/**
 * A layer's weights before (grey bars) and after (blue outline) reverse pruning, on a square-root count
 * scale so that the thin tails that trimming removes stay visible next to the central peak. Grid levels
 * are marked as a rug under the plot (every m-th when they would be closer than 4 px).
 */
export function weightHistogram(o: WeightHistogramOptions): string {
  const width = o.width ?? 540;
  const leg = legend(
    [
      { name: "before", color: BEFORE_COLOR },
      { name: "after", color: AFTER_COLOR, mark: "line" },
      ...(o.threshold === null ? [] : [{ name: "±τ", color: THRESHOLD_COLOR, mark: "dashed" as const }]),
      { name: "grid levels", color: GRID_COLOR, mark: "line" as const },
    ],
    64,
    16,
    width - 80,
  );
  const frame: Frame = {
    left: 64,
    top: 16 + leg.height + 10,
    width: width - 64 - 18,
    height: o.height ?? 170,
  };
  const lo = Math.min(o.before.edges[0]!, o.after.edges[0]!);
  const hi = Math.max(o.before.edges.at(-1)!, o.after.edges.at(-1)!);
  const [x0, x1] = niceDomain(lo, hi, 6);
  const x = linearScale([x0, x1], [frame.left, frame.left + frame.width]);
  const maxCount = Math.max(1, ...o.before.counts, ...o.after.counts);
  const root = (c: number) => Math.sqrt(c);
  const yTicks = niceTicks(0, maxCount, 4).filter((t) => t > 0);
  const y = linearScale([0, root(maxCount)], [frame.top + frame.height, frame.top]);
  const out: string[] = [leg.markup];
  for (const t of [0, ...yTicks]) {
    const py = y(root(t));
    out.push(
      element("line", {
        x1: frame.left,
        x2: frame.left + frame.width,
        y1: py,
        y2: py,
        class: t === 0 ? "zero" : "grid",
      }),
      svgText(frame.left - 6, py + 4, String(t), { "text-anchor": "end", class: "tick" }),
    );
  }
  const cy = frame.top + frame.height / 2;
  out.push(
    svgText(14, cy, "weights (√ scale)", {
      transform: `rotate(-90 14 ${cy})`,
      "text-anchor": "middle",
      class: "axis-title",
    }),
  );
  o.before.counts.forEach((c, i) => {
    if (c === 0) return;
    const a = x(o.before.edges[i]!);
    const b = x(o.before.edges[i + 1]!);
    out.push(
      element(
        "rect",
        { x: a, y: y(root(c)), width: Math.max(0.5, b - a), height: y(0) - y(root(c)), fill: BEFORE_COLOR },
        tooltip(
          `before: ${c} weights in [${o.format(o.before.edges[i]!)}, ${o.format(o.before.edges[i + 1]!)})`,
        ),
      ),
    );
  });
  let d = `M${x(o.after.edges[0]!)} ${y(0)}`;
  o.after.counts.forEach((c, i) => {
    d += `V${y(root(c))}H${x(o.after.edges[i + 1]!)}`;
  });
  d += `V${y(0)}`;
  out.push(element("path", { d, fill: "none", stroke: AFTER_COLOR, "stroke-width": 1.6 }));
  if (o.threshold !== null)
    for (const t of [-o.threshold, o.threshold])
      if (t >= x0 && t <= x1)
        out.push(
          element("line", {
            x1: x(t),
            x2: x(t),
            y1: frame.top,
            y2: frame.top + frame.height,
            stroke: THRESHOLD_COLOR,
            "stroke-width": 1.5,
            "stroke-dasharray": "5 3",
          }),
        );
  // Grid levels as a rug just under the axis; thinned when they would merge into a bar.
  const spacing = Math.abs(x(o.gridStep) - x(0));
  const every = Math.max(1, Math.ceil(4 / Math.max(spacing, 1e-9)));
  const base = frame.top + frame.height;
  let rug = "";
  for (let k = -o.qmax; k <= o.qmax; k++) {
    if (k % every !== 0) continue;
    const v = k * o.gridStep;
    if (v < x0 || v > x1) continue;
    rug += `M${x(v)} ${base + 1}v6`;
  }
  if (rug !== "") out.push(element("path", { d: rug, stroke: GRID_COLOR, "stroke-width": 1.2 }));
  const axis = xAxis(
    { ...frame, height: frame.height + 8 },
    x,
    niceTicks(x0, x1, 6),
    o.format,
    "weight value",
  );
  out.push(...axis);
  const note = `grid step Δ = ${o.format(o.gridStep)}, levels −${o.qmax}Δ…${o.qmax}Δ${every > 1 ? ` (one mark per ${every} levels)` : ""}${o.threshold === null ? "" : `; τ = ${o.format(o.threshold)}`}`;
  out.push(svgText(frame.left, base + 8 + 50, note, { class: "note", "font-size": SMALL_FONT }));
  return svgRoot(width, base + 8 + 60, o.label, out);
}
