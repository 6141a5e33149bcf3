import { defineKernel } from "./backend/registry.js";
import { fmtShape, ShapeError } from "./errors.js";
import { gemm } from "./gemm.js";
import { checkInts, stridePaddingDilation, type WindowGeometry } from "./pair.js";
import { allocData, type DType, shapeSize, Tensor, type TypedData } from "./tensor.js";

/** Convolution hyper-parameters; a single number applies to both spatial axes. */
export type Conv2dOptions = {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
};

/**
 * Everything the kernels need about one convolution, validated once. Input is NCHW; the kernel window
 * of output pixel (oh, ow) covers input rows oh·sH − pH + ki·dH and columns ow·sW − pW + kj·dW.
 */
export interface ConvGeometry extends WindowGeometry {
  groups: number;
}

/** Kernel contracts behind the validation of conv2d and its two gradients (all arguments checked). */
export type Conv2dForwardKernel = (g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null) => Tensor;
export type Conv2dBackwardInputKernel = (
  g: ConvGeometry,
  dy: Tensor,
  w: Tensor,
  xShape: readonly number[],
) => Tensor;
export type Conv2dBackwardWeightKernel = (
  g: ConvGeometry,
  dy: Tensor,
  x: Tensor,
  wShape: readonly number[],
) => Tensor;

/** Output shape [N, Cout, Hout, Wout] of conv2d for x [N, Cin, H, W] and w [Cout, Cin/groups, kH, kW]. */
export function conv2dOutputShape(
  xShape: readonly number[],
  wShape: readonly number[],
  opts: Conv2dOptions = {},
): number[] {
  const g = convGeometry("conv2d", xShape, wShape, opts);
  return [g.N, wShape[0]!, g.Hout, g.Wout];
}

/**
 * Unfold every kernel window of x [N, C, H, W] into a column: the result has shape
 * [N, C·kH·kW, Hout·Wout], row index (c, ki, kj) and column index (oh, ow), both row-major.
 *
 * Why this layout: for one image, convolution is then the plain row-major product
 * W[Cout, C·kH·kW] · cols[C·kH·kW, Hout·Wout], which lands directly in the NCHW output (no transpose),
 * the rows of one channel group are a contiguous block, and the weight gradient is dY · colsᵀ, whose
 * transposed operand gemm reads with unit stride. Padding reads as zero. `groups` is ignored here: every
 * channel is unfolded. Per-image slices are small enough to stay in cache, which is why the convolution
 * routines below unfold one image at a time instead of calling this function.
 */
export function im2col(x: Tensor, kH: number, kW: number, opts: Conv2dOptions = {}): Tensor {
  const g = convGeometry("im2col", x.shape, kernelOnlyShape("im2col", x.shape, kH, kW), {
    ...opts,
    groups: 1,
  });
  const xc = x.contiguous();
  const rows = g.C * kH * kW;
  const hw = g.Hout * g.Wout;
  const out = allocData(x.dtype, g.N * rows * hw);
  for (let n = 0; n < g.N; n++) {
    im2colImage(xc.data, xc.offset + n * g.C * g.H * g.W, g, out, n * rows * hw);
  }
  return new Tensor(out, [g.N, rows, hw]);
}

/**
 * The adjoint of `im2col`: scatter-add every column of cols [N, C·kH·kW, Hout·Wout] back onto its window
 * of an input-shaped tensor. Overlapping windows sum; entries that im2col read from padding are dropped.
 */
export function col2im(
  cols: Tensor,
  xShape: readonly number[],
  kH: number,
  kW: number,
  opts: Conv2dOptions = {},
): Tensor {
  const g = convGeometry("col2im", xShape, kernelOnlyShape("col2im", xShape, kH, kW), {
    ...opts,
    groups: 1,
  });
  const rows = g.C * kH * kW;
  const hw = g.Hout * g.Wout;
  const expected = [g.N, rows, hw];
  if (cols.ndim !== 3 || cols.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(
      "col2im",
      `cols has shape ${fmtShape(cols.shape)}, expected ${fmtShape(expected)} for input ${fmtShape(xShape)} and kernel ${kH}×${kW}`,
    );
  }
  const cc = cols.contiguous();
  const out = allocData(cols.dtype, shapeSize(xShape));
  for (let n = 0; n < g.N; n++) {
    col2imImage(cc.data, cc.offset + n * rows * hw, g, out, n * g.C * g.H * g.W);
  }
  return new Tensor(out, xShape);
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch): x [N, Cin, H, W], w [Cout, Cin/groups, kH, kW],
 * optional bias [Cout] → [N, Cout, Hout, Wout]. Each image is unfolded by im2col into a scratch buffer
 * and multiplied, group by group, by the weight matrix with gemm, straight into the output.
 */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const g = convGeometry("conv2d", x.shape, w.shape, opts);
  const Cout = w.shape[0]!;
  if (bias != null && (bias.ndim !== 1 || bias.shape[0] !== Cout)) {
    throw new ShapeError(
      "conv2d",
      `bias has shape ${fmtShape(bias.shape)}, expected [${Cout}] for weight ${fmtShape(w.shape)}`,
    );
  }
  return conv2dForwardKernel.current(g, x, w, bias ?? null);
}

/** The `js` backend's forward convolution: per image, im2col into a scratch buffer, then gemm. */
function conv2dForwardJs(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  const Cout = w.shape[0]!;
  const dtype = resultType(x, w);
  const xc = x.contiguous();
  const wc = w.contiguous();
  const hw = g.Hout * g.Wout;
  const coutG = Cout / g.groups;
  const kG = (g.C / g.groups) * g.kH * g.kW;
  const imageSize = g.C * g.H * g.W;
  const out = allocData(dtype, g.N * Cout * hw);
  const direct = isPointwise(g);
  const cols = direct ? null : colsScratch(dtype, g.C * g.kH * g.kW * hw);
  for (let n = 0; n < g.N; n++) {
    const outImage = n * Cout * hw;
    let beta = 0;
    if (bias != null) {
      // Seed the output with the bias so gemm accumulates onto it while the block is hot in cache.
      const bs = bias.strides[0]!;
      for (let co = 0; co < Cout; co++) {
        out.fill(bias.data[bias.offset + co * bs]!, outImage + co * hw, outImage + (co + 1) * hw);
      }
      beta = 1;
    }
    let src: TypedData = xc.data;
    let srcOff = xc.offset + n * imageSize;
    if (cols !== null) {
      im2colImage(xc.data, srcOff, g, cols, 0);
      src = cols;
      srcOff = 0;
    }
    for (let gi = 0; gi < g.groups; gi++) {
      gemm(
        false,
        false,
        coutG,
        hw,
        kG,
        1,
        wc.data,
        wc.offset + gi * coutG * kG,
        kG,
        src,
        srcOff + gi * kG * hw,
        hw,
        beta,
        out,
        outImage + gi * coutG * hw,
        hw,
      );
    }
  }
  return new Tensor(out, [g.N, Cout, g.Hout, g.Wout]);
}

/**
 * Gradient of conv2d with respect to its input: dx = col2im(wᵀ · dy), per image and group.
 * `dy` must have the conv2d output shape for `xShape` and `w`.
 */
export function conv2dBackwardInput(
  dy: Tensor,
  w: Tensor,
  xShape: readonly number[],
  opts: Conv2dOptions = {},
): Tensor {
  const op = "conv2dBackwardInput";
  const g = convGeometry(op, xShape, w.shape, opts);
  const Cout = w.shape[0]!;
  checkGradShape(op, "dy", dy.shape, [g.N, Cout, g.Hout, g.Wout]);
  return conv2dBackwardInputKernel.current(g, dy, w, xShape);
}

/** The `js` backend's input gradient: per image and group, wᵀ · dy with gemm, then col2im. */
function conv2dBackwardInputJs(g: ConvGeometry, dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor {
  const Cout = w.shape[0]!;
  const dtype = resultType(dy, w);
  const dyc = dy.contiguous();
  const wc = w.contiguous();
  const hw = g.Hout * g.Wout;
  const coutG = Cout / g.groups;
  const kG = (g.C / g.groups) * g.kH * g.kW;
  const imageSize = g.C * g.H * g.W;
  const dx = allocData(dtype, g.N * imageSize);
  const direct = isPointwise(g);
  const cols = direct ? null : colsScratch(dtype, g.C * g.kH * g.kW * hw);
  for (let n = 0; n < g.N; n++) {
    const dst = cols ?? dx;
    const dstOff = cols === null ? n * imageSize : 0;
    for (let gi = 0; gi < g.groups; gi++) {
      gemm(
        true,
        false,
        kG,
        hw,
        coutG,
        1,
        wc.data,
        wc.offset + gi * coutG * kG,
        kG,
        dyc.data,
        dyc.offset + (n * Cout + gi * coutG) * hw,
        hw,
        0,
        dst,
        dstOff + gi * kG * hw,
        hw,
      );
    }
    if (cols !== null) col2imImage(cols, 0, g, dx, n * imageSize);
  }
  return new Tensor(dx, [...xShape]);
}

/**
 * Gradient of conv2d with respect to its weight: dw = Σₙ dyₙ · im2col(xₙ)ᵀ, per group. The columns are
 * recomputed from x rather than kept from the forward pass, which would cost N times the memory.
 */
export function conv2dBackwardWeight(
  dy: Tensor,
  x: Tensor,
  wShape: readonly number[],
  opts: Conv2dOptions = {},
): Tensor {
  const op = "conv2dBackwardWeight";
  const g = convGeometry(op, x.shape, wShape, opts);
  const Cout = wShape[0]!;
  checkGradShape(op, "dy", dy.shape, [g.N, Cout, g.Hout, g.Wout]);
  return conv2dBackwardWeightKernel.current(g, dy, x, wShape);
}

/** The `js` backend's weight gradient: Σₙ dyₙ · im2col(xₙ)ᵀ per group, the columns rebuilt per image. */
function conv2dBackwardWeightJs(g: ConvGeometry, dy: Tensor, x: Tensor, wShape: readonly number[]): Tensor {
  const Cout = wShape[0]!;
  const dtype = resultType(dy, x);
  const dyc = dy.contiguous();
  const xc = x.contiguous();
  const hw = g.Hout * g.Wout;
  const coutG = Cout / g.groups;
  const kG = (g.C / g.groups) * g.kH * g.kW;
  const imageSize = g.C * g.H * g.W;
  const dw = allocData(dtype, shapeSize(wShape));
  const direct = isPointwise(g);
  const cols = direct ? null : colsScratch(dtype, g.C * g.kH * g.kW * hw);
  for (let n = 0; n < g.N; n++) {
    let src: TypedData = xc.data;
    let srcOff = xc.offset + n * imageSize;
    if (cols !== null) {
      im2colImage(xc.data, srcOff, g, cols, 0);
      src = cols;
      srcOff = 0;
    }
    for (let gi = 0; gi < g.groups; gi++) {
      gemm(
        false,
        true,
        coutG,
        kG,
        hw,
        1,
        dyc.data,
        dyc.offset + (n * Cout + gi * coutG) * hw,
        hw,
        src,
        srcOff + gi * kG * hw,
        hw,
        n === 0 ? 0 : 1,
        dw,
        gi * coutG * kG,
        kG,
      );
    }
  }
  return new Tensor(dw, [...wShape]);
}

const conv2dForwardKernel = defineKernel<Conv2dForwardKernel>("conv2d", conv2dForwardJs);
const conv2dBackwardInputKernel = defineKernel<Conv2dBackwardInputKernel>(
  "conv2dBackwardInput",
  conv2dBackwardInputJs,
);
const conv2dBackwardWeightKernel = defineKernel<Conv2dBackwardWeightKernel>(
  "conv2dBackwardWeight",
  conv2dBackwardWeightJs,
);

// ---------------------------------------------------------------------------------------------------
// Kernels on one image.

/** Unfold image x[xOff …] (C×H×W, contiguous) into cols[colsOff …] ((C·kH·kW) × (Hout·Wout)). */
function im2colImage(x: TypedData, xOff: number, g: ConvGeometry, cols: TypedData, colsOff: number): void {
  const { C, H, W, kH, kW, sH, sW, pH, pW, dH, dW, Hout, Wout } = g;
  let d = colsOff;
  for (let c = 0; c < C; c++) {
    const plane = xOff + c * H * W;
    for (let ki = 0; ki < kH; ki++) {
      const ih0 = ki * dH - pH;
      for (let kj = 0; kj < kW; kj++) {
        const iw0 = kj * dW - pW;
        const lo = firstInside(iw0, sW, Wout);
        const hi = endInside(iw0, sW, W, Wout, lo);
        for (let oh = 0; oh < Hout; oh++) {
          const ih = oh * sH + ih0;
          if (ih < 0 || ih >= H) {
            for (let ow = 0; ow < Wout; ow++) cols[d + ow] = 0;
          } else {
            const src = plane + ih * W + iw0;
            for (let ow = 0; ow < lo; ow++) cols[d + ow] = 0;
            if (sW === 1) for (let ow = lo; ow < hi; ow++) cols[d + ow] = x[src + ow]!;
            else for (let ow = lo; ow < hi; ow++) cols[d + ow] = x[src + ow * sW]!;
            for (let ow = hi; ow < Wout; ow++) cols[d + ow] = 0;
          }
          d += Wout;
        }
      }
    }
  }
}

/** Scatter-add cols[colsOff …] back onto image dx[dxOff …]: the adjoint of im2colImage. */
function col2imImage(cols: TypedData, colsOff: number, g: ConvGeometry, dx: TypedData, dxOff: number): void {
  const { C, H, W, kH, kW, sH, sW, pH, pW, dH, dW, Hout, Wout } = g;
  let d = colsOff;
  for (let c = 0; c < C; c++) {
    const plane = dxOff + c * H * W;
    for (let ki = 0; ki < kH; ki++) {
      const ih0 = ki * dH - pH;
      for (let kj = 0; kj < kW; kj++) {
        const iw0 = kj * dW - pW;
        const lo = firstInside(iw0, sW, Wout);
        const hi = endInside(iw0, sW, W, Wout, lo);
        for (let oh = 0; oh < Hout; oh++) {
          const ih = oh * sH + ih0;
          if (ih >= 0 && ih < H) {
            const dst = plane + ih * W + iw0;
            if (sW === 1) for (let ow = lo; ow < hi; ow++) dx[dst + ow] += cols[d + ow]!;
            else for (let ow = lo; ow < hi; ow++) dx[dst + ow * sW] += cols[d + ow]!;
          }
          d += Wout;
        }
      }
    }
  }
}

/** First output column whose input column iw0 + ow·s is ≥ 0 (capped at Wout). */
function firstInside(iw0: number, s: number, Wout: number): number {
  return iw0 >= 0 ? 0 : Math.min(Wout, Math.ceil(-iw0 / s));
}

/** One past the last output column whose input column iw0 + ow·s is < W (never below `lo`). */
function endInside(iw0: number, s: number, W: number, Wout: number, lo: number): number {
  if (W - 1 - iw0 < 0) return lo;
  return Math.max(lo, Math.min(Wout, Math.floor((W - 1 - iw0) / s) + 1));
}

/** A 1×1 kernel with unit stride and no padding: im2col would copy the image unchanged. */
function isPointwise(g: ConvGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.sH === 1 && g.sW === 1 && g.pH === 0 && g.pW === 0;
}

let scratchF32 = new Float32Array(0);
let scratchF64 = new Float64Array(0);

/** Process-wide column buffer (one image at a time), grown on demand and reused across calls. */
function colsScratch(dtype: DType, n: number): TypedData {
  if (dtype === "float32") {
    if (scratchF32.length < n) scratchF32 = new Float32Array(n);
    return scratchF32;
  }
  if (scratchF64.length < n) scratchF64 = new Float64Array(n);
  return scratchF64;
}

function resultType(a: Tensor, b: Tensor): DType {
  return a.dtype === "float64" || b.dtype === "float64" ? "float64" : "float32";
}

// ---------------------------------------------------------------------------------------------------
// Validation.

/** The weight shape im2col/col2im validate against: every channel, one group. */
function kernelOnlyShape(op: string, xShape: readonly number[], kH: number, kW: number): number[] {
  checkInts(op, "kernel size", [kH, kW], 1);
  return [1, xShape.length === 4 ? xShape[1]! : 0, kH, kW];
}

function checkGradShape(op: string, name: string, got: readonly number[], expected: readonly number[]): void {
  if (got.length !== expected.length || got.some((d, i) => d !== expected[i])) {
    throw new ShapeError(op, `${name} has shape ${fmtShape(got)}, expected ${fmtShape(expected)}`);
  }
}

/** Validate a convolution's shapes and options into its geometry (shared with the fused conv ops). */
export function convGeometry(
  op: string,
  xShape: readonly number[],
  wShape: readonly number[],
  opts: Conv2dOptions,
): ConvGeometry {
  if (xShape.length !== 4) {
    throw new ShapeError(op, `input must be 4-D [N, C, H, W], got ${fmtShape(xShape)}`);
  }
  if (wShape.length !== 4) {
    throw new ShapeError(op, `weight must be 4-D [Cout, Cin/groups, kH, kW], got ${fmtShape(wShape)}`);
  }
  checkInts(op, "input shape", xShape, 0);
  checkInts(op, "weight shape", wShape, 0);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [Cout, CinG, kH, kW] = wShape as [number, number, number, number];
  const { sH, sW, pH, pW, dH, dW } = stridePaddingDilation(op, opts, [1, 1]);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) {
    throw new Error(`${op}: groups must be a positive integer, got ${groups}`);
  }
  if (kH < 1 || kW < 1)
    throw new ShapeError(op, `kernel must be at least 1×1, got weight ${fmtShape(wShape)}`);
  if (C % groups !== 0 || Cout % groups !== 0) {
    throw new ShapeError(
      op,
      `groups = ${groups} must divide both input channels (${C}) and output channels (${Cout})`,
    );
  }
  if (CinG * groups !== C) {
    throw new ShapeError(
      op,
      `weight ${fmtShape(wShape)} expects ${CinG * groups} input channels (${CinG} per group × ${groups} groups), but input ${fmtShape(xShape)} has ${C}`,
    );
  }
  const effH = dH * (kH - 1) + 1;
  const effW = dW * (kW - 1) + 1;
  if (effH > H + 2 * pH || effW > W + 2 * pW) {
    throw new ShapeError(
      op,
      `kernel ${kH}×${kW} (${effH}×${effW} with dilation) is larger than the padded input ${H + 2 * pH}×${W + 2 * pW} (input ${fmtShape(xShape)}, padding [${pH}, ${pW}])`,
    );
  }
  const Hout = Math.floor((H + 2 * pH - effH) / sH) + 1;
  const Wout = Math.floor((W + 2 * pW - effW) / sW) + 1;
  return { N, C, H, W, kH, kW, sH, sW, pH, pW, dH, dW, groups, Hout, Wout };
}
