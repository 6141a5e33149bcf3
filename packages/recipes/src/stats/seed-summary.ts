/**
 * Mean ± sample standard deviation of one figure over seeds. With one seed the spread is unknown, not
 * zero: `std` is null then, so a table or results.json cannot show a single run as noiseless.
 */
export interface SeedSummary {
  readonly mean: number;
  /** Sample standard deviation (divides by n − 1); null for a single value. */
  readonly std: number | null;
  readonly n: number;
  readonly values: readonly number[];
}

function checkValues(fn: string, values: readonly number[]): void {
  if (!Array.isArray(values)) throw new Error(`${fn}: values must be an array of numbers`);
  if (values.length === 0) throw new Error(`${fn}: values is empty`);
  values.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new Error(`${fn}: values[${i}] must be a finite number, got ${String(v)}`);
  });
}

/** Arithmetic mean of a non-empty list of finite numbers. */
export function mean(values: readonly number[]): number {
  checkValues("mean", values);
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * Sample standard deviation, √(Σ(x − mean)² / (n − 1)) — the n − 1 because the mean is estimated from
 * the same seeds. Null for one value (n − 1 = 0: undefined, not 0).
 */
export function sampleStd(values: readonly number[]): number | null {
  checkValues("sampleStd", values);
  if (values.length < 2) return null;
  const m = mean(values);
  let squares = 0;
  for (const v of values) squares += (v - m) * (v - m);
  return Math.sqrt(squares / (values.length - 1));
}

/** Mean, sample std (null for one seed) and the values themselves, for tables and results.json. */
export function summarizeSeeds(values: readonly number[]): SeedSummary {
  checkValues("summarizeSeeds", values);
  return { mean: mean(values), std: sampleStd(values), n: values.length, values: [...values] };
}
