/**
 * Backend fast paths for other packages' kernels: the package that owns the math validates and decides
 * when a case qualifies, then offers it here; the `js` backend declines (returns false), and the caller
 * runs its own loop. A backend that accepts must produce exactly what that loop would.
 */
import { defineKernel } from "./registry.js";

/** Row-major layout of a per-channel array: element i belongs to channel ⌊i / inner⌋ mod channels. */
export interface ChannelRuns {
  readonly outer: number;
  readonly channels: number;
  readonly inner: number;
}

/**
 * Fake quantization with round-half-even on an integer grid of at most 16 bits (quant's fast case):
 * out[i] = fp32(clamp(rne(v), qmin − zp, qmax − zp) · s) with v = fp32(x / s), or fp32(x · fp32(1/s))
 * when `divide` is false, and mask[i] = 1 where the unclamped rne(v) lies in [qmin − zp, qmax − zp].
 * Returns whether the active backend did it.
 */
export type FakeQuantizeHalfEvenKernel = (
  x: Float32Array,
  out: Float32Array,
  mask: Uint8Array | null,
  layout: ChannelRuns,
  scale: Float32Array,
  zeroPoint: Int32Array,
  qmin: number,
  qmax: number,
  divide: boolean,
) => boolean;

const fakeQuantizeHalfEven = defineKernel<FakeQuantizeHalfEvenKernel>("fakeQuantizeHalfEven", () => false);

export const fakeQuantizeHalfEvenFast: FakeQuantizeHalfEvenKernel = (
  x,
  out,
  mask,
  layout,
  scale,
  zeroPoint,
  qmin,
  qmax,
  divide,
) => fakeQuantizeHalfEven.current(x, out, mask, layout, scale, zeroPoint, qmin, qmax, divide);
