import {
  type ConvGeometry,
  im2colInt,
  REDUCTION_ORDERS,
  type ReductionOrder,
  reductionOffsets,
} from "./im2col-int.js";
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
 * Integer 2-D convolution (cross-correlation, ONNX ConvInteger / QLinearConv, TFLite CONV_2D and
 * DEPTHWISE_CONV_2D): x [N, C, H, W] uint8/int8 codes with one zero point, weights [M, C/groups, kH, kW]
 * (int8/uint8/int4/uint4, per-tensor or per-output-channel zero points on axis 0), int32 accumulators
 * [N, M, Hout, Wout]. Computed as integer im2col (padding reads the input zero point, i.e. real 0) and
 * the integer GEMM, per image and group. Depthwise is groups = C (M = C · channel multiplier).
 */

export interface Conv2dIntOptions extends IntKernelOptions {
  /** Default 1. */
  stride?: number | readonly [number, number];
  /** One number for every side, [h, w] for both sides of each axis, or [top, left, bottom, right] (ONNX `pads`). Default 0. */
  padding?: number | readonly [number, number] | readonly [number, number, number, number];
  /** Default 1. */
  dilation?: number | readonly [number, number];
  /** Default 1; must divide C and M. */
  groups?: number;
  /**
   * Order of the Cg·kH·kW products within one output: "c-kh-kw" (the weights' own order, default) or
   * "kh-kw-c" (channels-last kernels such as TFLite's and onnxruntime's QLinearConv). Wrapping sums do
   * not depend on it; int16 pairs and saturating accumulators do.
   */
  reductionOrder?: ReductionOrder;
}

const CONV_OPTION_NAMES = [
  ...INT_KERNEL_OPTION_NAMES,
  "stride",
  "padding",
  "dilation",
  "groups",
  "reductionOrder",
];

/**
 * The accumulators [N, M, Hout, Wout] (NCHW). They go to `options.out` when given: an Int32Array (the
 * default, accumulators up to 32 bits) or a Float64Array of exact integers (any width up to 64).
 */
export function conv2dInt(
  x: IntActivations,
  w: IntWeights,
  options?: Conv2dIntOptions & { out?: Int32Array },
): Int32Array;
export function conv2dInt(
  x: IntActivations,
  w: IntWeights,
  options: Conv2dIntOptions & { out: Float64Array },
): Float64Array;
export function conv2dInt(
  x: IntActivations,
  w: IntWeights,
  options: Conv2dIntOptions & { out?: Int32Array | Float64Array } = {},
): Int32Array | Float64Array {
  const fn = "conv2dInt";
  checkOptionNames(fn, options, [...CONV_OPTION_NAMES, "out"]);
  const plan = planConv(fn, x, w, options);
  const out = resultBuffer(fn, options.out, plan.outSize, plan.resolved.accumulator);
  runConv(plan, x, w, out);
  if (plan.resolved.overflow !== undefined) plan.resolved.overflow.elements += plan.outSize;
  return out;
}

/**
 * `conv2dInt` followed by an output stage (per output channel when the stage is per channel) into
 * `out` ([N, M, Hout, Wout] codes). Returns `out`. The accumulator must be at most 32 bits wide.
 */
export function conv2dIntRequantized<T extends IntArray>(
  x: IntActivations,
  w: IntWeights,
  stage: PreparedOutputStage,
  out: T,
  options: Conv2dIntOptions = {},
): T {
  const fn = "conv2dIntRequantized";
  checkOptionNames(fn, options, CONV_OPTION_NAMES);
  const plan = planConv(fn, x, w, options);
  checkInt32Accumulator(fn, plan.resolved.accumulator);
  checkFusedOutput(fn, stage, out, plan.outSize, plan.M);
  const acc = accumulatorScratch(plan.outSize);
  runConv(plan, x, w, acc);
  const inner = plan.geometry.Hout * plan.geometry.Wout;
  if (plan.outSize > 0) requantizeInto(acc, stage, out, { channels: plan.M, inner }, plan.resolved.overflow);
  return out;
}

/** Output shape [N, M, Hout, Wout] for the given input shape, weight shape and options. */
export function conv2dIntOutputShape(
  xShape: readonly number[],
  wShape: readonly number[],
  options: Pick<Conv2dIntOptions, "stride" | "padding" | "dilation" | "groups"> = {},
): [number, number, number, number] {
  const g = convGeometry("conv2dIntOutputShape", xShape, wShape, options);
  return [xShape[0]!, wShape[0]!, g.Hout, g.Wout];
}

interface ConvPlan {
  N: number;
  M: number;
  groups: number;
  geometry: ConvGeometry;
  order: ReductionOrder;
  outSize: number;
  resolved: ResolvedIntKernelOptions;
}

function planConv(fn: string, x: IntActivations, w: IntWeights, options: Conv2dIntOptions): ConvPlan {
  const xShape = checkActivations(fn, "x", x, 4);
  checkIntWeights(fn, "w", w);
  const geometry = convGeometry(fn, xShape, w.shape, options);
  const N = xShape[0]!;
  const M = w.shape[0]!;
  if (w.zeroPoint.length !== 1 && w.channelAxis !== 0) {
    throw new Error(
      `${fn}: w.zeroPoint is per channel along axis ${w.channelAxis}, but output channels are axis 0 of w`,
    );
  }
  const order = options.reductionOrder ?? "c-kh-kw";
  if (!REDUCTION_ORDERS.includes(order)) {
    throw new Error(
      `${fn}: options.reductionOrder must be one of ${REDUCTION_ORDERS.join(", ")}, got ${JSON.stringify(order)}`,
    );
  }
  const resolved = resolveIntKernelOptions(fn, options, x, w, M);
  const groups = geometry.C / geometry.Cg;
  return { N, M, groups, geometry, order, outSize: N * M * geometry.Hout * geometry.Wout, resolved };
}

function convGeometry(
  fn: string,
  xShape: readonly number[],
  wShape: readonly number[],
  options: Pick<Conv2dIntOptions, "stride" | "padding" | "dilation" | "groups">,
): ConvGeometry {
  if (xShape.length !== 4) throw new Error(`${fn}: x.shape must be [N, C, H, W], got [${xShape.join(", ")}]`);
  if (wShape.length !== 4) {
    throw new Error(`${fn}: w.shape must be [M, C/groups, kH, kW], got [${wShape.join(", ")}]`);
  }
  const [, C, H, W] = xShape as [number, number, number, number];
  const [M, Cg, kH, kW] = wShape as [number, number, number, number];
  const [sH, sW] = pairOption(fn, "stride", options.stride, 1, 1);
  const [dH, dW] = pairOption(fn, "dilation", options.dilation, 1, 1);
  const [padTop, padLeft, padBottom, padRight] = paddingOption(fn, options.padding);
  const groups = options.groups ?? 1;
  if (typeof groups !== "number" || !Number.isInteger(groups) || groups < 1) {
    throw new Error(`${fn}: options.groups must be a positive integer, got ${String(groups)}`);
  }
  if (C % groups !== 0 || M % groups !== 0) {
    throw new Error(
      `${fn}: options.groups = ${groups} must divide the input channels (${C}) and the output channels (${M})`,
    );
  }
  if (Cg * groups !== C) {
    throw new Error(
      `${fn}: w.shape [${wShape.join(", ")}] expects ${Cg * groups} input channels (${Cg} per group × ${groups} groups), but x.shape [${xShape.join(", ")}] has ${C}`,
    );
  }
  if (kH < 1 || kW < 1) throw new Error(`${fn}: w.shape [${wShape.join(", ")}] has an empty kernel`);
  const effH = dH * (kH - 1) + 1;
  const effW = dW * (kW - 1) + 1;
  const padH = H + padTop + padBottom;
  const padW = W + padLeft + padRight;
  if (effH > padH || effW > padW) {
    throw new Error(
      `${fn}: kernel ${kH}×${kW} (${effH}×${effW} with dilation) is larger than the padded input ${padH}×${padW}`,
    );
  }
  const Hout = Math.floor((padH - effH) / sH) + 1;
  const Wout = Math.floor((padW - effW) / sW) + 1;
  return { C, H, W, Cg, kH, kW, sH, sW, padTop, padLeft, dH, dW, Hout, Wout };
}

function pairOption(
  fn: string,
  name: string,
  v: number | readonly [number, number] | undefined,
  dh: number,
  dw: number,
): [number, number] {
  let pair: [number, number];
  if (v === undefined) pair = [dh, dw];
  else if (typeof v === "number") pair = [v, v];
  else if (Array.isArray(v) && v.length === 2) pair = [v[0], v[1]];
  else throw new Error(`${fn}: options.${name} must be a number or [h, w], got ${JSON.stringify(v)}`);
  if (!pair.every((p) => Number.isInteger(p) && p >= 1)) {
    throw new Error(`${fn}: options.${name} must be positive integers, got ${JSON.stringify(v)}`);
  }
  return pair;
}

function paddingOption(fn: string, v: Conv2dIntOptions["padding"]): [number, number, number, number] {
  let pads: [number, number, number, number];
  if (v === undefined) pads = [0, 0, 0, 0];
  else if (typeof v === "number") pads = [v, v, v, v];
  else if (Array.isArray(v) && v.length === 2) pads = [v[0], v[1], v[0], v[1]];
  else if (Array.isArray(v) && v.length === 4) pads = [v[0], v[1], v[2], v[3]];
  else {
    throw new Error(
      `${fn}: options.padding must be a number, [h, w] or [top, left, bottom, right], got ${JSON.stringify(v)}`,
    );
  }
  if (!pads.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new Error(`${fn}: options.padding must be non-negative integers, got ${JSON.stringify(v)}`);
  }
  return pads;
}

/** Rows (output positions) per GEMM call: several images share one call when an image is small. */
const ROWS_PER_CALL = 8192;

let columns8 = new Int8Array(0);
let columnsU8 = new Uint8Array(0);

function runConv(plan: ConvPlan, x: IntActivations, w: IntWeights, out: Int32Array | Float64Array): void {
  const { N, M, groups, geometry: g, order, resolved } = plan;
  const P = g.Hout * g.Wout;
  const K = g.Cg * g.kH * g.kW;
  const Mg = M / groups;
  if (N === 0 || M === 0 || P === 0) return;
  const images = Math.max(1, Math.min(N, Math.floor(ROWS_PER_CALL / P)));
  const size = images * P * K;
  let cols: Uint8Array | Int8Array;
  if (x.data instanceof Uint8Array) {
    if (columnsU8.length < size) columnsU8 = new Uint8Array(size);
    cols = columnsU8;
  } else {
    if (columns8.length < size) columns8 = new Int8Array(size);
    cols = columns8;
  }
  const kOffsets = reductionOffsets(g, order);
  for (let n0 = 0; n0 < N; n0 += images) {
    const nb = Math.min(images, N - n0);
    for (let gi = 0; gi < groups; gi++) {
      for (let b = 0; b < nb; b++) {
        im2colInt(
          x.data,
          n0 + b,
          gi * g.Cg,
          g,
          order,
          x.zeroPoint,
          cols.subarray(b * P * K, (b + 1) * P * K),
        );
      }
      runIntGemm({
        M: nb * P,
        N: Mg,
        K,
        aData: cols,
        aOffset: 0,
        aRowStride: K,
        aZeroPoint: x.zeroPoint,
        b: w,
        bBase: gi * Mg * K,
        bColStride: K,
        bKOffsets: kOffsets,
        bZeroPointBase: gi * Mg,
        bias: resolved.bias,
        biasOffset: gi * Mg,
        accumulator: resolved.accumulator,
        pairSaturation: resolved.pairSaturation,
        overflow: resolved.overflow,
        out,
        outOffset: (n0 * M + gi * Mg) * P,
        outRowStride: 1,
        outColStride: P,
        outRowGroup: P,
        outRowGroupStride: M * P,
      });
    }
  }
}
