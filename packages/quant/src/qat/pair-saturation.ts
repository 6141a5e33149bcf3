import { type nn, ops, Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { float32Values } from "../fake-quant-op.js";
import type { QParams } from "../grid/qparams.js";
import { quantize } from "../grid/quantize.js";
import type { GridSpec } from "../grid/spec.js";
import type { QuantContext, QuantPoint } from "./points.js";

/*
 * Int16 pair saturation in fake quantization. x86 CPUs with AVX2 but no VNNI multiply uint8 activations
 * by int8 weights with `vpmaddubsw`: it multiplies the RAW codes (the activation zero point is still in
 * them; kernels correct for zero points afterwards with row and column sums) and adds adjacent products
 * two by two into an int16 with saturation, before widening to int32. Where two large activation codes
 * meet two large weights of one sign, the integer kernel computes sat16(p) instead of p for that pair.
 * The integer accumulator is therefore Σ_exact + Σ_pairs (sat16(p) − p), and the fake-quantized layer
 * output, s_x·s_w[o]·Σ_exact (+ bias), becomes the integer program's by adding
 *
 *     s_x · s_w[o] · Σ_pairs (sat16(p) − p),   p = qx_k·qw_k + qx_k'·qw_k'  (raw codes)
 *
 * with the pairs (k, k') formed exactly as the integer kernel forms them (npu-sim's int-gemm-engine):
 * consecutive reduction indices (0, 1), (2, 3), … of one output, an odd count's last product paired with
 * 0. A Linear layer reduces over its input features in order. A convolution reduces over one group's
 * Cg·kH·kW taps, in the order the option names: "kh-kw-c" (channels-last kernels, k = (kh·kW + kw)·Cg + c,
 * so with Cg odd — a first layer on one channel, every depthwise conv — pairs straddle two taps) or
 * "c-kh-kw" (k = (c·kH + kh)·kW + kw). Taps in the padding read the activation zero point (real 0), as
 * the integer kernel's im2col does. The correction is a constant in the graph: the gradient stays the
 * straight-through one of the uncorrected layer.
 */

/** Order of one output's reduction index in a convolution (npu-sim's `ReductionOrder`). */
export type Int16PairOrder = "kh-kw-c" | "c-kh-kw";

export const INT16_PAIR_ORDERS: readonly Int16PairOrder[] = ["kh-kw-c", "c-kh-kw"];

/** What the accumulator of the target integer kernels does beyond exact integer sums. */
export interface QatAccumulatorConfig {
  /**
   * Int16 pair saturation of x86 AVX2 `vpmaddubsw` (u8 × s8 without VNNI): adjacent products of raw
   * activation × weight codes are summed two by two and clamped to [−32768, 32767]; the value is the
   * order in which a convolution's taps are paired ("kh-kw-c": channels-last, what onnxruntime's x86
   * kernels and npu-sim's programs use). Linear layers pair input features 0-1, 2-3, …. Off by default.
   */
  int16Pairs?: Int16PairOrder;
}

export function checkAccumulatorConfig(fn: string, config: QatAccumulatorConfig | undefined): void {
  if (config === undefined) return;
  if (config === null || typeof config !== "object") throw new Error(`${fn}: accumulator must be an object`);
  for (const key of Object.keys(config)) {
    if (key !== "int16Pairs")
      throw new Error(`${fn}: accumulator has unknown key '${key}' (known: int16Pairs)`);
  }
  const order = config.int16Pairs;
  if (order !== undefined && !INT16_PAIR_ORDERS.includes(order)) {
    throw new Error(
      `${fn}: accumulator.int16Pairs must be one of ${INT16_PAIR_ORDERS.join(", ")}, got ${JSON.stringify(order)}`,
    );
  }
}

const INT16_MIN = -32768;
const INT16_MAX = 32767;

/** A convolution's geometry, as the layer's options give it. */
/** A convolution's stride, padding, dilation and groups, as conv2d takes them. */
export type PairConvOptions = T.Conv2dOptions;

/**
 * Σ_pairs (sat16(p) − p) for every output of a Linear (`conv` null: x [..., K], w [M, K], result
 * [..., M]) or a convolution (x [N, C, H, W], w [M, C/groups, kH, kW], result [N, M, Hout, Wout]), from
 * raw integer codes. `padCode` is what padding taps read (the activation zero point). Exact integers.
 * Only pairs that can leave int16 are visited: a pair is skipped (for a whole Linear layer, or per image
 * of a convolution) when the largest |code| its two inputs hold bounds |p| by 32767, so a layer whose
 * weights or activations are too small costs one pass over each.
 */
export function int16PairSaturationError(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  conv: PairConvOptions | null,
  order: Int16PairOrder,
  padCode: number,
): Float64Array {
  const codes = x instanceof Float64Array ? x : Float64Array.from(x);
  const weights = w instanceof Float64Array ? w : Float64Array.from(w);
  return conv === null
    ? linearError(codes, xShape, weights, wShape)
    : convError(codes, xShape, weights, wShape, conv, order, padCode);
}

function satError(p: number): number {
  return p > INT16_MAX ? INT16_MAX - p : p < INT16_MIN ? INT16_MIN - p : 0;
}

/**
 * Whether a pair can leave int16 given the largest |code| of each input (m1, m2) and whether codes are
 * never negative (uint8): then weights of opposite signs give |p| ≤ max(m1·|w1|, m2·|w2|) ≤ 255·128.
 */
function canSaturate(m1: number, w1: number, m2: number, w2: number, nonNegative: boolean): boolean {
  const a = m1 * Math.abs(w1);
  const b = m2 * Math.abs(w2);
  return (nonNegative && w1 * w2 < 0 ? Math.max(a, b) : a + b) > INT16_MAX;
}

function linearError(
  x: Float64Array,
  xShape: readonly number[],
  w: Float64Array,
  wShape: readonly number[],
): Float64Array {
  const K = xShape[xShape.length - 1]!;
  const [M, wK] = wShape as [number, number];
  if (wShape.length !== 2 || wK !== K) {
    throw new Error(
      `int16 pairs: weight shape [${wShape.join(", ")}] does not match input [${xShape.join(", ")}]`,
    );
  }
  const R = K === 0 ? 0 : x.length / K;
  // Largest |code| of each input feature over the rows.
  const maxAbs = new Float64Array(K + 1);
  let nonNegative = true;
  for (let r = 0, i = 0; r < R; r++) {
    for (let k = 0; k < K; k++, i++) {
      const v = x[i]!;
      if (v < 0) nonNegative = false;
      const a = Math.abs(v);
      if (a > maxAbs[k]!) maxAbs[k] = a;
    }
  }
  const out = new Float64Array(R * M);
  for (let o = 0; o < M; o++) {
    const wo = o * K;
    for (let k = 0; k < K; k += 2) {
      const w1 = w[wo + k]!;
      const w2 = k + 1 < K ? w[wo + k + 1]! : 0;
      if (!canSaturate(maxAbs[k]!, w1, maxAbs[k + 1]!, w2, nonNegative)) continue;
      const second = k + 1 < K;
      for (let r = 0, xr = k, d = o; r < R; r++, xr += K, d += M) {
        const p = x[xr]! * w1 + (second ? x[xr + 1]! * w2 : 0);
        if (p > INT16_MAX || p < INT16_MIN) out[d]! += satError(p);
      }
    }
  }
  return out;
}

function convError(
  x: Float64Array,
  xShape: readonly number[],
  w: Float64Array,
  wShape: readonly number[],
  conv: PairConvOptions,
  order: Int16PairOrder,
  padCode: number,
): Float64Array {
  // The convolution's own shape checks and output size (tensor's convGeometry, as conv2d uses).
  const { N, C, H, W, kH, kW, sH, sW, pH, pW, dH, dW, groups, Hout, Wout } = T.convGeometry(
    "int16 pairs",
    xShape,
    wShape,
    conv,
  );
  const M = wShape[0]!;
  const Cg = C / groups;
  const P = Hout * Wout;
  const plane = H * W;
  const taps = kH * kW;
  const K = Cg * taps;
  const Mg = M / groups;
  // Largest |code| per image and channel (padding reads the zero point, so it counts where there is any).
  const maxAbs = new Float64Array(N * C);
  let nonNegative = padCode >= 0;
  const padded = pH > 0 || pW > 0;
  for (let nc = 0; nc < N * C; nc++) {
    let m = padded ? Math.abs(padCode) : 0;
    for (let i = nc * plane, end = i + plane; i < end; i++) {
      const v = x[i]!;
      if (v < 0) nonNegative = false;
      const a = Math.abs(v);
      if (a > m) m = a;
    }
    maxAbs[nc] = m;
  }
  // Reduction index k → (channel within the group, kernel row, kernel column), in the kernel's order.
  const kc = new Int32Array(K + 1);
  const ky = new Int32Array(K + 1);
  const kx = new Int32Array(K + 1);
  for (let k = 0; k < K; k++) {
    const c = order === "kh-kw-c" ? k % Cg : Math.floor(k / taps);
    const t = order === "kh-kw-c" ? Math.floor(k / Cg) : k % taps;
    kc[k] = c;
    ky[k] = Math.floor(t / kW);
    kx[k] = t % kW;
  }
  const out = new Float64Array(N * M * P);
  for (let o = 0; o < M; o++) {
    const g = Math.floor(o / Mg);
    const wo = o * K;
    for (let k = 0; k < K; k += 2) {
      const second = k + 1 < K;
      // The weight of reduction index k is stored at (c, kh, kw); a missing second product is 0.
      const w1 = w[wo + (kc[k]! * kH + ky[k]!) * kW + kx[k]!]!;
      const w2 = second ? w[wo + (kc[k + 1]! * kH + ky[k + 1]!) * kW + kx[k + 1]!]! : 0;
      const c1 = g * Cg + kc[k]!;
      const c2 = g * Cg + kc[k + 1]!;
      // Each tap's input row/column offset: input (ih, iw) = (oh·sH + y, ow·sW + x).
      const y1 = ky[k]! * dH - pH;
      const x1 = kx[k]! * dW - pW;
      const y2 = ky[k + 1]! * dH - pH;
      const x2 = kx[k + 1]! * dW - pW;
      for (let n = 0; n < N; n++) {
        const m2 = second ? maxAbs[n * C + c2]! : 0;
        if (!canSaturate(maxAbs[n * C + c1]!, w1, m2, w2, nonNegative)) continue;
        const base1 = (n * C + c1) * plane;
        const base2 = (n * C + c2) * plane;
        let d = (n * M + o) * P;
        for (let oh = 0; oh < Hout; oh++) {
          const ih1 = oh * sH + y1;
          const ih2 = oh * sH + y2;
          const row1 = ih1 >= 0 && ih1 < H ? base1 + ih1 * W : -1;
          const row2 = second && ih2 >= 0 && ih2 < H ? base2 + ih2 * W : -1;
          for (let ow = 0; ow < Wout; ow++, d++) {
            const iw1 = ow * sW + x1;
            const v1 = row1 >= 0 && iw1 >= 0 && iw1 < W ? x[row1 + iw1]! : padCode;
            let p = v1 * w1;
            if (second) {
              const iw2 = ow * sW + x2;
              p += (row2 >= 0 && iw2 >= 0 && iw2 < W ? x[row2 + iw2]! : padCode) * w2;
            }
            if (p > INT16_MAX || p < INT16_MIN) out[d]! += satError(p);
          }
        }
      }
    }
  }
  return out;
}

/**
 * The integer codes of values that already lie on their grid (a point's fake-quantized output), by
 * quant's own `quantize`. On-grid values round to the same code under every rounding mode, so a
 * stochastic grid is read with half-even rounding instead of asking for a generator.
 */
function codesOf(values: Float32Array, shape: readonly number[], q: QParams, grid: GridSpec): Int32Array {
  const spec = grid.rounding === "stochastic" ? { ...grid, rounding: "half-even" as const } : grid;
  return quantize(values, q, spec, shape);
}

/**
 * The real-valued correction s_x·s_w[o]·Σ_pairs (sat16(p) − p) for a Linear (`conv` null) or Conv2d
 * layer whose fake-quantized input `x` (on `xGrid` with `xq`, per tensor) and weight `w` (on `wGrid` with
 * `wq`, per tensor or per output channel) are given, shaped like the layer's output; null when no pair
 * saturates.
 */
export function int16PairSaturationCorrection(
  x: T.Tensor,
  xq: QParams,
  xGrid: GridSpec,
  w: T.Tensor,
  wq: QParams,
  wGrid: GridSpec,
  conv: PairConvOptions | null,
  order: Int16PairOrder,
): T.Tensor | null {
  if (xq.scale.length !== 1) throw new Error("int16 pairs: the activation grid must be per tensor");
  const xCodes = codesOf(float32Values(x), x.shape, xq, xGrid);
  const wCodes = codesOf(float32Values(w), w.shape, wq, wGrid);
  const err = int16PairSaturationError(xCodes, x.shape, wCodes, w.shape, conv, order, xq.zeroPoint[0]!);
  if (!err.some((e) => e !== 0)) return null;
  const M = w.shape[0]!;
  const shape =
    conv === null
      ? [...x.shape.slice(0, -1), M]
      : T.conv2dOutputShape(x.shape, w.shape, conv as T.Conv2dOptions);
  const inner = conv === null ? 1 : shape[2]! * shape[3]!;
  const sx = xq.scale[0]!;
  const out = new Float32Array(err.length);
  for (let i = 0; i < err.length; i++) {
    if (err[i] === 0) continue;
    const o = Math.floor(i / inner) % M;
    out[i] = err[i]! * sx * wq.scale[wq.scale.length === 1 ? 0 : o]!;
  }
  return T.fromData(out, shape);
}

/** The qparams a point quantizes with right now (LSQ's learned ones, or the observed/range ones). */
function currentQParams(p: QuantPoint): QParams | null {
  return p.scale ? p.info().qparams : p.qparams;
}

/**
 * Install the correction on one Linear/Conv2d layer of a model being prepared for QAT: an input hook
 * keeps the fake-quantized input, `weight` wraps the layer's weight quantizer to keep the
 * fake-quantized (and BN-folded) weight, and an output hook adds λ·correction to the layer's output.
 * Installed before any other output hook of the layer (the BatchNorm fold's), so the correction joins
 * the convolution's own sum. With λ < 1 the codes are those of the blended tensors, and the correction
 * is blended like every other quantization error; at λ = 1 it is exact. `undo` records how to take the
 * hooks out again.
 */
export function installInt16PairSaturation(
  layer: nn.Linear | nn.Conv2d,
  order: Int16PairOrder,
  source: QuantPoint,
  weight: QuantPoint,
  ctx: QuantContext,
  undo: (step: () => void) => void,
): (quantizedWeight: Variable) => Variable {
  let x: Variable | null = null;
  let w: Variable | null = null;
  const conv = "options" in layer ? (layer.options as PairConvOptions) : null;
  const prevIn = layer.hooks.input;
  const prevOut = layer.hooks.output;
  layer.hooks.input = (v) => {
    x = prevIn ? prevIn(v) : v;
    return x;
  };
  const addCorrection = (y: Variable): Variable => {
    const lambda = ctx.lambda;
    const xq = currentQParams(source);
    const wq = currentQParams(weight);
    if (lambda === 0 || x === null || w === null || xq === null || wq === null) return y;
    const c = int16PairSaturationCorrection(x.data, xq, source.grid, w.data, wq, weight.grid, conv, order);
    if (c === null) return y;
    const scaled = lambda === 1 ? c : T.mul(c, lambda);
    return ops.add(y, new Variable(scaled));
  };
  layer.hooks.output = prevOut ? (y) => addCorrection(prevOut(y)) : addCorrection;
  undo(() => {
    layer.hooks.input = prevIn;
    layer.hooks.output = prevOut;
  });
  return (quantizedWeight) => {
    w = quantizedWeight;
    return quantizedWeight;
  };
}
