import type { Rng } from "@quant-trim/tensor";
import type { NearestRounding, RoundingMode } from "./spec.js";

/*
 * Rounding of a real value to an integer, exact for every double: no `v + 0.5` whose rounding turns
 * 0.49999999999999994 into 1. The distance `v − floor(v)` may round (−1e-300 − (−1) gives 1), but
 * never across 0.5, so comparing it with 0.5 is exact; `v − trunc(v)` is always exact. `Math.round`
 * is none of these (it is half-up, the mode most systems do NOT use). Non-finite inputs come back
 * unchanged (±Infinity, NaN), and results are never −0.
 */

/** Ties to the even integer (IEEE default; PyTorch, ONNX, onnxruntime). */
export function roundHalfEven(v: number): number {
  const r = Math.floor(v);
  const d = v - r;
  if (d > 0.5 || (d === 0.5 && r % 2 !== 0)) return r + 1;
  return r + 0; // + 0 turns -0 into 0; ±Infinity and NaN pass through
}

/** Ties away from zero (C `std::round`; TFLite). */
export function roundHalfAway(v: number): number {
  if (!Number.isFinite(v)) return v;
  const t = Math.trunc(v);
  return t + Math.trunc(2 * (v - t)) + 0; // 2(v − t) ∈ (−2, 2): ±1 exactly when |v − t| ≥ 0.5
}

/** Ties toward +∞, `floor(v + 0.5)` computed exactly (TF FakeQuant, gemmlowp, JavaScript `Math.round`). */
export function roundHalfUp(v: number): number {
  const r = Math.floor(v);
  return v - r >= 0.5 ? r + 1 : r + 0;
}

/** Toward −∞. */
export function roundFloor(v: number): number {
  return Math.floor(v) + 0;
}

/**
 * Up with probability equal to the fractional part, so the expectation is `v` (unbiased):
 * `floor(v + u)` with `u = rng.nextFloat32()` (24 random bits), evaluated exactly as the array kernels
 * evaluate it, so scalar and array code agree element by element. For every float32 `v` (what the grid
 * rounds) the double sum never rounds across an integer, so this is the exact floor of v + u. (A
 * comparison form such as `u ≥ 1 − (v − floor v)` is not: for v = −1e-30 it rounds 1 − 1e-30 to 1 and
 * then always goes up.) Integers are returned unchanged.
 */
export function roundStochastic(v: number, rng: Rng): number {
  return Math.floor(v + rng.nextFloat32()) + 0;
}

/** Round with a named deterministic nearest mode (used for zero points). */
export function roundNearest(v: number, mode: NearestRounding): number {
  if (mode === "half-even") return roundHalfEven(v);
  if (mode === "half-away") return roundHalfAway(v);
  return roundHalfUp(v);
}

/** Round with any grid rounding mode; `stochastic` requires `rng`. */
export function roundWith(v: number, mode: RoundingMode, rng?: Rng): number {
  switch (mode) {
    case "half-even":
      return roundHalfEven(v);
    case "half-away":
      return roundHalfAway(v);
    case "half-up":
      return roundHalfUp(v);
    case "floor":
      return roundFloor(v);
    case "stochastic":
      if (rng === undefined) throw new Error("roundWith: stochastic rounding needs a seeded Rng");
      return roundStochastic(v, rng);
    default:
      throw new Error(`roundWith: unknown rounding mode ${JSON.stringify(mode)}`);
  }
}
