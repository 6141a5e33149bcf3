/*
 * Integer im2col for one image and one group of an NCHW convolution: row p = oh·Wout + ow holds the
 * Cg·kH·kW input codes that output position reads, so the convolution becomes a GEMM of these rows
 * against the weights. Taps outside the image read the input zero point (real 0), which is TFLite's
 * "omit the tap" and what x86 kernels that add zero-point corrections see. The codes stay raw (same
 * container as the input); the GEMM subtracts the zero point, or keeps the raw codes for pair saturation.
 */

/** The order of the reduction index k within one output (see `Conv2dIntOptions.reductionOrder`). */
export type ReductionOrder = "c-kh-kw" | "kh-kw-c";

export const REDUCTION_ORDERS: readonly ReductionOrder[] = ["c-kh-kw", "kh-kw-c"];

export interface ConvGeometry {
  C: number;
  H: number;
  W: number;
  /** Input channels per group. */
  Cg: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  padTop: number;
  padLeft: number;
  dH: number;
  dW: number;
  Hout: number;
  Wout: number;
}

/**
 * Offsets of reduction index k within one output channel's Cg·kH·kW weights (stored c, kh, kw), so the
 * GEMM reads the weights in the same order as im2col wrote the taps.
 */
export function reductionOffsets(g: ConvGeometry, order: ReductionOrder): Float64Array {
  const taps = g.kH * g.kW;
  const K = g.Cg * taps;
  const off = new Float64Array(K);
  if (order === "c-kh-kw") {
    for (let k = 0; k < K; k++) off[k] = k;
  } else {
    let k = 0;
    for (let t = 0; t < taps; t++) for (let c = 0; c < g.Cg; c++) off[k++] = c * taps + t;
  }
  return off;
}

/**
 * Fill dst[p·K + k] (K = Cg·kH·kW, P = Hout·Wout rows) from image `n`, input channels
 * [c0, c0 + Cg), with `zeroPoint` for taps in the padding.
 */
export function im2colInt(
  x: Uint8Array | Int8Array,
  n: number,
  c0: number,
  g: ConvGeometry,
  order: ReductionOrder,
  zeroPoint: number,
  dst: Uint8Array | Int8Array,
): void {
  const { H, W, Cg, kH, kW, sH, sW, padTop, padLeft, dH, dW, Hout, Wout } = g;
  const taps = kH * kW;
  const K = Cg * taps;
  const plane = H * W;
  for (let c = 0; c < Cg; c++) {
    const src = (n * g.C + c0 + c) * plane;
    for (let ky = 0; ky < kH; ky++) {
      for (let kx = 0; kx < kW; kx++) {
        const t = ky * kW + kx;
        const k = order === "c-kh-kw" ? c * taps + t : t * Cg + c;
        const dx = kx * dW - padLeft;
        for (let oh = 0; oh < Hout; oh++) {
          const ih = oh * sH - padTop + ky * dH;
          let d = oh * Wout * K + k;
          if (ih < 0 || ih >= H) {
            for (let ow = 0; ow < Wout; ow++, d += K) dst[d] = zeroPoint;
            continue;
          }
          // Outputs [owLo, owHi) read inside the row; the ones before and after read the padding. Split
          // so the inner copy has no bounds test (this loop is a large part of a small-K convolution).
          const owLo = dx >= 0 ? 0 : Math.min(Wout, Math.ceil(-dx / sW));
          const owHi = dx > W - 1 ? owLo : Math.max(owLo, Math.min(Wout, Math.floor((W - 1 - dx) / sW) + 1));
          let ow = 0;
          for (; ow < owLo; ow++, d += K) dst[d] = zeroPoint;
          for (let s = src + ih * W + dx + ow * sW; ow < owHi; ow++, s += sW, d += K) dst[d] = x[s]!;
          for (; ow < Wout; ow++, d += K) dst[d] = zeroPoint;
        }
      }
    }
  }
}
