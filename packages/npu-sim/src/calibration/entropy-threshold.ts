/*
 * TensorRT's entropy calibration, as restated by NVIDIA's pytorch-quantization (HistogramCalibrator,
 * method "entropy") and onnxruntime's calibrate.py: given a histogram of |x| over [0, amax] in `B`
 * equal bins, choose the clipping threshold whose quantized distribution loses the least information.
 *
 * For every candidate edge i (from `quantizedBins` to B):
 *   P = the first i bins, with every count beyond them added to bin i − 1 (clipped values pile up at
 *       the threshold);
 *   Q = the first i bins merged into `quantizedBins` groups (bin j joins group ⌊j·quantizedBins / i⌋)
 *       and expanded back, each group's total spread evenly over its non-empty bins (empty bins stay
 *       empty, as quantization cannot create mass there);
 *   D(i) = KL(P‖Q) after normalising both (∞ when Q is 0 where P is not).
 * The threshold is the right edge of the best candidate, i·(amax / B); the first minimum wins ties.
 */

/**
 * KL divergence of each candidate edge i (index i − quantizedBins); exported for tests.
 *
 * Evaluated in O(bins · quantizedBins) rather than the O(bins²) of the direct loop: with P = ΣP_j and
 * Q = ΣQ_j, KL = (1/P)·Σ P_j ln P_j − ln P − (1/P)·Σ P_j ln Q_j + ln Q, where Q_j is constant on a group,
 * so the last sum is Σ_g ln(q_g)·(mass of P in g). Prefix sums of counts, of non-empty bins and of
 * c·ln c give every group total in O(1).
 */
export function entropyDivergences(counts: Float64Array, quantizedBins: number): Float64Array {
  const fn = "entropyDivergences";
  const bins = counts.length;
  if (!Number.isInteger(quantizedBins) || quantizedBins < 2 || quantizedBins > bins) {
    throw new Error(`${fn}: quantizedBins must be an integer in [2, ${bins}], got ${quantizedBins}`);
  }
  for (let j = 0; j < bins; j++) {
    const c = counts[j]!;
    if (!(c >= 0) || !Number.isFinite(c))
      throw new Error(`${fn}: counts[${j}] = ${c} must be finite and ≥ 0`);
  }
  const nq = quantizedBins;
  const out = new Float64Array(bins - nq + 1);
  // Prefix sums over bins [0, j): counts, non-empty bins, c·ln c.
  const sum = new Float64Array(bins + 1);
  const nonEmpty = new Float64Array(bins + 1);
  const cLogC = new Float64Array(bins + 1);
  for (let j = 0; j < bins; j++) {
    const c = counts[j]!;
    sum[j + 1] = sum[j]! + c;
    nonEmpty[j + 1] = nonEmpty[j]! + (c > 0 ? 1 : 0);
    cLogC[j + 1] = cLogC[j]! + (c > 0 ? c * Math.log(c) : 0);
  }
  const total = sum[bins]!;
  for (let i = nq; i <= bins; i++) {
    const tail = total - sum[i]!;
    const last = counts[i - 1]!;
    if (total === 0 || (last === 0 && tail > 0)) {
      // All mass gone, or clipped mass lands in a bin that quantization leaves empty.
      out[i - nq] = Number.POSITIVE_INFINITY;
      continue;
    }
    // Σ P_j ln P_j: the prefix, with bin i − 1 carrying the clipped tail.
    const pLast = last + tail;
    const pLogP = cLogC[i - 1]! + (pLast > 0 ? pLast * Math.log(pLast) : 0);
    // Σ P_j ln Q_j and Q over the groups; group g holds bins [ceil(g·i/nq), ceil((g+1)·i/nq)).
    let pLogQ = 0;
    let qTotal = 0;
    let lo = 0;
    for (let g = 0; g < nq; g++) {
      const hi = Math.floor(((g + 1) * i + nq - 1) / nq);
      const mass = sum[hi]! - sum[lo]!;
      const used = nonEmpty[hi]! - nonEmpty[lo]!;
      if (used > 0) {
        const lnQ = Math.log(mass / used);
        qTotal += mass;
        // P's mass in the group is the counts, plus the tail when the group holds bin i − 1.
        pLogQ += (mass + (hi === i ? tail : 0)) * lnQ;
      }
      lo = hi;
    }
    const P = total;
    out[i - nq] = Math.max(0, pLogP / P - Math.log(P) - pLogQ / P + Math.log(qTotal));
  }
  return out;
}

/** The entropy-calibrated threshold for a histogram of |x| over [0, amax] (see the file comment). */
export function entropyThreshold(counts: Float64Array, amax: number, quantizedBins: number): number {
  if (!(amax >= 0) || !Number.isFinite(amax)) {
    throw new Error(`entropyThreshold: amax must be a finite number ≥ 0, got ${amax}`);
  }
  const d = entropyDivergences(counts, quantizedBins);
  let best = 0;
  for (let k = 1; k < d.length; k++) if (d[k]! < d[best]!) best = k;
  // Every candidate infinite (a single occupied bin beyond the quantized range): keep the full range.
  if (d[best] === Number.POSITIVE_INFINITY) return amax;
  return ((best + quantizedBins) * amax) / counts.length;
}
