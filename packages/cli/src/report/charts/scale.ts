/** A linear map from data values to pixels. */
export interface LinearScale {
  (value: number): number;
  readonly domain: readonly [number, number];
}

export function linearScale(
  domain: readonly [number, number],
  range: readonly [number, number],
): LinearScale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  // A flat domain (every value equal) maps to the middle of the range instead of dividing by zero.
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const f = ((v: number) => (d1 === d0 ? (r0 + r1) / 2 : r0 + (v - d0) * k)) as LinearScale;
  Object.defineProperty(f, "domain", { value: [d0, d1] as const });
  return f;
}

/** A round step (1, 2 or 5 × 10^k) that cuts `span` into about `target` intervals. */
export function niceStep(span: number, target = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  // toPrecision: 5 × 1e-5 is 0.00005000000000000001 in binary floating point.
  return Number(((m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * power).toPrecision(12));
}

/** Decimals needed to print multiples of `step` exactly. */
export function stepDecimals(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** [lo, hi] widened outwards to multiples of a nice step (a flat range gets some room). */
export function niceDomain(lo: number, hi: number, target = 5): [number, number] {
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, target);
  // Multiples of the step printed to its decimals: 91 × 0.01 is 0.9100000000000001 otherwise.
  const clean = (v: number) => Number(v.toFixed(Math.min(100, stepDecimals(step))));
  return [clean(Math.floor(lo / step + 1e-9) * step), clean(Math.ceil(hi / step - 1e-9) * step)];
}

/** Multiples of a nice step inside [lo, hi], rounded so that 0.1 + 0.2 prints as 0.3. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  const step = niceStep(hi - lo, target);
  const digits = stepDecimals(step);
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++)
    ticks.push(Number((k * step).toFixed(digits)));
  return ticks;
}
