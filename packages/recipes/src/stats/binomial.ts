/**
 * The test set's own noise: the standard error of an accuracy measured on `samples` independent test
 * examples, √(p(1 − p) / n) (each example a Bernoulli trial that succeeds with probability p). Two
 * accuracies on the same 2,000 digits that differ by less than about two of these are not a result.
 * At p = 0 or 1 the formula gives 0; that says the estimate is at the edge, not that it is exact.
 */
export function binomialStandardError(accuracy: number, samples: number): number {
  const fn = "binomialStandardError";
  if (typeof accuracy !== "number" || !(accuracy >= 0 && accuracy <= 1))
    throw new Error(`${fn}: accuracy must be a number in [0, 1], got ${String(accuracy)}`);
  if (!Number.isInteger(samples) || samples < 1)
    throw new Error(`${fn}: samples must be an integer ≥ 1, got ${String(samples)}`);
  return Math.sqrt((accuracy * (1 - accuracy)) / samples);
}
