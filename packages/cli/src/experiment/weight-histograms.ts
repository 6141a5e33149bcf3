import { computeQParams, type GridSpec, qRange } from "@quant-trim/quant";
import type { Histogram, TrimmedLayer } from "../report/results-schema.js";

/** Bins of the before/after weight histograms: enough to see a clipped tail, few enough to stay small. */
export const HISTOGRAM_BINS = 60;

/** Counts of `a` and `b` on the same edges, spanning both from −max|w| to +max|w| (the grid is symmetric). */
export function sharedHistograms(
  a: Float32Array,
  b: Float32Array,
  bins = HISTOGRAM_BINS,
): { before: Histogram; after: Histogram } {
  if (!Number.isInteger(bins) || bins < 1)
    throw new Error(`sharedHistograms: bins must be an integer ≥ 1, got ${String(bins)}`);
  let extent = 0;
  for (const xs of [a, b])
    for (let i = 0; i < xs.length; i++) {
      const v = Math.abs(xs[i]!);
      if (!Number.isFinite(v)) throw new Error(`sharedHistograms: weight ${i} is ${xs[i]}`);
      if (v > extent) extent = v;
    }
  // An all-zero layer still needs strictly increasing edges.
  if (extent === 0) extent = 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => -extent + (2 * extent * i) / bins);
  const count = (xs: Float32Array): Histogram => {
    const counts = new Array<number>(bins).fill(0);
    for (let i = 0; i < xs.length; i++) {
      const k = Math.floor(((xs[i]! + extent) / (2 * extent)) * bins);
      counts[Math.min(bins - 1, Math.max(0, k))]!++;
    }
    return { edges, counts };
  };
  return { before: count(a), after: count(b) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * One pruned layer's record for the report (`shape`: the weight's, output channels first): histograms of `before` and `after` on shared edges, the
 * step of `grid` set by the final weights (per-tensor, or the median channel's for a per-channel grid),
 * the final threshold (the median channel's when there is one per channel), and the fraction of final
 * weights sitting on their group's threshold, i.e. clipped by it.
 */
export function trimmedLayerRecord(
  layer: string,
  shape: readonly number[],
  before: Float32Array,
  after: Float32Array,
  thresholds: readonly number[],
  grid: GridSpec,
): TrimmedLayer {
  const fn = "trimmedLayerRecord";
  if (before.length !== after.length || after.length === 0)
    throw new Error(
      `${fn}: before has ${before.length} weights and after ${after.length}; both must be equal and > 0`,
    );
  const size0 = shape.reduce((p, d) => p * d, 1);
  if (size0 !== after.length)
    throw new Error(`${fn}: shape [${shape.join(", ")}] holds ${size0} weights, got ${after.length}`);
  const groups = grid.granularity === "per-channel" ? shape[0]! : 1;
  if (thresholds.length !== 0 && thresholds.length !== groups)
    throw new Error(`${fn}: ${thresholds.length} thresholds for ${groups} weight groups of ${layer}`);
  const size = after.length / groups;
  const lo: number[] = [];
  const hi: number[] = [];
  let clipped = 0;
  for (let g = 0; g < groups; g++) {
    let mn = Number.POSITIVE_INFINITY;
    let mx = Number.NEGATIVE_INFINITY;
    const tau = thresholds[g];
    for (let i = g * size; i < (g + 1) * size; i++) {
      const w = after[i]!;
      if (w < mn) mn = w;
      if (w > mx) mx = w;
      if (tau !== undefined && Math.abs(w) >= tau) clipped++;
    }
    lo.push(mn);
    hi.push(mx);
  }
  const scales = Array.from(
    computeQParams(
      grid.granularity === "per-channel" ? lo : lo[0]!,
      grid.granularity === "per-channel" ? hi : hi[0]!,
      grid,
    ).scale,
  );
  const trimmedFraction = thresholds.length === 0 ? 0 : clipped / after.length;
  return {
    layer,
    gridStep: median(scales),
    qmax: qRange(grid).qmax,
    threshold: trimmedFraction === 0 ? null : median(thresholds),
    trimmedFraction,
    ...sharedHistograms(before, after),
  };
}
