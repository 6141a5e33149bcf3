import { type AccumulatorSpec, checkAccumulator } from "./accumulator.js";
import type { IntActivations } from "./int-activations.js";
import type { IntWeights } from "./int-weights.js";
import type { IntArray, OverflowCounts } from "./overflow.js";
import type { PreparedOutputStage } from "./requantize.js";

/** Options shared by the integer GEMM and convolution kernels. */
export interface IntKernelOptions {
  /** One int32 per output channel at scale s_in·s_w[c] (zero point 0), added after the products. */
  bias?: Int32Array;
  /** Default `{ bits: 32, overflow: "wrap" }`. */
  accumulator?: AccumulatorSpec;
  /**
   * x86 AVX2 without VNNI (`vpmaddubsw`): uint8 activations × int8 (or int4) weights, raw codes, summed
   * two by two along K and saturated to int16 before accumulation. Default false.
   */
  pairSaturation?: boolean;
  /** Adds this call's accumulator overflows, saturated int16 pairs and element count. */
  overflow?: OverflowCounts;
}

export interface ResolvedIntKernelOptions {
  bias: Int32Array | null;
  accumulator: AccumulatorSpec;
  pairSaturation: boolean;
  overflow: OverflowCounts | undefined;
}

export const INT_KERNEL_OPTION_NAMES: readonly string[] = [
  "bias",
  "accumulator",
  "pairSaturation",
  "overflow",
];

/** Reject option names outside `known`, naming the function and the option. */
export function checkOptionNames(fn: string, options: object, known: readonly string[]): void {
  if (options === null || typeof options !== "object") throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new Error(`${fn}: unknown option '${key}'; known options: ${known.join(", ")}`);
    }
  }
}

/** Validate the shared options against the operands; `outChannels` is the bias length. */
export function resolveIntKernelOptions(
  fn: string,
  options: IntKernelOptions,
  a: IntActivations,
  b: IntWeights,
  outChannels: number,
): ResolvedIntKernelOptions {
  const { bias, pairSaturation = false, overflow } = options;
  if (bias !== undefined) {
    if (!(bias instanceof Int32Array)) throw new Error(`${fn}: options.bias must be an Int32Array`);
    if (bias.length !== outChannels) {
      throw new Error(
        `${fn}: options.bias has length ${bias.length} but there are ${outChannels} output channels`,
      );
    }
  }
  const accumulator = checkAccumulator(fn, "options.accumulator", options.accumulator);
  if (typeof pairSaturation !== "boolean") {
    throw new Error(`${fn}: options.pairSaturation must be a boolean, got ${String(pairSaturation)}`);
  }
  if (pairSaturation && !(a.data instanceof Uint8Array && (b.type === "int8" || b.type === "int4"))) {
    throw new Error(
      `${fn}: options.pairSaturation models x86 uint8 × int8 products; got ${a.data instanceof Uint8Array ? "uint8" : "int8"} activations × ${b.type} weights`,
    );
  }
  if (overflow !== undefined) {
    const o = overflow as unknown as Record<string, unknown>;
    if (
      o === null ||
      typeof o !== "object" ||
      !["accumulator", "int16Pairs", "outputClamps", "elements"].every((k) => typeof o[k] === "number")
    ) {
      throw new Error(`${fn}: options.overflow must be an OverflowCounts (see overflowCounts())`);
    }
  }
  return { bias: bias ?? null, accumulator, pairSaturation, overflow };
}

/**
 * The buffer the accumulators go to: the caller's `out` (checked) or a new one. An Int32Array holds
 * accumulators up to 32 bits; wider ones need a Float64Array (exact integers).
 */
export function resultBuffer(
  fn: string,
  out: Int32Array | Float64Array | undefined,
  length: number,
  accumulator: AccumulatorSpec,
): Int32Array | Float64Array {
  if (out === undefined) {
    return accumulator.bits <= 32 ? new Int32Array(length) : new Float64Array(length);
  }
  if (!(out instanceof Int32Array || out instanceof Float64Array)) {
    throw new Error(`${fn}: options.out must be an Int32Array or a Float64Array`);
  }
  if (out.length !== length) {
    throw new Error(`${fn}: options.out has length ${out.length} but the result has ${length} elements`);
  }
  if (out instanceof Int32Array && accumulator.bits > 32) {
    throw new Error(
      `${fn}: options.out is an Int32Array but options.accumulator.bits = ${accumulator.bits}; pass a Float64Array`,
    );
  }
  return out;
}

/** The fused kernels hand the accumulators to the int32 requantizer. */
export function checkInt32Accumulator(fn: string, accumulator: AccumulatorSpec): void {
  if (accumulator.bits > 32) {
    throw new Error(
      `${fn}: options.accumulator.bits = ${accumulator.bits}, but the requantizer takes int32 accumulators (bits ≤ 32)`,
    );
  }
}

/** Check a fused kernel's output stage and output buffer before any work is done. */
export function checkFusedOutput(
  fn: string,
  stage: PreparedOutputStage,
  out: IntArray,
  size: number,
  channels: number,
): void {
  if (stage === null || typeof stage !== "object" || typeof stage.channels !== "number") {
    throw new Error(`${fn}: stage must come from prepareOutputStage`);
  }
  if (stage.channels !== 1 && stage.channels !== channels) {
    throw new Error(
      `${fn}: stage has ${stage.channels} per-channel scales but the kernel has ${channels} output channels`,
    );
  }
  if (
    !(
      out instanceof Int8Array ||
      out instanceof Uint8Array ||
      out instanceof Int16Array ||
      out instanceof Int32Array
    )
  ) {
    throw new Error(`${fn}: out must be an Int8Array, Uint8Array, Int16Array or Int32Array`);
  }
  if (out.length !== size)
    throw new Error(`${fn}: out has length ${out.length} but the result has ${size} elements`);
}
