import { roundHalfAway } from "@quant-trim/quant";

/*
 * The fixed-point arithmetic of gemmlowp and TFLite, exact for every int32 input.
 *
 * An int32 × int32 product needs up to 63 bits, more than a double's 53, so the rounded double product
 * alone cannot say where the product's fractional part lies. `Math.imul` supplies the exact low 32 bits;
 * the double product, accurate to 2^9, supplies the high part, which is an exact integer once the low
 * bits are subtracted (see `floorProductOver2p31`). Together they give every bit of the 64-bit product
 * with a handful of int32 and double operations. No BigInt, no allocation: these run once per output
 * element.
 */

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
const TWO_P15 = 32768;
const TWO_P31 = 2147483648;

/** 2^−32: multiplying by it is exact and, unlike a division, cheap. */
const INV_P32 = 1 / 4294967296;

/**
 * `floor(a·b / 2^31)` for int32 `a`, `b`; the result lies in [−2^31, 2^31]. `Math.imul` gives the exact
 * low 32 bits `low` of the product p, so p = k·2^32 + low for an integer k. The double product is within
 * 2^9 of p, so `(a·b − low) / 2^32` lies within 2^−22 of k and rounds to it exactly. Then
 * floor(p / 2^31) = 2k + floor(low / 2^31), the last term being low's sign bit.
 */
export function floorProductOver2p31(a: number, b: number): number {
  const low = Math.imul(a, b);
  const k = Math.round((a * b - low) * INV_P32);
  return 2 * k + (low >> 31);
}

/** Bit 30 of the two's-complement product a·b: 1 when the part below 2^31 is at least one half. */
function productBit30(a: number, b: number): number {
  return (Math.imul(a, b) >>> 30) & 1;
}

function checkInt32(fn: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
    throw new Error(`${fn}: ${name} must be an int32 integer, got ${v}`);
  }
}

/**
 * gemmlowp `SaturatingRoundingDoublingHighMul` (ARM `VQRDMULH`): `round(a·b / 2^31)` with ties toward
 * +∞; (INT32_MIN, INT32_MIN), the only result outside int32, saturates to INT32_MAX.
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  checkInt32("saturatingRoundingDoublingHighMul", "a", a);
  checkInt32("saturatingRoundingDoublingHighMul", "b", b);
  return srdhm(a, b);
}

/** Unchecked `saturatingRoundingDoublingHighMul` for int32 arguments (the hot loops). */
export function srdhm(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  // floor((p + 2^30) / 2^31) = floor(p / 2^31) + [the low 31 bits ≥ 2^30]
  return floorProductOver2p31(a, b) + productBit30(a, b);
}

/**
 * gemmlowp `RoundingDivideByPOT`: `round(x / 2^exponent)` with ties away from zero, for int32 `x` and
 * an exponent in [0, 31].
 */
export function roundingDivideByPot(x: number, exponent: number): number {
  checkInt32("roundingDivideByPot", "x", x);
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > 31) {
    throw new Error(`roundingDivideByPot: exponent must be an integer in [0, 31], got ${exponent}`);
  }
  return rdbpot(x, exponent);
}

/** Unchecked `roundingDivideByPot` (int32 x, exponent in [0, 31]). */
export function rdbpot(x: number, exponent: number): number {
  const mask = ((1 << exponent) - 1) | 0; // exponent 31: (−2^31 − 1) | 0 = 2^31 − 1, still right
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** A real multiplier as `multiplier · 2^(shift − 31)`, multiplier in [2^30, 2^31) (or 0 for a zero real). */
export interface QuantizedMultiplier {
  readonly multiplier: number;
  readonly shift: number;
}

const frexpView = new DataView(new ArrayBuffer(8));

/**
 * `frexp` for a finite positive double: `v = fraction · 2^exponent`, fraction in [0.5, 1). Read from the
 * bits, so it is exact for subnormals too (a log2 estimate is not).
 */
function frexpPositive(v: number): { fraction: number; exponent: number } {
  let bias = 0;
  if (v < 2 ** -1022) {
    v *= 2 ** 64; // subnormal: make it normal first (exact)
    bias = -64;
  }
  frexpView.setFloat64(0, v);
  const hi = frexpView.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  frexpView.setUint32(0, (hi & 0x800fffff) | (1022 << 20)); // same mantissa, exponent of [0.5, 1)
  return { fraction: frexpView.getFloat64(0), exponent: biased - 1022 + bias };
}

/**
 * TFLite `QuantizeMultiplier` (the default build): `real ≈ multiplier · 2^(shift − 31)` with the
 * multiplier in [2^30, 2^31). Follows the C++ steps exactly: frexp, round the 31-bit fraction half away
 * from zero, renormalise a fraction that rounded up to 2^31 (1 − 2^−40 gives (2^30, 1)), then flush
 * reals whose shift fell below −31 to (0, 0). Reals ≥ 1 give positive shifts; nothing caps them here
 * (the multiply functions accept shifts up to 30). 0 gives (0, 0); NaN, ±Infinity and negatives throw.
 */
export function quantizeMultiplier(real: number): QuantizedMultiplier {
  if (typeof real !== "number" || !Number.isFinite(real) || real < 0) {
    throw new Error(`quantizeMultiplier: real must be a finite number ≥ 0, got ${real}`);
  }
  if (real === 0) return { multiplier: 0, shift: 0 };
  const { fraction, exponent } = frexpPositive(real);
  let multiplier = roundHalfAway(fraction * TWO_P31);
  let shift = exponent;
  if (multiplier === TWO_P31) {
    multiplier = TWO_P31 / 2;
    shift += 1;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  return { multiplier, shift };
}

/** The real value `multiplier · 2^(shift − 31)` a quantized multiplier stands for. */
export function quantizedMultiplierValue(q: QuantizedMultiplier): number {
  return q.multiplier * 2 ** (q.shift - 31);
}

/** Shifts the multiply functions accept: TFLite's documented [−31, 30]. */
export const MIN_MULTIPLIER_SHIFT = -31;
export const MAX_MULTIPLIER_SHIFT = 30;

function checkMultiplier(fn: string, x: number, multiplier: number, shift: number, minM: number): void {
  checkInt32(fn, "x", x);
  if (!Number.isInteger(multiplier) || multiplier < minM || multiplier > INT32_MAX) {
    throw new Error(`${fn}: multiplier must be an integer in [${minM}, ${INT32_MAX}], got ${multiplier}`);
  }
  if (!Number.isInteger(shift) || shift < MIN_MULTIPLIER_SHIFT || shift > MAX_MULTIPLIER_SHIFT) {
    throw new Error(
      `${fn}: shift must be an integer in [${MIN_MULTIPLIER_SHIFT}, ${MAX_MULTIPLIER_SHIFT}], got ${shift}`,
    );
  }
}

/**
 * TFLite's default `MultiplyByQuantizedMultiplier` (gemmlowp double rounding):
 * `RDBPOT(SRDHM(x · 2^max(shift, 0), multiplier), max(−shift, 0))`. The left shift is a plain int32
 * multiply as in the C++, so it wraps modulo 2^32 when `x · 2^shift` leaves int32 (the C++ is undefined
 * there; two's-complement hardware wraps).
 */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  checkMultiplier("multiplyByQuantizedMultiplier", x, multiplier, shift, INT32_MIN);
  return mbqmDouble(x, multiplier, shift);
}

/** Unchecked `multiplyByQuantizedMultiplier`. */
export function mbqmDouble(x: number, multiplier: number, shift: number): number {
  if (shift > 0) return srdhm(Math.imul(x, 1 << shift), multiplier);
  return rdbpot(srdhm(x, multiplier), -shift);
}

/**
 * TFLite's `MultiplyByQuantizedMultiplier` under `TFLITE_SINGLE_ROUNDING`:
 * `(x·multiplier + 2^(n−1)) >> n` with n = 31 − shift, one rounding with ties toward +∞. Needs a
 * multiplier ≥ 0. For shift > 0 the 64-bit result can exceed int32; it is cast as the C++ casts it
 * (the low 32 bits).
 */
export function multiplyByQuantizedMultiplierSingleRounding(
  x: number,
  multiplier: number,
  shift: number,
): number {
  checkMultiplier("multiplyByQuantizedMultiplierSingleRounding", x, multiplier, shift, 0);
  return mbqmSingle(x, multiplier, shift);
}

/** Unchecked `multiplyByQuantizedMultiplierSingleRounding`. */
export function mbqmSingle(x: number, multiplier: number, shift: number): number {
  if (shift <= 0) {
    // p = t·2^31 + f with 0 ≤ f < 2^31. With r = −shift ≥ 1 the added half 2^(30+r) is a whole multiple
    // of 2^31, so f (less than one such unit) cannot change floor((p + 2^(30+r)) / 2^(31+r)).
    const t = floorProductOver2p31(x, multiplier);
    if (shift === 0) return t + productBit30(x, multiplier);
    // floor((t + 2^(r−1)) / 2^r) in int32 operations: compare the bits shifted out with the half.
    const r = -shift;
    const mask = ((1 << r) - 1) | 0;
    return (t >> r) + ((t & mask) >= 1 << (r - 1) ? 1 : 0);
  }
  // n = 31 − shift ∈ [1, 30]: the full 64-bit sum, then its low 32 bits after the arithmetic shift.
  const n = 31 - shift;
  let hi = Math.floor(floorProductOver2p31(x, multiplier) / 2); // floor(p / 2^32), within [−2^30, 2^30]
  let lo = (Math.imul(x, multiplier) >>> 0) + 2 ** (n - 1);
  if (lo >= 4294967296) {
    lo -= 4294967296;
    hi += 1;
  }
  return (lo >>> n) | (hi << (32 - n)) | 0;
}

/**
 * TFLite's `MultiplyByQuantizedMultiplier` for an int64 accumulator (the 16x8 kernels): the multiplier
 * is first reduced to 16 bits, `M16 = M < 0x7FFF0000 ? (M + 2^15) >> 16 : 0x7FFF`, then one rounding
 * shift `(x·M16 + 2^(n−1)) >> n` with n = 15 − shift. TFLite's preconditions are checked: x in
 * [−2^47, 2^47), multiplier in [0, 2^31), shift in [−31, 7], and a result that fits int32.
 */
export function multiplyByQuantizedMultiplierInt64(x: number, multiplier: number, shift: number): number {
  const fn = "multiplyByQuantizedMultiplierInt64";
  if (!Number.isInteger(x) || x < -(2 ** 47) || x >= 2 ** 47) {
    throw new Error(`${fn}: x must be an integer in [-2^47, 2^47), got ${x}`);
  }
  if (!Number.isInteger(multiplier) || multiplier < 0 || multiplier > INT32_MAX) {
    throw new Error(`${fn}: multiplier must be an integer in [0, ${INT32_MAX}], got ${multiplier}`);
  }
  if (!Number.isInteger(shift) || shift < -31 || shift > 7) {
    throw new Error(`${fn}: shift must be an integer in [-31, 7], got ${shift}`);
  }
  const m16 = multiplier < 0x7fff0000 ? (multiplier + TWO_P15) >> 16 : 0x7fff;
  const n = 15 - shift; // 8 … 46
  // x = xh·2^24 + xl: both partial products and the rounding half stay exact in doubles.
  const xh = Math.floor(x / 2 ** 24);
  const xl = x - xh * 2 ** 24;
  const high = xh * m16;
  const low = xl * m16 + 2 ** (n - 1);
  const result =
    n >= 24
      ? Math.floor((high + Math.floor(low / 2 ** 24)) / 2 ** (n - 24))
      : high * 2 ** (24 - n) + Math.floor(low / 2 ** n);
  if (result < INT32_MIN || result > INT32_MAX) {
    throw new Error(`${fn}: the result of x = ${x} does not fit int32 (TFLite requires it to)`);
  }
  return result;
}
