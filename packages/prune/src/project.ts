import type { Granularity } from "@quant-trim/quant";
import type { Tensor, TypedData } from "@quant-trim/tensor";

/**
 * Projections of a weight group onto [−τ, τ], in place on the contiguous range `data[start, end)`.
 * Elements already inside are never written, so they stay bit-for-bit what they were.
 */

export type TrimMode = "clamp" | "mask";

/** How a weight splits into threshold groups: `count` consecutive runs of `size` elements. */
export interface GroupLayout {
  count: number;
  size: number;
}

/**
 * Per-tensor: one group. Per-channel: one group per output channel, axis 0 — for Linear [out, in] and
 * Conv [out, in, kh, kw] weights each output channel is one contiguous run of the row-major buffer.
 */
export function groupLayout(shape: readonly number[], granularity: Granularity): GroupLayout {
  let size = 1;
  for (const d of shape) size *= d;
  if (granularity === "per-tensor" || shape.length === 0) return { count: 1, size };
  const count = shape[0]!;
  return { count, size: count === 0 ? 0 : size / count };
}

/**
 * A threshold that the buffer can hold exactly and that does not exceed τ: float32 buffers round τ down
 * to the nearest float32, so clamped weights satisfy |w| ≤ τ both as stored and as reported.
 */
export function storableThreshold(tau: number, data: TypedData): number {
  if (!(data instanceof Float32Array)) return tau;
  const f = Math.fround(tau);
  if (f <= tau) return f;
  return nextFloat32Down(f);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function nextFloat32Down(x: number): number {
  if (x === 0) return -Number.MIN_VALUE; // unreachable for τ ≥ 0 but keeps the function total
  f32[0] = x;
  if (x > 0) u32[0] = u32[0]! - 1;
  else u32[0] = u32[0]! + 1;
  return f32[0]!;
}

/** w ← sign(w)·min(|w|, τ); returns how many elements were moved. Requires τ ≥ 0. */
export function clampGroup(data: TypedData, start: number, end: number, tau: number): number {
  const neg = -tau;
  let moved = 0;
  for (let i = start; i < end; i++) {
    const w = data[i]!;
    if (w > tau) {
      data[i] = tau;
      moved++;
    } else if (w < neg) {
      data[i] = neg;
      moved++;
    }
  }
  return moved;
}

/** w ← 0 where |w| > τ (the ablation that prunes the tail instead of clamping it); returns the count. */
export function zeroTailGroup(data: TypedData, start: number, end: number, tau: number): number {
  const neg = -tau;
  let zeroed = 0;
  for (let i = start; i < end; i++) {
    const w = data[i]!;
    if (w > tau || w < neg) {
      data[i] = 0;
      zeroed++;
    }
  }
  return zeroed;
}

/** Throws unless the tensor is a row-major view, which the in-place group projections rely on. */
export function assertContiguous(fn: string, name: string, t: Tensor): void {
  if (!t.isContiguous()) {
    throw new Error(
      `${fn}: parameter '${name}' is a non-contiguous view (shape [${t.shape.join(", ")}], strides [${t.strides.join(", ")}]); pass the contiguous tensor that owns the weights`,
    );
  }
}
