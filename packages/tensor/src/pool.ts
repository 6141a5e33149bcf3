import { defineKernel } from "./backend/registry.js";
import { fmtShape, ShapeError } from "./errors.js";
import { checkInts, pair, stridePaddingDilation, type WindowGeometry } from "./pair.js";
import { allocData, Tensor } from "./tensor.js";

/** Pooling window; a single number applies to both spatial axes. `stride` defaults to the kernel. */
export type Pool2dOptions = {
  kernel: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** Max pooling only. */
  dilation?: number | [number, number];
};

export type AvgPool2dOptions = Pool2dOptions & {
  /** Whether padded positions count in the divisor (default true, as in PyTorch). */
  countIncludePad?: boolean;
};

/**
 * Max pooling over x [N, C, H, W]. Padding acts as −∞ (it is never selected). A NaN in a window wins, as
 * in PyTorch (the last NaN in row-major window order); among equal maxima the first wins.
 *
 * `indices[k]` is, for output element k (row-major over [N, C, Hout, Wout]), the flat offset ih·W + iw
 * of the selected element within its own (n, c) input plane — PyTorch's convention. Padding is limited to
 * half the (dilated) kernel, so a window always holds a real element, except when a dilation wider than
 * the input lets a window straddle it: that configuration is rejected.
 */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): { out: Tensor; indices: Int32Array } {
  const g = poolGeometry("maxPool2d", x.shape, opts, true);
  return maxPool2dKernel.current(g, x, windowTaps("maxPool2d", g));
}

/** For every output row (column), the window taps [lo, hi) that lie inside the input. */
export interface WindowTaps {
  rowLo: Int32Array;
  rowHi: Int32Array;
  colLo: Int32Array;
  colHi: Int32Array;
}

/** Kernel contracts behind the validation of maxPool2d and its gradient. */
export type MaxPool2dKernel = (
  g: WindowGeometry,
  x: Tensor,
  taps: WindowTaps,
) => { out: Tensor; indices: Int32Array };
export type MaxPool2dBackwardKernel = (dy: Tensor, indices: Int32Array, xShape: readonly number[]) => Tensor;

/** The `js` backend's max pooling. */
function maxPool2dJs(
  g: WindowGeometry,
  x: Tensor,
  { rowLo, rowHi, colLo, colHi }: WindowTaps,
): { out: Tensor; indices: Int32Array } {
  const { N, C, H, W, dH, dW, Hout, Wout } = g;
  const xc = x.contiguous();
  const src = xc.data;
  const out = allocData(x.dtype, N * C * Hout * Wout);
  const indices = new Int32Array(out.length);
  const plane = H * W;
  let k = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = xc.offset + nc * plane;
    for (let oh = 0; oh < Hout; oh++) {
      const ih0 = oh * g.sH - g.pH;
      const kiHi = rowHi[oh]!;
      for (let ow = 0; ow < Wout; ow++) {
        const iw0 = ow * g.sW - g.pW;
        const kjHi = colHi[ow]!;
        let best = Number.NEGATIVE_INFINITY;
        let bestAt = -1;
        for (let ki = rowLo[oh]!; ki < kiHi; ki++) {
          const row = (ih0 + ki * dH) * W + iw0;
          for (let kj = colLo[ow]!; kj < kjHi; kj++) {
            const at = row + kj * dW;
            const v = src[base + at]!;
            if (bestAt < 0 || v > best || Number.isNaN(v)) {
              best = v;
              bestAt = at;
            }
          }
        }
        out[k] = best;
        indices[k] = bestAt;
        k++;
      }
    }
  }
  return { out: new Tensor(out, [N, C, Hout, Wout]), indices };
}

/**
 * Gradient of maxPool2d: each upstream value goes to the input element its window selected (sums when
 * windows overlap on the same maximum).
 */
export function maxPool2dBackward(dy: Tensor, indices: Int32Array, xShape: readonly number[]): Tensor {
  const op = "maxPool2dBackward";
  if (xShape.length !== 4)
    throw new ShapeError(op, `input shape must be 4-D [N, C, H, W], got ${fmtShape(xShape)}`);
  if (dy.ndim !== 4 || dy.shape[0] !== xShape[0] || dy.shape[1] !== xShape[1]) {
    throw new ShapeError(
      op,
      `dy has shape ${fmtShape(dy.shape)}, expected [${xShape[0]}, ${xShape[1]}, Hout, Wout] for input ${fmtShape(xShape)}`,
    );
  }
  if (indices.length !== dy.size) {
    throw new ShapeError(
      op,
      `${indices.length} indices for dy of shape ${fmtShape(dy.shape)} (${dy.size} elements)`,
    );
  }
  return maxPool2dBackwardKernel.current(dy, indices, xShape);
}

/** The `js` backend's max-pooling gradient (it also reports indices outside their plane). */
function maxPool2dBackwardJs(dy: Tensor, indices: Int32Array, xShape: readonly number[]): Tensor {
  const op = "maxPool2dBackward";
  const [N, C, H, W] = xShape as [number, number, number, number];
  const plane = H * W;
  const perPlane = dy.shape[2]! * dy.shape[3]!;
  const dyc = dy.contiguous();
  const g = dyc.data;
  const dx = allocData(dy.dtype, N * C * plane);
  let k = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * plane;
    for (let j = 0; j < perPlane; j++, k++) {
      const at = indices[k]!;
      if (at < 0 || at >= plane) {
        throw new Error(`${op}: index ${at} at position ${k} is outside an input plane of ${H}×${W}`);
      }
      dx[base + at] += g[dyc.offset + k]!;
    }
  }
  return new Tensor(dx, [...xShape]);
}

const maxPool2dKernel = defineKernel<MaxPool2dKernel>("maxPool2d", maxPool2dJs);
const maxPool2dBackwardKernel = defineKernel<MaxPool2dBackwardKernel>(
  "maxPool2dBackward",
  maxPool2dBackwardJs,
);

/**
 * Average pooling over x [N, C, H, W]. With `countIncludePad` (the default) every window divides by
 * kH·kW; otherwise by the number of real (non-padding) elements it covers.
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const g = poolGeometry("avgPool2d", x.shape, opts, false);
  const { N, C, H, W, kH, kW, sH, sW, pH, pW, Hout, Wout } = g;
  const { rowLo, rowHi, colLo, colHi } = windowTaps("avgPool2d", g);
  const includePad = opts.countIncludePad ?? true;
  const xc = x.contiguous();
  const src = xc.data;
  const out = allocData(x.dtype, N * C * Hout * Wout);
  const plane = H * W;
  let k = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = xc.offset + nc * plane;
    for (let oh = 0; oh < Hout; oh++) {
      const kiLo = rowLo[oh]!;
      const kiHi = rowHi[oh]!;
      const rowBase = base + (oh * sH - pH) * W;
      for (let ow = 0; ow < Wout; ow++) {
        const kjLo = colLo[ow]!;
        const kjHi = colHi[ow]!;
        const start = rowBase + ow * sW - pW;
        let sum = 0;
        for (let ki = kiLo; ki < kiHi; ki++) {
          const row = start + ki * W;
          for (let kj = kjLo; kj < kjHi; kj++) sum += src[row + kj]!;
        }
        out[k++] = sum / (includePad ? kH * kW : (kiHi - kiLo) * (kjHi - kjLo));
      }
    }
  }
  return new Tensor(out, [N, C, Hout, Wout]);
}

/** Gradient of avgPool2d: each upstream value is spread evenly over the real elements of its window. */
export function avgPool2dBackward(dy: Tensor, xShape: readonly number[], opts: AvgPool2dOptions): Tensor {
  const op = "avgPool2dBackward";
  const g = poolGeometry(op, xShape, opts, false);
  const { N, C, H, W, kH, kW, sH, sW, pH, pW, Hout, Wout } = g;
  const expected = [N, C, Hout, Wout];
  if (dy.ndim !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(op, `dy has shape ${fmtShape(dy.shape)}, expected ${fmtShape(expected)}`);
  }
  const { rowLo, rowHi, colLo, colHi } = windowTaps(op, g);
  const includePad = opts.countIncludePad ?? true;
  const dyc = dy.contiguous();
  const grad = dyc.data;
  const dx = allocData(dy.dtype, N * C * H * W);
  const plane = H * W;
  let k = dyc.offset;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * plane;
    for (let oh = 0; oh < Hout; oh++) {
      const kiLo = rowLo[oh]!;
      const kiHi = rowHi[oh]!;
      const rowBase = base + (oh * sH - pH) * W;
      for (let ow = 0; ow < Wout; ow++) {
        const kjLo = colLo[ow]!;
        const kjHi = colHi[ow]!;
        const start = rowBase + ow * sW - pW;
        const share = grad[k++]! / (includePad ? kH * kW : (kiHi - kiLo) * (kjHi - kjLo));
        for (let ki = kiLo; ki < kiHi; ki++) {
          const row = start + ki * W;
          for (let kj = kjLo; kj < kjHi; kj++) dx[row + kj] += share;
        }
      }
    }
  }
  return new Tensor(dx, [...xShape]);
}

/** Output shape [N, C, Hout, Wout] of pooling x with these options (validated). */
export function pool2dOutputShape(xShape: readonly number[], opts: Pool2dOptions): number[] {
  const g = poolGeometry("pool2d", xShape, opts, true);
  return [g.N, g.C, g.Hout, g.Wout];
}

/**
 * For every output row (column), the window taps [lo, hi) that land inside the input. Computed once per
 * call so the pooling loops do no index arithmetic or allocation per window.
 */
export function windowTaps(op: string, g: WindowGeometry): WindowTaps {
  const rowLo = new Int32Array(g.Hout);
  const rowHi = new Int32Array(g.Hout);
  const colLo = new Int32Array(g.Wout);
  const colHi = new Int32Array(g.Wout);
  fillTaps(op, "row", rowLo, rowHi, g.sH, g.pH, g.dH, g.kH, g.H);
  fillTaps(op, "column", colLo, colHi, g.sW, g.pW, g.dW, g.kW, g.W);
  return { rowLo, rowHi, colLo, colHi };
}

function fillTaps(
  op: string,
  axis: string,
  lo: Int32Array,
  hi: Int32Array,
  stride: number,
  pad: number,
  step: number,
  taps: number,
  size: number,
): void {
  for (let o = 0; o < lo.length; o++) {
    const start = o * stride - pad;
    const first = start >= 0 ? 0 : Math.min(taps, Math.ceil(-start / step));
    const last = size - 1 - start;
    const end = last < 0 ? first : Math.max(first, Math.min(taps, Math.floor(last / step) + 1));
    if (end <= first) {
      // Possible only with a dilation wider than the input, or an empty input: nothing to pool.
      throw new ShapeError(
        op,
        `the window of output ${axis} ${o} covers only padding (input size ${size}, kernel ${taps}, dilation ${step}, padding ${pad})`,
      );
    }
    lo[o] = first;
    hi[o] = end;
  }
}

/** Validate a pooling's input shape and options into its geometry (shared with the fused conv ops). */
export function poolGeometry(
  op: string,
  xShape: readonly number[],
  opts: AvgPool2dOptions,
  allowDilation: boolean,
): WindowGeometry {
  if (xShape.length !== 4)
    throw new ShapeError(op, `input must be 4-D [N, C, H, W], got ${fmtShape(xShape)}`);
  checkInts(op, "input shape", xShape, 0);
  if (opts == null || opts.kernel === undefined) throw new Error(`${op}: options.kernel is required`);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [kH, kW] = pair(op, "kernel", opts.kernel, [0, 0]);
  checkInts(op, "kernel", [kH, kW], 1);
  const { sH, sW, pH, pW, dH, dW } = stridePaddingDilation(op, opts, [kH, kW]);
  if (!allowDilation && (dH !== 1 || dW !== 1)) {
    throw new Error(`${op}: dilation is not supported for average pooling, got [${dH}, ${dW}]`);
  }
  const effH = dH * (kH - 1) + 1;
  const effW = dW * (kW - 1) + 1;
  // Half the window at most, as PyTorch requires: then no window lies entirely in the padding.
  if (2 * pH > effH || 2 * pW > effW) {
    throw new Error(
      `${op}: padding [${pH}, ${pW}] must be at most half the ${allowDilation ? "(dilated) " : ""}kernel ${effH}×${effW}`,
    );
  }
  if (effH > H + 2 * pH || effW > W + 2 * pW) {
    throw new ShapeError(
      op,
      `kernel ${effH}×${effW} is larger than the padded input ${H + 2 * pH}×${W + 2 * pW} (input ${fmtShape(xShape)})`,
    );
  }
  const Hout = Math.floor((H + 2 * pH - effH) / sH) + 1;
  const Wout = Math.floor((W + 2 * pW - effW) / sW) + 1;
  return { N, C, H, W, kH, kW, sH, sW, pH, pW, dH, dW, Hout, Wout };
}
