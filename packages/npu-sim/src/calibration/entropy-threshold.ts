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

/** KL divergence of each candidate edge i (index i − quantizedBins); exported for tests. */
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
  const out = new Float64Array(bins - quantizedBins + 1);
  // tail[i] = Σ_{j ≥ i} counts[j]
  const tail = new Float64Array(bins + 1);
  for (let j = bins - 1; j >= 0; j--) tail[j] = tail[j + 1]! + counts[j]!;
  const groupTotal = new Float64Array(quantizedBins);
  const groupNonEmpty = new Float64Array(quantizedBins);
  for (let i = quantizedBins; i <= bins; i++) {
    groupTotal.fill(0);
    groupNonEmpty.fill(0);
    for (let j = 0; j < i; j++) {
      const c = counts[j]!;
      if (c === 0) continue;
      const g = Math.floor((j * quantizedBins) / i);
      groupTotal[g]! += c;
      groupNonEmpty[g]!++;
    }
    const pTotal = tail[0]!; // the clipped mass moves into bin i − 1, so P keeps every count
    let qTotal = 0;
    for (let g = 0; g < quantizedBins; g++) qTotal += groupTotal[g]!;
    if (pTotal === 0 || qTotal === 0) {
      out[i - quantizedBins] = Number.POSITIVE_INFINITY;
      continue;
    }
    let kl = 0;
    for (let j = 0; j < i; j++) {
      const p = counts[j]! + (j === i - 1 ? tail[i]! : 0);
      if (p === 0) continue;
      const c = counts[j]!;
      if (c === 0) {
        kl = Number.POSITIVE_INFINITY;
        break;
      }
      const g = Math.floor((j * quantizedBins) / i);
      const q = groupTotal[g]! / groupNonEmpty[g]!;
      const pn = p / pTotal;
      kl += pn * Math.log(pn / (q / qTotal));
    }
    out[i - quantizedBins] = kl;
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
