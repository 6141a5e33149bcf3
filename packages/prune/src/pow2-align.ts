import { type GridSpec, qRange } from "@quant-trim/quant";

/**
 * Pow2-aligned trimming [ours]. A backend with power-of-two scales rounds the scale max/qmax *up* to the
 * next power of two: a trimmed max whose max/qmax lies just above 2^k gets the scale 2^(k+1) and uses only
 * about half of its codes. Snapping τ down to qmax·2^k (the largest such value ≤ τ) makes the trimmed
 * max land exactly on a power-of-two scale, where every code is used.
 */

/**
 * The largest qmax·2^k that is ≤ `tau` (0 stays 0). qmax·2^k is exact in float32 for any integer qmax
 * below 2^24, so a float32 weight clamped to it has max/qmax exactly 2^k.
 */
export function alignThresholdPow2(tau: number, qmax: number): number {
  if (!(tau >= 0) || !Number.isFinite(tau))
    throw new Error(`alignThresholdPow2: tau must be a finite number ≥ 0, got ${String(tau)}`);
  checkPow2Qmax("alignThresholdPow2", qmax);
  if (tau === 0) return 0;
  let k = Math.floor(Math.log2(tau / qmax));
  // log2 may be off by one ulp at exact powers of two; settle k on the exact products.
  while (qmax * 2 ** k > tau) k--;
  while (qmax * 2 ** (k + 1) <= tau) k++;
  return qmax * 2 ** k;
}

/** Throws unless qmax is an integer in [1, 2^24) (the grids' largest code; exact in float32). */
export function checkPow2Qmax(fn: string, qmax: unknown): asserts qmax is number {
  if (typeof qmax !== "number" || !Number.isInteger(qmax) || qmax < 1 || qmax >= 2 ** 24)
    throw new Error(`${fn}: alignPow2 qmax must be an integer in [1, 2^24), got ${String(qmax)}`);
}

/**
 * The qmax a pruner aligns to: `true` takes the layer grid's largest code, a number is used as it is
 * (e.g. 127 for an INT8 power-of-two backend while the training grid is INT4), false/undefined turns
 * alignment off (null).
 */
export function resolvePow2Qmax(fn: string, option: unknown, grid: GridSpec | undefined): number | null {
  if (option === undefined || option === false) return null;
  if (option === true) {
    if (!grid) throw new Error(`${fn}: alignPow2: true needs a grid (its qmax); pass a number instead`);
    return qRange(grid).qmax;
  }
  if (typeof option !== "number")
    throw new Error(`${fn}: alignPow2 must be a boolean or a qmax number, got ${JSON.stringify(option)}`);
  checkPow2Qmax(fn, option);
  return option;
}
