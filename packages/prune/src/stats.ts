import {
  computeQParams,
  fakeQuantize,
  type GridSpec,
  gridSpec,
  int4SymmetricPerTensor,
  int8SymmetricPerTensor,
  minMax,
} from "@quant-trim/quant";
import type { Tensor } from "@quant-trim/tensor";
import { groupLayout } from "./project.js";
import { checkKeys } from "./schedule.js";

/**
 * Weight-distribution statistics for the report's before/after comparison: how heavy the tails are
 * (max|w|/std, excess kurtosis), how much reverse pruning moved, and what that does to the integer grid
 * (its min-max step and the quantization SQNR). The grid math is `@quant-trim/quant`'s — the same
 * functions fake quantization and the NPU simulator use — so the numbers are the ones a backend would see.
 */

export interface MomentStats {
  mean: number;
  /** Population standard deviation. */
  std: number;
  maxAbs: number;
  /** max|w| / std: how far the largest weight sits out in the tail (NaN for an all-zero group, huge or Infinity for a constant one). */
  maxAbsOverStd: number;
  /** m4 / m2² − 3: 0 for a Gaussian, large for heavy tails (NaN when std = 0). */
  excessKurtosis: number;
  /** Fraction of elements trimmed (given `before` or `threshold`), else null. */
  fractionTrimmed: number | null;
}

export interface GridStats {
  spec: GridSpec;
  /** Min-max calibrated step (scale): one per tensor or one per grid channel, as the spec says. */
  step: number[];
  /** 10·log10(Σw² / Σ(w − fakeQuant(w))²) over the tensor; +Infinity when quantization is exact. */
  sqnrDb: number;
  /** The same per output channel (axis 0; empty for tensors of ndim < 2). */
  sqnrDbPerChannel: number[];
}

export interface WeightHistogram {
  /** bins + 1 increasing edges; bin i is [edges[i], edges[i+1]), the last bin also holds its upper edge. */
  edges: number[];
  counts: number[];
  /** Elements outside [edges[0], edges[bins]] (only when a fixed `range` is given). */
  outside: number;
}

export interface WeightStats {
  shape: number[];
  size: number;
  tensor: MomentStats;
  /** Per output channel (axis 0); empty for tensors of ndim < 2. */
  channels: MomentStats[];
  /** By label: "int8" and "int4" by default, or the keys of `grids`. */
  grids: Record<string, GridStats>;
  histogram: WeightHistogram;
}

export interface WeightStatsOptions {
  /**
   * Template grid: "int8" and "int4" are this grid with 8 and 4 bits (default: symmetric per-tensor).
   */
  grid?: GridSpec;
  /** Explicit grids by label, replacing the int8/int4 pair. */
  grids?: Record<string, GridSpec>;
  /** The weights before trimming (same shape): fractionTrimmed = fraction of elements that changed. */
  before?: Tensor;
  /** A threshold (one, or one per output channel): fractionTrimmed = fraction with |w| > τ. */
  threshold?: number | ArrayLike<number>;
  /** Histogram bins (default 64). */
  bins?: number;
  /** Histogram range (default ±max|w|); pass the "before" range to draw before/after on one axis. */
  range?: [number, number];
}

const FN = "weightStats";

function isGridSpec(x: unknown): x is GridSpec {
  return typeof x === "object" && x !== null && typeof (x as { bits?: unknown }).bits === "number";
}

/** Moments of data[start, end) in float64, two-pass (mean first) for accuracy. */
function moments(data: ArrayLike<number>, start: number, end: number): MomentStats {
  const n = end - start;
  if (n === 0) {
    return {
      mean: Number.NaN,
      std: Number.NaN,
      maxAbs: 0,
      maxAbsOverStd: Number.NaN,
      excessKurtosis: Number.NaN,
      fractionTrimmed: null,
    };
  }
  let sum = 0;
  let maxAbs = 0;
  for (let i = start; i < end; i++) {
    const v = data[i]!;
    sum += v;
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
  }
  const mean = sum / n;
  let m2 = 0;
  let m4 = 0;
  for (let i = start; i < end; i++) {
    const d = data[i]! - mean;
    const d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= n;
  m4 /= n;
  const std = Math.sqrt(m2);
  return {
    mean,
    std,
    maxAbs,
    maxAbsOverStd: maxAbs / std,
    excessKurtosis: m2 === 0 ? Number.NaN : m4 / (m2 * m2) - 3,
    fractionTrimmed: null,
  };
}

function sqnrDb(signal: number, noise: number): number {
  if (noise === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10(signal / noise);
}

/** Per-layer and per-channel statistics of a weight tensor (see the interfaces for every field). */
export function weightStats(weight: Tensor, gridOrOptions?: GridSpec | WeightStatsOptions): WeightStats {
  const options: WeightStatsOptions = isGridSpec(gridOrOptions)
    ? { grid: gridOrOptions }
    : (gridOrOptions ?? {});
  if (typeof options !== "object" || options === null) {
    throw new Error(`${FN}: the second argument must be a GridSpec or options, got ${String(options)}`);
  }
  checkKeys(FN, "weightStats", options, ["grid", "grids", "before", "threshold", "bins", "range"]);
  if (!weight || typeof (weight as Tensor).toFloat32Array !== "function") {
    throw new Error(`${FN}: weight must be a Tensor, got ${String(weight)}`);
  }
  const shape = [...weight.shape];
  const w = weight.toFloat32Array();
  const n = w.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(w[i]!)) throw new Error(`${FN}: weight[${i}] = ${w[i]} is not finite`);
  }
  const perChannel = shape.length >= 2;
  const { count, size } = groupLayout(shape, perChannel ? "per-channel" : "per-tensor");
  const channelCount = perChannel ? count : 0;

  const tensor = moments(w, 0, n);
  const channels: MomentStats[] = [];
  for (let c = 0; c < channelCount; c++) channels.push(moments(w, c * size, (c + 1) * size));

  const trimmedMask = trimmedElements(options, weight, w, channelCount, size);
  if (trimmedMask) {
    tensor.fractionTrimmed = n === 0 ? 0 : countOnes(trimmedMask, 0, n) / n;
    channels.forEach((m, c) => {
      m.fractionTrimmed = size === 0 ? 0 : countOnes(trimmedMask, c * size, (c + 1) * size) / size;
    });
  }

  const grids: Record<string, GridStats> = {};
  for (const [label, spec] of Object.entries(gridsToEvaluate(options))) {
    grids[label] = gridStats(w, shape, spec, channelCount, size);
  }

  return { shape, size: n, tensor, channels, grids, histogram: histogram(w, options, tensor.maxAbs) };
}

function gridsToEvaluate(options: WeightStatsOptions): Record<string, GridSpec> {
  if (options.grids !== undefined) {
    if (typeof options.grids !== "object" || options.grids === null) {
      throw new Error(`${FN}: grids must be a record of label → GridSpec`);
    }
    for (const [label, spec] of Object.entries(options.grids)) {
      if (!isGridSpec(spec)) throw new Error(`${FN}: grids['${label}'] is not a GridSpec`);
    }
    return options.grids;
  }
  if (options.grid === undefined) return { int8: int8SymmetricPerTensor, int4: int4SymmetricPerTensor };
  if (!isGridSpec(options.grid)) throw new Error(`${FN}: grid is not a GridSpec`);
  return { int8: gridSpec({ ...options.grid, bits: 8 }), int4: gridSpec({ ...options.grid, bits: 4 }) };
}

function gridStats(
  w: Float32Array,
  shape: number[],
  spec: GridSpec,
  channelCount: number,
  size: number,
): GridStats {
  const range = minMax(w, spec, shape, { nonFinite: "reject" });
  const qparams = computeQParams(range.min, range.max, spec);
  const fq = fakeQuantize(w, qparams, spec, shape);
  const perChannel: number[] = [];
  let signal = 0;
  let noise = 0;
  for (let c = 0; c < Math.max(channelCount, 1); c++) {
    const start = channelCount === 0 ? 0 : c * size;
    const end = channelCount === 0 ? w.length : start + size;
    let s = 0;
    let e = 0;
    for (let i = start; i < end; i++) {
      const v = w[i]!;
      const d = v - fq[i]!;
      s += v * v;
      e += d * d;
    }
    signal += s;
    noise += e;
    if (channelCount > 0) perChannel.push(sqnrDb(s, e));
  }
  return {
    spec,
    step: Array.from(qparams.scale),
    sqnrDb: sqnrDb(signal, noise),
    sqnrDbPerChannel: perChannel,
  };
}

/** 1 where an element counts as trimmed, or null when neither `before` nor `threshold` was given. */
function trimmedElements(
  options: WeightStatsOptions,
  weight: Tensor,
  w: Float32Array,
  channelCount: number,
  size: number,
): Uint8Array | null {
  const { before, threshold } = options;
  if (before !== undefined && threshold !== undefined) {
    throw new Error(`${FN}: give either before or threshold for fractionTrimmed, not both`);
  }
  if (before !== undefined) {
    if (!before || typeof before.toFloat32Array !== "function")
      throw new Error(`${FN}: before must be a Tensor`);
    if (before.shape.length !== weight.shape.length || before.shape.some((d, i) => d !== weight.shape[i])) {
      throw new Error(
        `${FN}: before has shape [${before.shape.join(", ")}], expected the weight's [${weight.shape.join(", ")}]`,
      );
    }
    const b = before.toFloat32Array();
    const out = new Uint8Array(w.length);
    // `!==` treats 0 and −0 as equal: a clamp to τ = 0 that only flips the sign of zero moved nothing.
    for (let i = 0; i < w.length; i++) out[i] = b[i] !== w[i] ? 1 : 0;
    return out;
  }
  if (threshold !== undefined) {
    const taus = typeof threshold === "number" ? null : Array.from(threshold);
    const check = (t: number) => {
      if (typeof t !== "number" || !(t >= 0))
        throw new Error(`${FN}: threshold must be ≥ 0, got ${String(t)}`);
    };
    if (taus === null) check(threshold as number);
    else {
      if (taus.length !== channelCount) {
        throw new Error(
          `${FN}: ${taus.length} thresholds given, expected one per output channel (${channelCount})`,
        );
      }
      taus.forEach(check);
    }
    const out = new Uint8Array(w.length);
    for (let i = 0; i < w.length; i++) {
      const tau = taus === null ? (threshold as number) : taus[Math.floor(i / size)]!;
      out[i] = Math.abs(w[i]!) > tau ? 1 : 0;
    }
    return out;
  }
  return null;
}

function countOnes(mask: Uint8Array, start: number, end: number): number {
  let k = 0;
  for (let i = start; i < end; i++) k += mask[i]!;
  return k;
}

function histogram(w: Float32Array, options: WeightStatsOptions, maxAbs: number): WeightHistogram {
  const bins = options.bins ?? 64;
  if (!Number.isInteger(bins) || bins < 1)
    throw new Error(`${FN}: bins must be an integer ≥ 1, got ${String(bins)}`);
  let lo: number;
  let hi: number;
  if (options.range !== undefined) {
    const r = options.range;
    if (
      !Array.isArray(r) ||
      r.length !== 2 ||
      !Number.isFinite(r[0]) ||
      !Number.isFinite(r[1]) ||
      !(r[0] < r[1])
    ) {
      throw new Error(`${FN}: range must be [lo, hi] with finite lo < hi, got ${JSON.stringify(r)}`);
    }
    [lo, hi] = r;
  } else {
    const m = maxAbs > 0 ? maxAbs : 1;
    lo = -m;
    hi = m;
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const counts = new Array<number>(bins).fill(0);
  let outside = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    if (v < lo || v > hi) {
      outside++;
      continue;
    }
    let b = Math.floor((v - lo) / width);
    if (b >= bins) b = bins - 1;
    counts[b]!++;
  }
  return { edges, counts, outside };
}
