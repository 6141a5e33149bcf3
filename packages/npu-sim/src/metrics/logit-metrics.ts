/*
 * Metrics of an integer model against its float original, on row-major [n, classes] logits. Each one
 * answers a different question: accuracy (is it still right?), expected calibration error (are its
 * confidences still honest?), top-1 agreement (does it make the same decisions, right or wrong?),
 * logit cosine and KL (how close are the outputs themselves?).
 */

function checkLogits(fn: string, name: string, logits: ArrayLike<number>, classes: number): number {
  if (!Number.isInteger(classes) || classes < 1)
    throw new Error(`${fn}: classes must be an integer ≥ 1, got ${classes}`);
  if (logits === null || typeof logits !== "object" || typeof logits.length !== "number") {
    throw new Error(`${fn}: ${name} must be an array of logits`);
  }
  if (logits.length % classes !== 0) {
    throw new Error(`${fn}: ${name} has ${logits.length} values, not rows of ${classes}`);
  }
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i]!)) throw new Error(`${fn}: ${name}[${i}] = ${logits[i]} is not finite`);
  }
  return logits.length / classes;
}

function checkPair(fn: string, a: ArrayLike<number>, b: ArrayLike<number>, classes: number): number {
  const n = checkLogits(fn, "reference", a, classes);
  const m = checkLogits(fn, "test", b, classes);
  if (n !== m) throw new Error(`${fn}: reference has ${n} rows but test has ${m}`);
  if (n === 0) throw new Error(`${fn}: no rows to compare`);
  return n;
}

/** The first maximum of each row. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): Int32Array {
  const n = checkLogits("argmaxRows", "logits", logits, classes);
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[r * classes + c]! > logits[r * classes + best]!) best = c;
    out[r] = best;
  }
  return out;
}

/** Fraction of rows whose top class is the label. */
export function accuracy(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  const top = argmaxRows(logits, classes);
  if (labels.length !== top.length) {
    throw new Error(`accuracy: ${top.length} rows of logits but ${labels.length} labels`);
  }
  if (top.length === 0) throw new Error("accuracy: no rows");
  let hit = 0;
  for (let i = 0; i < top.length; i++) if (top[i] === labels[i]) hit++;
  return hit / top.length;
}

/** Fraction of rows on which both models pick the same top class. */
export function top1Agreement(
  reference: ArrayLike<number>,
  test: ArrayLike<number>,
  classes: number,
): number {
  checkPair("top1Agreement", reference, test, classes);
  const a = argmaxRows(reference, classes);
  const b = argmaxRows(test, classes);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** Softmax of one row into `out` (max-shifted, so large logits do not overflow). */
function softmaxRow(logits: ArrayLike<number>, offset: number, classes: number, out: Float64Array): void {
  let max = -Infinity;
  for (let c = 0; c < classes; c++) max = Math.max(max, logits[offset + c]!);
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const e = Math.exp(logits[offset + c]! - max);
    out[c] = e;
    sum += e;
  }
  for (let c = 0; c < classes; c++) out[c]! /= sum;
}

/**
 * Expected calibration error: rows binned by their top probability into `bins` equal bins of [0, 1];
 * ECE = Σ_b (n_b / n)·|accuracy_b − mean confidence_b| (Guo et al., 2017; 15 bins by default).
 */
export function expectedCalibrationError(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
  bins = 15,
): number {
  const fn = "expectedCalibrationError";
  const n = checkLogits(fn, "logits", logits, classes);
  if (labels.length !== n) throw new Error(`${fn}: ${n} rows of logits but ${labels.length} labels`);
  if (n === 0) throw new Error(`${fn}: no rows`);
  if (!Number.isInteger(bins) || bins < 1)
    throw new Error(`${fn}: bins must be a positive integer, got ${bins}`);
  const count = new Float64Array(bins);
  const correct = new Float64Array(bins);
  const confidence = new Float64Array(bins);
  const p = new Float64Array(classes);
  for (let r = 0; r < n; r++) {
    softmaxRow(logits, r * classes, classes, p);
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[c]! > p[best]!) best = c;
    const conf = p[best]!;
    const b = Math.min(bins - 1, Math.floor(conf * bins));
    count[b]!++;
    confidence[b]! += conf;
    if (best === labels[r]) correct[b]!++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    if (count[b] === 0) continue;
    ece += (count[b]! / n) * Math.abs(correct[b]! / count[b]! - confidence[b]! / count[b]!);
  }
  return ece;
}

/** Mean over rows of the cosine similarity of the two logit vectors (1 for a zero pair, 0 if one is zero). */
export function logitCosine(reference: ArrayLike<number>, test: ArrayLike<number>, classes: number): number {
  const n = checkPair("logitCosine", reference, test, classes);
  let total = 0;
  for (let r = 0; r < n; r++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let c = 0; c < classes; c++) {
      const a = reference[r * classes + c]!;
      const b = test[r * classes + c]!;
      ab += a * b;
      aa += a * a;
      bb += b * b;
    }
    total += aa === 0 && bb === 0 ? 1 : aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
  }
  return total / n;
}

/** Mean over rows of KL(softmax(reference) ‖ softmax(test)), in nats. */
export function logitKl(reference: ArrayLike<number>, test: ArrayLike<number>, classes: number): number {
  const n = checkPair("logitKl", reference, test, classes);
  const p = new Float64Array(classes);
  const q = new Float64Array(classes);
  let total = 0;
  for (let r = 0; r < n; r++) {
    softmaxRow(reference, r * classes, classes, p);
    softmaxRow(test, r * classes, classes, q);
    let kl = 0;
    for (let c = 0; c < classes; c++) {
      if (p[c]! > 0) kl += p[c]! * Math.log(p[c]! / Math.max(q[c]!, Number.MIN_VALUE));
    }
    total += Math.max(0, kl);
  }
  return total / n;
}

/** Largest |reference − test| over every element. */
export function maxAbsDifference(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  if (reference.length !== test.length) {
    throw new Error(`maxAbsDifference: reference has ${reference.length} values but test has ${test.length}`);
  }
  let m = 0;
  for (let i = 0; i < reference.length; i++) m = Math.max(m, Math.abs(reference[i]! - test[i]!));
  return m;
}

/**
 * Signal-to-quantization-noise ratio in dB: 10·log10(Σ r² / Σ (r − t)²). +Infinity when the two are
 * identical, −Infinity when the reference is all zeros but the test is not.
 */
export function sqnrDb(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  if (reference.length !== test.length) {
    throw new Error(`sqnrDb: reference has ${reference.length} values but test has ${test.length}`);
  }
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const e = r - test[i]!;
    signal += r * r;
    noise += e * e;
  }
  if (noise === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10(signal / noise);
}
