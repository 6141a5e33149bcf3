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

/** What the reverse pruner says about one layer after its last projection. */
export interface PrunedLayerState {
  /** τ per group (one per output channel for a per-channel grid), empty before any projection. */
  readonly thresholds: readonly number[];
  /** Fraction of the layer's weights the last projection moved onto ±τ. */
  readonly fractionTrimmed: number;
}

/**
 * One pruned layer's record for the report (`shape`: the weight's, output channels first): histograms
 * of `before` and `after` on shared edges, the step of `grid` set by the final weights (per-tensor, or
 * the median channel's for a per-channel grid), and the pruner's final threshold (the median channel's
 * when there is one per channel) and trimmed fraction. The threshold is null when nothing was trimmed:
 * the largest weight then sets the grid, as without pruning.
 */
export function trimmedLayerRecord(
  layer: string,
  shape: readonly number[],
  before: Float32Array,
  after: Float32Array,
  pruned: PrunedLayerState,
  grid: GridSpec,
): TrimmedLayer {
  const fn = "trimmedLayerRecord";
  if (before.length !== after.length || after.length === 0)
    throw new Error(
      `${fn}: before has ${before.length} weights and after ${after.length}; both must be equal and > 0`,
    );
  const size = shape.reduce((p, d) => p * d, 1);
  if (size !== after.length)
    throw new Error(`${fn}: shape [${shape.join(", ")}] holds ${size} weights, got ${after.length}`);
  if (!(pruned.fractionTrimmed >= 0 && pruned.fractionTrimmed <= 1))
    throw new Error(`${fn}: fractionTrimmed must be in [0, 1], got ${pruned.fractionTrimmed}`);
  const groups = grid.granularity === "per-channel" ? shape[0]! : 1;
  const perGroup = after.length / groups;
  const lo: number[] = [];
  const hi: number[] = [];
  for (let g = 0; g < groups; g++) {
    let mn = Number.POSITIVE_INFINITY;
    let mx = Number.NEGATIVE_INFINITY;
    for (let i = g * perGroup; i < (g + 1) * perGroup; i++) {
      const w = after[i]!;
      if (w < mn) mn = w;
      if (w > mx) mx = w;
    }
    lo.push(mn);
    hi.push(mx);
  }
  const perChannel = grid.granularity === "per-channel";
  const scales = Array.from(computeQParams(perChannel ? lo : lo[0]!, perChannel ? hi : hi[0]!, grid).scale);
  const trimmed = pruned.fractionTrimmed > 0 && pruned.thresholds.length > 0;
  return {
    layer,
    gridStep: median(scales),
    qmax: qRange(grid).qmax,
    threshold: trimmed ? median(pruned.thresholds) : null,
    trimmedFraction: pruned.fractionTrimmed,
    ...sharedHistograms(before, after),
  };
}
