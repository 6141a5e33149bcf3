/*
 * Reference implementations for the npu-sim tests, written straight from the C++ semantics the
 * integer-semantics reference restates, in BigInt (exact 64-bit and wider integers) so that they share
 * no trick with the limb arithmetic under test. Slow on purpose; tests only.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

/** The §8 vectors, read from the project's own fixture (the copy under test/npu-sim/fixtures, with its provenance note). */
export function loadVectors(): IntegerSemanticsVectors {
  const url = new URL("./fixtures/integer-semantics-vectors.json", import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as IntegerSemanticsVectors;
}

export interface IntegerSemanticsVectors {
  quantizeMultiplier: { expr: string; value: number; multiplier: number; shift: number }[];
  saturatingRoundingDoublingHighMul: { a: number; b: number; result: number }[];
  roundingDivideByPot: { x: number; exponent: number; result: number }[];
  doubleVsSingleRounding: {
    multiplier: number;
    shift: number;
    rows: { x: number; double: number; single: number }[];
  };
  shiftZeroAgreement: {
    multiplier: number;
    shift: number;
    xFrom: number;
    xTo: number;
    examples: { x: number; result: number }[];
  };
  doubleVsSingleSweep: {
    real: number;
    multiplier: number;
    shift: number;
    xFrom: number;
    xTo: number;
    differing: number;
  };
  int64Variant: {
    multiplier: number;
    shift: number;
    reducedMultiplier: number;
    rows: { x: number; result: number }[];
  };
  floatRequantVsFixedPoint: {
    effectiveScale: number;
    zeroPoint: number;
    rows: { acc: number; onnxruntime: number; tflite: number }[];
  };
  tieRounding: {
    scale: number;
    x: number[];
    pytorch: number[];
    onnx: number[];
    tflite: number[];
    tfFakeQuant: number[];
  };
  reciprocalVsDivide: { x: number; scale: number; multiplyReciprocal: number; divide: number };
  dynamicQuantizeLinear: { x: number[]; scale: number; zeroPoint: number; y: number[] };
}

const toInt32 = (v: bigint): number => Number(BigInt.asIntN(32, v));

/** gemmlowp SaturatingRoundingDoublingHighMul, as the C++ writes it (nudge, truncating division). */
export function refSrdhm(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const p = BigInt(a) * BigInt(b);
  const nudge = p >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((p + nudge) / (1n << 31n)); // BigInt division truncates toward zero, as C++ does
}

/** gemmlowp RoundingDivideByPOT. */
export function refRdbpot(x: number, exponent: number): number {
  const X = BigInt(x);
  const e = BigInt(exponent);
  const mask = (1n << e) - 1n;
  const remainder = X & mask;
  const threshold = (mask >> 1n) + (X < 0n ? 1n : 0n);
  return Number((X >> e) + (remainder > threshold ? 1n : 0n));
}

/** TFLite MultiplyByQuantizedMultiplier, default (double rounding) build; the left shift wraps as int32. */
export function refMbqmDouble(x: number, multiplier: number, shift: number): number {
  const left = Math.max(shift, 0);
  const right = shift > 0 ? 0 : -shift;
  const shifted = toInt32(BigInt(x) << BigInt(left));
  return refRdbpot(refSrdhm(shifted, multiplier), right);
}

/** TFLite MultiplyByQuantizedMultiplier under TFLITE_SINGLE_ROUNDING; the int64 result is cast to int32. */
export function refMbqmSingle(x: number, multiplier: number, shift: number): number {
  const n = BigInt(31 - shift);
  const r = (BigInt(x) * BigInt(multiplier) + (1n << (n - 1n))) >> n;
  return toInt32(r);
}

/** TFLite's int64-accumulator MultiplyByQuantizedMultiplier. */
export function refMbqmInt64(x: number, multiplier: number, shift: number): number {
  const m16 = multiplier < 0x7fff0000 ? (BigInt(multiplier) + (1n << 15n)) >> 16n : 0x7fffn;
  const n = BigInt(15 - shift);
  return Number((BigInt(x) * m16 + (1n << (n - 1n))) >> n);
}

/** A finite double as mantissa · 2^exponent with an integer mantissa (exact). */
export function decomposeDouble(v: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (biased === 0) return { mantissa: sign * fraction, exponent: -1074 };
  return { mantissa: sign * (fraction | (1n << 52n)), exponent: biased - 1075 };
}

function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/**
 * TFLite QuantizeMultiplier from the exact binary value of `real`: shift = the exponent that puts
 * real/2^shift in [0.5, 1), multiplier = round_half_away(real · 2^(31 − shift)), renormalised when it
 * reaches 2^31, flushed to (0, 0) when the shift falls below −31.
 */
export function refQuantizeMultiplier(real: number): { multiplier: number; shift: number } {
  if (real === 0) return { multiplier: 0, shift: 0 };
  const { mantissa, exponent } = decomposeDouble(real);
  let shift = bitLength(mantissa) + exponent; // real ∈ [2^(shift−1), 2^shift)
  const k = exponent + 31 - shift; // real·2^(31−shift) = mantissa·2^k
  let m: bigint;
  if (k >= 0) m = mantissa << BigInt(k);
  else m = (mantissa + (1n << BigInt(-k - 1))) >> BigInt(-k); // positive: half away = half up
  if (m === 1n << 31n) {
    m = 1n << 30n;
    shift += 1;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  return { multiplier: Number(m), shift };
}

/**
 * Round the exact value `num · 2^exp` to float32, ties to even (normal range only, which is all the
 * tests need).
 */
export function roundToFloat32(num: bigint, exp: number): number {
  if (num === 0n) return 0;
  const negative = num < 0n;
  let mag = negative ? -num : num;
  const len = bitLength(mag);
  if (len > 24) {
    const drop = BigInt(len - 24);
    const q = mag >> drop;
    const rem = mag - (q << drop);
    const half = 1n << (drop - 1n);
    mag = rem > half || (rem === half && (q & 1n) === 1n) ? q + 1n : q;
    exp += len - 24;
  }
  const value = Number(mag) * 2 ** exp;
  return negative ? -value : value;
}

/** The exact float32 fma `fp32(x·r + t)` by BigInt arithmetic. */
export function refFmaF32(x: number, r: number, t: number): number {
  const X = decomposeDouble(x);
  const R = decomposeDouble(r);
  const T = decomposeDouble(t);
  const pe = X.exponent + R.exponent;
  const e = Math.min(pe, T.exponent);
  const p = (X.mantissa * R.mantissa) << BigInt(pe - e);
  const t2 = T.mantissa << BigInt(T.exponent - e);
  return roundToFloat32(p + t2, e);
}

/** Round half to even, written differently from the code under test (remainder test on halves). */
export function refRoundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** `x · 2^k` for int32 x, rounded with the given tie rule, by exact rational arithmetic. */
export function refShift(x: number, k: number, rounding: "half-up" | "half-away" | "half-even"): number {
  if (k >= 0) return Number(BigInt(x) << BigInt(k));
  const X = BigInt(x);
  const d = 1n << BigInt(-k);
  // floor division
  let q = X / d;
  if (X % d !== 0n && X < 0n) q -= 1n;
  const twiceRem = 2n * (X - q * d); // in [0, 2d)
  if (twiceRem > d) return Number(q + 1n);
  if (twiceRem < d) return Number(q);
  if (rounding === "half-up") return Number(q + 1n);
  if (rounding === "half-away") return Number(X < 0n ? q : q + 1n);
  return Number(q % 2n === 0n ? q : q + 1n);
}

/** The requantized value before zero point and clamp, from the BigInt/exact references. */
export function refRequant(
  mode: "gemmlowp" | "single-rounding" | "float32" | "power-of-two",
  acc: number,
  scale: number,
  rounding: "half-up" | "half-away" | "half-even" = "half-up",
): number {
  if (mode === "gemmlowp" || mode === "single-rounding") {
    const q = refQuantizeMultiplier(scale);
    return mode === "gemmlowp"
      ? refMbqmDouble(acc, q.multiplier, q.shift)
      : refMbqmSingle(acc, q.multiplier, q.shift);
  }
  if (mode === "float32") return refRoundHalfEven(Math.fround(Math.fround(acc) * Math.fround(scale)));
  return refShift(acc, Math.log2(scale), rounding);
}

/* Arbitraries. */

/** Any int32, with the extremes and small values drawn often. */
export const int32 = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: INT32_MIN, max: INT32_MAX }) },
    { weight: 2, arbitrary: fc.integer({ min: -1000, max: 1000 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        INT32_MIN,
        INT32_MIN + 1,
        INT32_MAX,
        INT32_MAX - 1,
        0,
        1,
        -1,
        2 ** 30,
        -(2 ** 30),
      ),
    },
  );

/** Quantized multipliers as quantizeMultiplier produces them ([2^30, 2^31) or 0), and a few others. */
export const multiplier = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 2 ** 30, max: INT32_MAX }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: INT32_MAX }) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 2 ** 30, INT32_MAX) },
  );
