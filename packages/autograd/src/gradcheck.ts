import type { Tensor } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { noGrad, Variable } from "./variable.js";

export interface GradcheckOptions {
  /** Finite-difference step (float64). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed of the random output weighting. */
  seed?: number;
  /** Inputs (by index) that are constants: no gradient is checked for them. */
  constants?: readonly number[];
}

export interface GradcheckReport {
  ok: boolean;
  /** Largest |analytic − numeric| − (atol + rtol·|numeric|) seen; ≤ 0 when ok. */
  worstExcess: number;
  maxAbsError: number;
  failures: string[];
}

/**
 * Compare an op's analytic gradients with central finite differences, in float64. A non-scalar output
 * is reduced to a scalar with fixed random weights r, so the check covers the whole Jacobian-vector
 * product: L(x) = Σ r ⊙ f(x).
 */
export function gradcheck(
  fn: (...inputs: Variable[]) => Variable,
  inputs: readonly Tensor[],
  opts: GradcheckOptions = {},
): GradcheckReport {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const constants = new Set(opts.constants ?? []);
  const xs = inputs.map((t) => t.copy("float64"));
  const vars = xs.map((t, i) => new Variable(t, { requiresGrad: !constants.has(i) }));
  const out = fn(...vars);
  const rng = new T.Rng(opts.seed ?? 1234);
  const r = T.rand(out.shape, rng, -1, 1, "float64");
  out.backward(r);
  const weighted = (): number =>
    noGrad(() => {
      const y = fn(...xs.map((t) => new Variable(t))).data.values();
      const rv = r.values();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += rv[i]! * y[i]!;
      return s;
    });
  const failures: string[] = [];
  let worstExcess = -Infinity;
  let maxAbsError = 0;
  xs.forEach((x, k) => {
    if (constants.has(k)) return;
    const data = x.data;
    const analytic = vars[k]!.grad ? vars[k]!.grad!.values() : new Float64Array(x.size);
    for (let i = 0; i < data.length; i++) {
      const orig = data[i]!;
      data[i] = orig + eps;
      const up = weighted();
      data[i] = orig - eps;
      const down = weighted();
      data[i] = orig;
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(analytic[i]! - numeric);
      maxAbsError = Math.max(maxAbsError, err);
      const excess = err - (atol + rtol * Math.abs(numeric));
      worstExcess = Math.max(worstExcess, excess);
      if (!(excess <= 0) && failures.length < 10) {
        failures.push(`input ${k} element ${i}: analytic ${analytic[i]} vs numeric ${numeric}`);
      }
    }
  });
  return { ok: failures.length === 0, worstExcess, maxAbsError, failures };
}
