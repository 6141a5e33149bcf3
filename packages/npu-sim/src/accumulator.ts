/*
 * The accumulator of an integer kernel: how wide it is and what happens when a sum leaves its range.
 * C, ONNX and x86/Arm int32 kernels wrap (two's complement); some DSPs and NPUs saturate instead, and
 * narrower (16/24-bit) or wider (40/48/64-bit) registers exist. The kernels compute every sum exactly
 * (a float64 holds any integer below 2^53, and no sum of int8·int8 products over a K that fits in memory
 * comes near that), then apply this model to the exact value, so the model costs nothing when it is
 * the int32 default.
 */

export type AccumulatorOverflow = "wrap" | "saturate";

export interface AccumulatorSpec {
  /** Width in bits, an integer in [16, 64]. */
  readonly bits: number;
  /**
   * "wrap": two's complement modulo 2^bits (the result only depends on the exact total, so the order
   * of the additions does not matter). "saturate": every addition clamps to the range, in order.
   */
  readonly overflow: AccumulatorOverflow;
}

export const MIN_ACCUMULATOR_BITS = 16;
export const MAX_ACCUMULATOR_BITS = 64;

/** What C, ONNX MatMulInteger/ConvInteger and TFLite's reference kernels do. */
export const INT32_WRAPPING_ACCUMULATOR: AccumulatorSpec = Object.freeze({ bits: 32, overflow: "wrap" });

const SPEC_FIELDS = new Set(["bits", "overflow"]);

/** Validate an accumulator option (undefined means int32 wrap); errors name `fn` and `name`. */
export function checkAccumulator(fn: string, name: string, spec: unknown): AccumulatorSpec {
  if (spec === undefined) return INT32_WRAPPING_ACCUMULATOR;
  if (spec === null || typeof spec !== "object") {
    throw new Error(`${fn}: ${name} must be { bits, overflow }, got ${String(spec)}`);
  }
  for (const key of Object.keys(spec)) {
    if (!SPEC_FIELDS.has(key)) {
      throw new Error(`${fn}: ${name} has an unknown field '${key}'; known fields: bits, overflow`);
    }
  }
  const { bits, overflow } = spec as { bits?: unknown; overflow?: unknown };
  if (
    typeof bits !== "number" ||
    !Number.isInteger(bits) ||
    bits < MIN_ACCUMULATOR_BITS ||
    bits > MAX_ACCUMULATOR_BITS
  ) {
    throw new Error(
      `${fn}: ${name}.bits must be an integer in [${MIN_ACCUMULATOR_BITS}, ${MAX_ACCUMULATOR_BITS}], got ${String(bits)}`,
    );
  }
  if (overflow !== "wrap" && overflow !== "saturate") {
    throw new Error(`${fn}: ${name}.overflow must be 'wrap' or 'saturate', got ${JSON.stringify(overflow)}`);
  }
  return { bits, overflow };
}

/**
 * Smallest and largest value of a `bits`-wide two's complement register. Above 53 bits the bounds are
 * not exact doubles, which does not matter: no exact sum a kernel forms comes near them.
 */
export function accumulatorRange(bits: number): { min: number; max: number } {
  return { min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 };
}

/** Reduce an exact integer (|v| < 2^53) modulo 2^bits into the signed range, as a register would. */
export function wrapToBits(v: number, bits: number): number {
  if (bits === 32) return v | 0; // ToInt32 is exact modulo 2^32 for every safe integer
  if (bits < 32) {
    const s = 32 - bits;
    return ((v | 0) << s) >> s;
  }
  if (bits >= 54) return v; // |v| < 2^53 already lies inside the range
  const m = 2 ** bits;
  let r = v % m; // exact: fmod of integers
  if (r === 0) return 0; // not −0, which a negative multiple of m would give
  if (r >= m / 2) r -= m;
  else if (r < -m / 2) r += m;
  return r;
}
