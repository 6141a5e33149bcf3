import { checkActivations, type IntActivations } from "./int-activations.js";
import { accumulatorScratch, runIntGemm } from "./int-gemm-engine.js";
import {
  checkFusedOutput,
  checkInt32Accumulator,
  checkOptionNames,
  INT_KERNEL_OPTION_NAMES,
  type IntKernelOptions,
  type ResolvedIntKernelOptions,
  resolveIntKernelOptions,
  resultBuffer,
} from "./int-kernel-options.js";
import { checkIntWeights, type IntWeights } from "./int-weights.js";
import type { IntArray } from "./overflow.js";
import { type PreparedOutputStage, requantizeInto } from "./requantize.js";

/*
 * Integer matrix multiply, ONNX MatMulInteger semantics: Y[M,N] = (A − a_zp) · (B − b_zp) in an int32
 * (by default) accumulator, plus an optional int32 bias per column. A holds uint8 or int8 activations
 * with one zero point; B holds int8/uint8/int4/uint4 weights with one zero point or one per column.
 */

export interface GemmIntOptions extends IntKernelOptions {
  /**
   * B is stored [N, K] (conv and fully-connected weights, one row per output channel; per-channel zero
   * points on axis 0) instead of [K, N] (MatMulInteger; per-channel zero points on axis 1). Default false.
   */
  transposeB?: boolean;
}

const GEMM_OPTION_NAMES = [...INT_KERNEL_OPTION_NAMES, "transposeB"];

/**
 * The accumulators Y[M, N] (row-major). They go to `options.out` when given: an Int32Array (the
 * default, for accumulators up to 32 bits) or a Float64Array of exact integers (any width up to 64).
 */
export function gemmInt(
  a: IntActivations,
  b: IntWeights,
  options?: GemmIntOptions & { out?: Int32Array },
): Int32Array;
export function gemmInt(
  a: IntActivations,
  b: IntWeights,
  options: GemmIntOptions & { out: Float64Array },
): Float64Array;
export function gemmInt(
  a: IntActivations,
  b: IntWeights,
  options: GemmIntOptions & { out?: Int32Array | Float64Array } = {},
): Int32Array | Float64Array {
  const fn = "gemmInt";
  checkOptionNames(fn, options, [...GEMM_OPTION_NAMES, "out"]);
  const plan = planGemm(fn, a, b, options);
  const out = resultBuffer(fn, options.out, plan.M * plan.N, plan.resolved.accumulator);
  runGemm(plan, a, b, out);
  if (plan.resolved.overflow !== undefined) plan.resolved.overflow.elements += plan.M * plan.N;
  return out;
}

/**
 * `gemmInt` followed by an output stage (requantization, zero point, clamp; per column when the stage
 * is per channel) into `out` (M·N codes, e.g. an Int8Array or Uint8Array). Returns `out`. The
 * accumulator must be at most 32 bits wide. Output clamps are counted with the other events.
 */
export function gemmIntRequantized<T extends IntArray>(
  a: IntActivations,
  b: IntWeights,
  stage: PreparedOutputStage,
  out: T,
  options: GemmIntOptions = {},
): T {
  const fn = "gemmIntRequantized";
  checkOptionNames(fn, options, GEMM_OPTION_NAMES);
  const plan = planGemm(fn, a, b, options);
  checkInt32Accumulator(fn, plan.resolved.accumulator);
  const size = plan.M * plan.N;
  checkFusedOutput(fn, stage, out, size, plan.N);
  const acc = accumulatorScratch(size);
  runGemm(plan, a, b, acc);
  requantizeInto(acc, stage, out, { channels: Math.max(plan.N, 1), inner: 1 }, plan.resolved.overflow);
  return out;
}

interface GemmPlan {
  M: number;
  N: number;
  K: number;
  transposeB: boolean;
  resolved: ResolvedIntKernelOptions;
}

function planGemm(fn: string, a: IntActivations, b: IntWeights, options: GemmIntOptions): GemmPlan {
  const [M, K] = checkActivations(fn, "a", a, 2) as [number, number];
  checkIntWeights(fn, "b", b);
  const transposeB = options.transposeB ?? false;
  if (typeof transposeB !== "boolean") {
    throw new Error(`${fn}: options.transposeB must be a boolean, got ${String(transposeB)}`);
  }
  if (b.shape.length !== 2) throw new Error(`${fn}: b.shape must be 2-D, got [${b.shape.join(", ")}]`);
  const bK = transposeB ? b.shape[1]! : b.shape[0]!;
  const N = transposeB ? b.shape[0]! : b.shape[1]!;
  if (bK !== K) {
    throw new Error(
      `${fn}: b.shape [${b.shape.join(", ")}] does not match a.shape [${M}, ${K}]: ` +
        `${transposeB ? "[N, K]" : "[K, N]"} needs K = ${K}`,
    );
  }
  const columnAxis = transposeB ? 0 : 1;
  if (b.zeroPoint.length !== 1 && b.channelAxis !== columnAxis) {
    throw new Error(
      `${fn}: b.zeroPoint is per channel along axis ${b.channelAxis}, but the output columns are axis ${columnAxis} of b`,
    );
  }
  const resolved = resolveIntKernelOptions(fn, options, a, b, N);
  return { M, N, K, transposeB, resolved };
}

function runGemm(plan: GemmPlan, a: IntActivations, b: IntWeights, out: Int32Array | Float64Array): void {
  const { M, N, K, transposeB, resolved } = plan;
  const kOffsets = new Float64Array(K);
  for (let k = 0; k < K; k++) kOffsets[k] = transposeB ? k : k * N;
  runIntGemm({
    M,
    N,
    K,
    aData: a.data,
    aOffset: 0,
    aRowStride: K,
    aZeroPoint: a.zeroPoint,
    b,
    bBase: 0,
    bColStride: transposeB ? K : 1,
    bKOffsets: kOffsets,
    bZeroPointBase: 0,
    bias: resolved.bias,
    biasOffset: 0,
    accumulator: resolved.accumulator,
    pairSaturation: resolved.pairSaturation,
    overflow: resolved.overflow,
    out,
    outOffset: 0,
    outRowStride: N,
    outColStride: 1,
    outRowGroup: Math.max(M, 1),
    outRowGroupStride: 0,
  });
}
