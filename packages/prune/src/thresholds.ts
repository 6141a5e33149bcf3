import type { TypedData } from "@quant-trim/tensor";

/**
 * Thresholds on |w| over one weight group, the contiguous range `data[start, end)`.
 *
 * Quantile definition (the project's choice): τ = quantile(|w|, p) is the smallest element x of |w|
 * with at least ⌈p·n⌉ elements ≤ x — the (⌈p·n⌉−1)-th order statistic, counting from 0. It is always
 * one of the group's own magnitudes, p = 1 gives max|w| (nothing to trim), and the number of elements
 * strictly above τ is at most ⌊n·(1−p)⌋: the rule never trims more than the fraction 1−p.
 */

/**
 * Groups up to this many elements select on a full copy; larger ones go through the histogram, which
 * gives the same value without copying the group. Both are linear in the group size (selection in
 * expectation).
 */
export const DEFAULT_EXACT_LIMIT = 16384;
/** Bins of the histogram quantile; more bins make the final in-bin selection smaller. */
export const DEFAULT_HISTOGRAM_BINS = 2048;
/**
 * 1 / Φ⁻¹(3/4): the median absolute deviation of a normal distribution is σ/1.4826, so 1.4826·MAD
 * estimates σ and `robust` kSigma thresholds agree with plain ones on Gaussian weights.
 */
export const MAD_TO_SIGMA = 1.4826;

export type QuantileMethod = "auto" | "exact" | "histogram";

/** Scratch buffers reused across groups and steps so the hot path allocates nothing. */
export class ThresholdWorkspace {
  scratch: Float64Array = new Float64Array(0);
  counts: Int32Array = new Int32Array(0);

  ensureScratch(n: number): Float64Array {
    if (this.scratch.length < n) this.scratch = new Float64Array(n);
    return this.scratch;
  }

  ensureBins(bins: number): void {
    if (this.counts.length < 4 * bins) this.counts = new Int32Array(4 * bins);
  }
}

/** 0-based rank of the p-quantile among n sorted values: ⌈p·n⌉ − 1, clamped to [0, n − 1]. */
export function quantileRank(n: number, p: number): number {
  // p·n carries a rounding error of a few ulps (0.07·100 = 7.000000000000001); without a slack, ceil
  // would skip a whole rank. The slack is a few ulps of p·n (2^-50 relative) and no more: p·n =
  // 198696.0001 must still round up, or the trim would move one weight more than ⌊n·(1 − p)⌋.
  const x = p * n;
  const k = Math.ceil(x - Math.max(1, x) * 2 ** -50) - 1;
  return k < 0 ? 0 : k >= n ? n - 1 : k;
}

/** Throws unless p is a number in (0, 1]. */
export function checkP(fn: string, p: number): void {
  if (typeof p !== "number" || !(p > 0 && p <= 1)) {
    throw new Error(`${fn}: p must be a number in (0, 1], got ${String(p)}`);
  }
}

/** Throws unless k is a finite number > 0. */
export function checkK(fn: string, k: number): void {
  if (typeof k !== "number" || !Number.isFinite(k) || !(k > 0)) {
    throw new Error(`${fn}: k must be a finite number > 0, got ${String(k)}`);
  }
}

/** max|w| over the group; throws on NaN or ±Infinity, which would make every threshold meaningless. */
export function maxAbs(fn: string, data: TypedData, start: number, end: number): number {
  let max = 0;
  let poison = 0; // stays 0 while every magnitude is finite: a·0 is NaN for ±∞ and NaN, never overflows
  for (let i = start; i < end; i++) {
    const a = Math.abs(data[i]!);
    poison += a * 0;
    if (a > max) max = a;
  }
  if (poison !== 0) {
    throw new Error(`${fn}: weights contain NaN or Infinity (in elements ${start}..${end - 1})`);
  }
  return max;
}

/**
 * Rearranges a[0, n) so that a[k] is the k-th smallest value (0-based) and returns it: quickselect with
 * median-of-three pivots and Hoare partitioning (which splits runs of equal values evenly), falling back to
 * a sort if the partitions keep coming out lopsided, so the worst case stays O(n log n).
 */
export function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  let budget = 2 * Math.ceil(Math.log2(n + 1)) + 8;
  while (hi > lo) {
    if (budget-- === 0) {
      a.subarray(lo, hi + 1).sort();
      return a[k]!;
    }
    if (hi === lo + 1) {
      // Two left: the median-of-three below would alias a[lo] and a[mid].
      if (a[lo]! > a[hi]!) {
        const t = a[lo]!;
        a[lo] = a[hi]!;
        a[hi] = t;
      }
      break;
    }
    const mid = (lo + hi) >>> 1;
    // Median of three into a[mid].
    let x = a[lo]!;
    let y = a[mid]!;
    let z = a[hi]!;
    if (x > y) {
      const t = x;
      x = y;
      y = t;
    }
    if (y > z) {
      const t = y;
      y = z;
      z = t;
      if (x > y) {
        const u = x;
        x = y;
        y = u;
      }
    }
    a[lo] = x;
    a[mid] = y;
    a[hi] = z;
    const pivot = y;
    let i = lo - 1;
    let j = hi + 1;
    for (;;) {
      do i++;
      while (a[i]! < pivot);
      do j--;
      while (a[j]! > pivot);
      if (i >= j) break;
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    // a[lo..j] ≤ pivot ≤ a[j+1..hi]
    if (k <= j) hi = j;
    else lo = j + 1;
  }
  return a[k]!;
}

/**
 * Exact p-quantile of |w| over the group, by selection on a scratch copy (the weights are not moved).
 * NaN if the group holds NaN or ±Infinity.
 */
export function absQuantileExact(
  data: TypedData,
  start: number,
  end: number,
  p: number,
  ws: ThresholdWorkspace,
): number {
  const n = end - start;
  if (n <= 0) return 0;
  const a = ws.ensureScratch(n);
  let poison = 0;
  for (let i = 0; i < n; i++) {
    const v = Math.abs(data[start + i]!);
    poison += v * 0;
    a[i] = v;
  }
  // NaN or ±Infinity in the group make poison NaN; report it as NaN rather than a wrong answer.
  if (poison !== 0) return Number.NaN;
  return selectKth(a, n, quantileRank(n, p));
}

/**
 * The same exact p-quantile of |w| in one pass, for p near 1: it keeps the `n − rank` largest magnitudes
 * seen so far in a small buffer sorted in decreasing order, so the answer is the buffer's last entry.
 * Most elements cost one comparison with that entry; an insertion costs at most the buffer length, so
 * the work stays linear in n for a bounded buffer (TOP_BUFFER_LIMIT). NaN if the group holds NaN or
 * ±Infinity (comparisons with NaN are all false, so a·0 is summed to notice it: NaN for ±∞ and NaN).
 */
export function absQuantileTop(
  data: TypedData,
  start: number,
  end: number,
  p: number,
  ws: ThresholdWorkspace,
): number {
  const n = end - start;
  if (n <= 0) return 0;
  const cap = n - quantileRank(n, p);
  const buf = ws.ensureScratch(cap);
  const lastSlot = cap - 1;
  let poison = 0;
  let i = start;
  for (let filled = 0; filled < cap; filled++, i++) {
    const a = Math.abs(data[i]!);
    poison += a * 0;
    let pos = filled;
    while (pos > 0 && buf[pos - 1]! < a) {
      buf[pos] = buf[pos - 1]!;
      pos--;
    }
    buf[pos] = a;
  }
  let floor = buf[lastSlot]!;
  for (; i < end; i++) {
    const a = Math.abs(data[i]!);
    poison += a * 0;
    if (a > floor) {
      let pos = lastSlot;
      while (pos > 0 && buf[pos - 1]! < a) {
        buf[pos] = buf[pos - 1]!;
        pos--;
      }
      buf[pos] = a;
      floor = buf[lastSlot]!;
    }
  }
  return poison === 0 ? buf[lastSlot]! : Number.NaN;
}

/**
 * The same exact p-quantile of |w| found through a histogram, in linear time without copying the group:
 * values are binned on [0, max|w|], the cumulative counts name the bin that holds the order statistic,
 * and a last pass selects inside that bin only. Binning is monotone in the value, so the order statistic
 * of the group is the matching order statistic of its bin and the result equals the exact one — better
 * than the one-bin error bound of a histogram alone, and what keeps trimming idempotent (a second
 * projection with the same p finds the same τ). `max` is the group's max|w| from `maxAbs`.
 */
export function absQuantileHistogram(
  data: TypedData,
  start: number,
  end: number,
  p: number,
  bins: number,
  ws: ThresholdWorkspace,
  max: number,
): number {
  const n = end - start;
  if (n <= 0 || max === 0) return 0;
  const scale = bins / max;
  // A subnormal max overflows the scale; such a group is too degenerate to care about speed.
  if (!(scale < Number.POSITIVE_INFINITY)) return absQuantileExact(data, start, end, p, ws);
  ws.ensureBins(bins);
  const counts = ws.counts;
  // Four interleaved sub-histograms, summed afterwards: consecutive values often fall in the same bin,
  // and one counter per bin would chain every increment on the previous store.
  counts.fill(0, 0, 4 * bins);
  const last = bins - 1;
  const c1 = bins;
  const c2 = 2 * bins;
  const c3 = 3 * bins;
  const end4 = start + ((n >> 2) << 2);
  let i = start;
  for (; i < end4; i += 4) {
    let b0 = (Math.abs(data[i]!) * scale) | 0;
    let b1 = (Math.abs(data[i + 1]!) * scale) | 0;
    let b2 = (Math.abs(data[i + 2]!) * scale) | 0;
    let b3 = (Math.abs(data[i + 3]!) * scale) | 0;
    if (b0 > last) b0 = last;
    if (b1 > last) b1 = last;
    if (b2 > last) b2 = last;
    if (b3 > last) b3 = last;
    counts[b0]!++;
    counts[c1 + b1]!++;
    counts[c2 + b2]!++;
    counts[c3 + b3]!++;
  }
  for (; i < end; i++) {
    let b = (Math.abs(data[i]!) * scale) | 0;
    if (b > last) b = last;
    counts[b]!++;
  }
  for (let b = 0; b < bins; b++) counts[b] = counts[b]! + counts[c1 + b]! + counts[c2 + b]! + counts[c3 + b]!;
  const k = quantileRank(n, p);
  let before = 0;
  let bin = last;
  for (let b = 0; b < bins; b++) {
    if (before + counts[b]! > k) {
      bin = b;
      break;
    }
    before += counts[b]!;
  }
  const inBin = counts[bin]!;
  const rank = k - before;
  // The largest value of the top bin is max|w| itself.
  if (bin === last && rank === inBin - 1) return max;
  const a = ws.ensureScratch(inBin);
  let m = 0;
  for (let j = start; j < end; j++) {
    const v = Math.abs(data[j]!);
    let b = (v * scale) | 0;
    if (b > last) b = last;
    if (b === bin) a[m++] = v;
  }
  return selectKth(a, inBin, rank);
}

/**
 * Groups whose answer is among their this-many largest magnitudes use the one-pass top buffer (for
 * p = 0.99 that is any group up to ~12,700 elements); the insertion cost is bounded by it.
 */
export const TOP_BUFFER_LIMIT = 128;

export interface QuantileOptions {
  /**
   * "exact": one-pass top buffer when few elements lie above the answer, else selection on a copy;
   * "histogram": bins, then selection inside one bin; "auto" (default): exact up to `exactLimit`
   * elements (and whenever the top buffer applies), histogram above. All three return the same value.
   */
  method?: QuantileMethod;
  /** Largest group that "auto" copies for selection; default DEFAULT_EXACT_LIMIT. */
  exactLimit?: number;
  /** Histogram bins; default DEFAULT_HISTOGRAM_BINS. */
  bins?: number;
}

/**
 * The p-quantile of |w| over the group by the method the options choose. Throws, naming `fn`, when the
 * group holds NaN or ±Infinity.
 */
export function absQuantile(
  fn: string,
  data: TypedData,
  start: number,
  end: number,
  p: number,
  ws: ThresholdWorkspace,
  options: QuantileOptions = {},
): number {
  const n = end - start;
  if (p === 1 || n <= 1) return maxAbs(fn, data, start, end);
  const method = options.method ?? "auto";
  const top = n - quantileRank(n, p) <= TOP_BUFFER_LIMIT;
  let tau: number;
  if (method !== "histogram" && top) {
    tau = absQuantileTop(data, start, end, p, ws);
  } else if (method === "exact" || (method === "auto" && n <= (options.exactLimit ?? DEFAULT_EXACT_LIMIT))) {
    tau = absQuantileExact(data, start, end, p, ws);
  } else {
    const max = maxAbs(fn, data, start, end);
    return absQuantileHistogram(data, start, end, p, options.bins ?? DEFAULT_HISTOGRAM_BINS, ws, max);
  }
  if (!Number.isFinite(tau)) {
    throw new Error(`${fn}: weights contain NaN or Infinity (in elements ${start}..${end - 1})`);
  }
  return tau;
}

/** τ = k·std over the group (population standard deviation, about the mean). */
export function kSigmaThreshold(data: TypedData, start: number, end: number, k: number): number {
  const n = end - start;
  if (n <= 0) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) sum += data[i]!;
  const mean = sum / n;
  let ss = 0;
  for (let i = start; i < end; i++) {
    const d = data[i]! - mean;
    ss += d * d;
  }
  return k * Math.sqrt(ss / n);
}

/**
 * τ = |median(w)| + k·1.4826·MAD(w) over the group, MAD = median(|w − median(w)|): the robust counterpart
 * of k·std, which a few outliers cannot inflate. The location term keeps the bound honest when a group is
 * not centred on zero (the trimming interval [−τ, τ] is symmetric about zero). Even-sized groups use the
 * lower median, so the result is always built from the group's own values.
 */
export function robustKSigmaThreshold(
  data: TypedData,
  start: number,
  end: number,
  k: number,
  ws: ThresholdWorkspace,
): number {
  const n = end - start;
  if (n <= 0) return 0;
  const a = ws.ensureScratch(n);
  for (let i = 0; i < n; i++) a[i] = data[start + i]!;
  const mid = (n - 1) >>> 1;
  const median = selectKth(a, n, mid);
  for (let i = 0; i < n; i++) a[i] = Math.abs(data[start + i]! - median);
  const mad = selectKth(a, n, mid);
  return Math.abs(median) + k * MAD_TO_SIGMA * mad;
}
