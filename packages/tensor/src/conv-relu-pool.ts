/**
 * Convolution → ReLU → max pooling as one op, the block the CNNs repeat. Unfused, the three ops make
 * three passes over the convolution's output, each with its own allocation, and their gradients three
 * more (the pool's scatter, ReLU's mask, the product of the two). Fused:
 *
 * - forward: the convolution's output c is pooled through ReLU, recording for every pooled element the
 *   offset of the element it selected in its (n, c) plane of c (as `maxPool2d` does); the `wasm` kernel
 *   does this in one pass, chunk by chunk while the product is still in WebAssembly memory, so c never
 *   exists as a whole and only the pooled output and the indices leave (the `js` kernel is the
 *   reference: conv2d, relu and maxPool2d's own kernel);
 * - backward: the gradient wrt c is one scatter of the upstream gradient through the indices, skipping
 *   pooled elements that are not positive (ReLU clipped them: their selected c was ≤ 0 or NaN), then the
 *   convolution's own gradient kernels.
 *
 * Semantics are those of relu followed by maxPool2d, ties included: the window is scanned over relu(c)
 * (−0 and negatives read as +0, NaN passes), so a window whose elements are all ≤ 0 selects its first
 * element, as maxPool2d does on the ReLU's zeros; among equal maxima the first wins, a NaN wins (the last
 * one). The gradient wrt c equals the unfused mul(scatter(g), greater(c, 0)) wherever the latter is
 * finite; where ReLU clipped, the fused op passes exactly nothing, while the unfused product of an
 * infinite or NaN upstream gradient with the mask's 0 is NaN.
 *
 * The masked scatter has only the `js` kernel: like maxPool2dBackward (see wasm/pool-kernel.ts) it is
 * one pass of scattered adds into a fresh array, which a wasm kernel would have to surround with copies
 * of dy, out, the indices and the result across the boundary.
 */
import { defineKernel, kernelFor } from "./backend/registry.js";
import {
  type Conv2dOptions,
  type ConvGeometry,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  convGeometry,
} from "./conv.js";
import { relu } from "./elementwise.js";
import { fmtShape, ShapeError } from "./errors.js";
import type { WindowGeometry } from "./pair.js";
import {
  type MaxPool2dKernel,
  type Pool2dOptions,
  poolGeometry,
  type WindowTaps,
  windowTaps,
} from "./pool.js";
import { sum } from "./reduce.js";
import { allocData, Tensor } from "./tensor.js";

/** The fused forward's result: what the backward needs besides x and w. */
export interface ConvReluMaxPoolResult {
  /** Pooled activation [N, Cout, Hp, Wp]. */
  out: Tensor;
  /** Per pooled element (row-major), the offset oh·Wc + ow of its selection in its (n, c) plane of the conv output. */
  indices: Int32Array;
  /** Shape [N, Cout, Hc, Wc] of the convolution's output (which the `wasm` kernel never materialises). */
  convShape: number[];
}

/**
 * Kernel contract (arguments validated): `cg` the convolution, `pg` the pooling over its output (C =
 * Cout), `taps` pg's window taps.
 */
export type Conv2dReluMaxPoolKernel = (
  cg: ConvGeometry,
  pg: WindowGeometry,
  taps: WindowTaps,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
) => { out: Tensor; indices: Int32Array };

/** Kernel contract of the masked scatter: dy and out [N, C, Hp, Wp] contiguous-or-not, convShape 4-D. */
export type ReluMaxPoolBackwardKernel = (
  dy: Tensor,
  out: Tensor,
  indices: Int32Array,
  convShape: readonly number[],
) => Tensor;

/**
 * maxPool2d(relu(conv2d(x, w, bias, convOpts)), poolOpts) in one pass over the convolution's output,
 * with the pool's indices into that output.
 */
export function conv2dReluMaxPool(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null | undefined,
  convOpts: Conv2dOptions,
  poolOpts: Pool2dOptions,
): ConvReluMaxPoolResult {
  const op = "conv2dReluMaxPool";
  const cg = convGeometry(op, x.shape, w.shape, convOpts);
  const Cout = w.shape[0]!;
  if (bias != null && (bias.ndim !== 1 || bias.shape[0] !== Cout)) {
    throw new ShapeError(
      op,
      `bias has shape ${fmtShape(bias.shape)}, expected [${Cout}] for weight ${fmtShape(w.shape)}`,
    );
  }
  const convShape = [cg.N, Cout, cg.Hout, cg.Wout];
  const pg = poolGeometry(op, convShape, poolOpts, true);
  const { out, indices } = conv2dReluMaxPoolKernel.current(cg, pg, windowTaps(op, pg), x, w, bias ?? null);
  return { out, indices, convShape };
}

/**
 * Gradient wrt the convolution's output: dy [N, C, Hp, Wp] scattered through `indices` onto a zeroed
 * tensor of `convShape`, skipping the pooled elements of `out` that are not > 0.
 */
export function reluMaxPoolBackward(
  dy: Tensor,
  out: Tensor,
  indices: Int32Array,
  convShape: readonly number[],
): Tensor {
  const op = "reluMaxPoolBackward";
  if (convShape.length !== 4) throw new ShapeError(op, `convShape must be 4-D, got ${fmtShape(convShape)}`);
  const sameShape = (t: Tensor) =>
    t.ndim === 4 &&
    t.shape[0] === convShape[0] &&
    t.shape[1] === convShape[1] &&
    t.shape.every((d, i) => d === out.shape[i]);
  if (!sameShape(out) || !sameShape(dy)) {
    throw new ShapeError(
      op,
      `dy ${fmtShape(dy.shape)} and out ${fmtShape(out.shape)} must both be [${convShape[0]}, ${convShape[1]}, Hp, Wp]`,
    );
  }
  if (indices.length !== dy.size) {
    throw new ShapeError(
      op,
      `${indices.length} indices for dy of shape ${fmtShape(dy.shape)} (${dy.size} elements)`,
    );
  }
  return reluMaxPoolBackwardKernel.current(dy, out, indices, convShape);
}

/** Which gradients `conv2dReluMaxPoolBackward` computes. */
export interface ConvReluMaxPoolNeeds {
  x: boolean;
  w: boolean;
  bias: boolean;
}

/**
 * Gradients of the fused op wrt x, w and bias (null where not asked for): the masked scatter, then the
 * convolution's gradient kernels (which on `wasm` reuse the columns the forward kept).
 */
export function conv2dReluMaxPoolBackward(
  dy: Tensor,
  fwd: ConvReluMaxPoolResult,
  x: Tensor,
  w: Tensor,
  convOpts: Conv2dOptions,
  needs: ConvReluMaxPoolNeeds,
): { dx: Tensor | null; dw: Tensor | null; dbias: Tensor | null } {
  const dc = reluMaxPoolBackward(dy, fwd.out, fwd.indices, fwd.convShape);
  return {
    dx: needs.x ? conv2dBackwardInput(dc, w, x.shape, convOpts) : null,
    dw: needs.w ? conv2dBackwardWeight(dc, x, w.shape, convOpts) : null,
    // Same reduction as the unfused conv2d's bias gradient, so the two agree bit for bit.
    dbias: needs.bias ? sum(dc, [0, 2, 3]) : null,
  };
}

/**
 * The `js` backend's fused forward is the definition itself: the convolution (whichever kernel is
 * active), ReLU, then maxPool2d's `js` kernel, whose indices are offsets into the convolution's planes.
 */
function conv2dReluMaxPoolJs(
  cg: ConvGeometry,
  pg: WindowGeometry,
  taps: WindowTaps,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
): { out: Tensor; indices: Int32Array } {
  const c = conv2d(x, w, bias, {
    stride: [cg.sH, cg.sW],
    padding: [cg.pH, cg.pW],
    dilation: [cg.dH, cg.dW],
    groups: cg.groups,
  });
  maxPool2dJs ??= kernelFor<MaxPool2dKernel>("maxPool2d", "js")!;
  return maxPool2dJs(pg, relu(c), taps);
}

let maxPool2dJs: MaxPool2dKernel | undefined;

/** The `js` backend's masked scatter (it also reports indices outside their plane). */
function reluMaxPoolBackwardJs(
  dy: Tensor,
  out: Tensor,
  indices: Int32Array,
  convShape: readonly number[],
): Tensor {
  const [N, C, H, W] = convShape as [number, number, number, number];
  const plane = H * W;
  const perPlane = dy.shape[2]! * dy.shape[3]!;
  const dyc = dy.contiguous();
  const oc = out.contiguous();
  const g = dyc.data;
  const o = oc.data;
  const dc = allocData(dy.dtype, N * C * plane);
  let k = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * plane;
    for (let j = 0; j < perPlane; j++, k++) {
      const at = indices[k]!;
      if (at < 0 || at >= plane) {
        throw new Error(`reluMaxPoolBackward: index ${at} at position ${k} is outside a plane of ${H}×${W}`);
      }
      // Not positive (or NaN): ReLU clipped the selected element, whose gradient is 0.
      if (o[oc.offset + k]! > 0) dc[base + at] += g[dyc.offset + k]!;
    }
  }
  return new Tensor(dc, [...convShape]);
}

const conv2dReluMaxPoolKernel = defineKernel<Conv2dReluMaxPoolKernel>(
  "conv2dReluMaxPool",
  conv2dReluMaxPoolJs,
);
const reluMaxPoolBackwardKernel = defineKernel<ReluMaxPoolBackwardKernel>(
  "reluMaxPoolBackward",
  reluMaxPoolBackwardJs,
);
