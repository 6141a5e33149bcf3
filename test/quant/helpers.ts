import { type GridSpec, gridSpec, type QParams, ROUNDING_MODES, type RoundingMode } from "@quant-trim/quant";
import type { Rng } from "@quant-trim/tensor";
import fc from "fast-check";

/** Every grid the properties run over: the full product of the layout and convention choices. */
export function allGridCombos(): GridSpec[] {
  const specs: GridSpec[] = [];
  for (const bits of [8, 4])
    for (const signed of [true, false])
      for (const symmetric of [true, false])
        for (const narrowRange of [false, true])
          for (const granularity of ["per-tensor", "per-channel"] as const)
            for (const rounding of ROUNDING_MODES)
              for (const scaleApplication of ["divide", "multiply-reciprocal"] as const)
                for (const scaleConstraint of ["float", "power-of-two"] as const)
                  specs.push(
                    gridSpec({
                      bits,
                      signed,
                      symmetric,
                      narrowRange,
                      granularity,
                      axis: 1, // data is generated as [outer, channels, inner]
                      rounding,
                      scaleApplication,
                      scaleConstraint,
                    }),
                  );
  return specs;
}

export function describeSpec(s: GridSpec): string {
  return `${s.signed ? "int" : "uint"}${s.bits} ${s.symmetric ? "sym" : "asym"}${s.narrowRange ? " narrow" : ""} ${s.granularity} ${s.rounding} ${s.scaleApplication} ${s.scaleConstraint}`;
}

/** Run a property for one spec, labelling any failure with the spec. */
export function assertForSpec<T>(
  spec: GridSpec,
  arb: fc.Arbitrary<T>,
  check: (v: T) => void,
  numRuns: number,
): void {
  try {
    fc.assert(fc.property(arb, check), { numRuns });
  } catch (e) {
    const cause = (e as Error).cause;
    const detail = cause instanceof Error ? `\nCaused by: ${cause.message}` : "";
    throw new Error(`[${describeSpec(spec)}] ${(e as Error).message}${detail}`);
  }
}

export const float32In = (lo: number, hi: number) =>
  fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true });

/** A shape [outer, channels, inner] and data of that size. */
export function shapedData(maxAbs = 8): fc.Arbitrary<{ shape: number[]; x: Float32Array }> {
  return fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }))
    .chain(([a, c, k]) =>
      fc
        .array(float32In(-maxAbs, maxAbs), { minLength: a * c * k, maxLength: a * c * k })
        .map((xs) => ({ shape: [a, c, k], x: Float32Array.from(xs) })),
    );
}

/** Range of integers by the textbook definition (independent of the package's qRange). */
export function expectedRange(spec: GridSpec): { qmin: number; qmax: number } {
  const b = spec.reduceRange ? spec.bits - 1 : spec.bits;
  const levels = 2 ** b;
  const qmin = spec.signed ? -levels / 2 : 0;
  return { qmin: qmin + (spec.narrowRange ? 1 : 0), qmax: spec.signed ? levels / 2 - 1 : levels - 1 };
}

/** Rounding by comparing the distances to the two neighbouring integers. */
export function naiveRound(v: number, mode: RoundingMode, rng?: Rng): number {
  // The kernels draw one number per element, whatever the value: so does this reference.
  const u = mode === "stochastic" ? rng!.nextFloat32() : 0;
  if (!Number.isFinite(v)) return v;
  const lo = Math.floor(v);
  const hi = Math.ceil(v);
  if (lo === hi) return lo;
  if (mode === "floor") return lo;
  if (mode === "stochastic") return u >= hi - v ? hi : lo;
  const dLo = v - lo;
  const dHi = hi - v;
  if (dLo < dHi) return lo;
  if (dHi < dLo) return hi;
  if (mode === "half-even") return lo % 2 === 0 ? lo : hi;
  if (mode === "half-away") return v > 0 ? hi : lo;
  return hi; // half-up
}

/** Channel of every flat index for a row-major shape and axis (per-tensor: all 0). */
export function channelOfIndex(shape: readonly number[], spec: GridSpec): Int32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Int32Array(n);
  if (spec.granularity === "per-tensor") return out;
  const axis = spec.axis < 0 ? spec.axis + shape.length : spec.axis;
  for (let i = 0; i < n; i++) {
    let rest = i;
    const idx: number[] = [];
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
    }
    out[i] = idx[axis]!;
  }
  return out;
}

/** Element-by-element quantization straight from the formula, for comparison with the kernels. */
export function naiveQuantize(
  x: Float32Array,
  qp: QParams,
  spec: GridSpec,
  shape: readonly number[],
  rng?: Rng,
): Int32Array {
  const { qmin, qmax } = expectedRange(spec);
  const ch = channelOfIndex(shape, spec);
  const out = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const s = qp.scale[ch[i]!]!;
    const zp = qp.zeroPoint[ch[i]!]!;
    const v =
      spec.scaleApplication === "divide" ? Math.fround(x[i]! / s) : Math.fround(x[i]! * Math.fround(1 / s));
    out[i] = Math.min(qmax, Math.max(qmin, naiveRound(v, spec.rounding, rng) + zp));
  }
  return out;
}
