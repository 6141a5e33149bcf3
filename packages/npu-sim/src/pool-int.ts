import { allocateLike, containerRange, isIntArray } from "./int-container.js";
import type { IntArray, OverflowCounts } from "./overflow.js";

/*
 * Max and average pooling on NCHW integer tensors, as TFLite's integer kernels compute them. Input and
 * output share scale and zero point (the TFLite spec requires it), so no rescaling happens: the max is a
 * code, the average is the rounded mean of codes. Padding never contributes a value: a window reads only
 * its in-bounds taps and the average divides by their count (TFLite's "filter_count").
 */

export interface PoolIntOptions {
  kernel: number | readonly [number, number];
  /** Defaults to the kernel. */
  stride?: number | readonly [number, number];
  /** Implicit padding per side; at most kernel − 1 so that every window holds a real element. */
  padding?: number | readonly [number, number];
  /** Output clamp (a fused activation's range); defaults to the container's range. */
  clamp?: { readonly qmin: number; readonly qmax: number };
  overflow?: OverflowCounts;
}

const POOL_OPTIONS = new Set(["kernel", "stride", "padding", "clamp", "overflow"]);

export interface PooledInt<T extends IntArray = IntArray> {
  data: T;
  shape: [number, number, number, number];
}

interface PoolGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  pH: number;
  pW: number;
  Hout: number;
  Wout: number;
  qmin: number;
  qmax: number;
}

function pairOption(
  fn: string,
  name: string,
  v: number | readonly [number, number] | undefined,
  dflt: readonly [number, number],
  min: number,
): [number, number] {
  let pair: [number, number];
  if (v === undefined) pair = [dflt[0], dflt[1]];
  else if (typeof v === "number") pair = [v, v];
  else if (Array.isArray(v) && v.length === 2) pair = [v[0], v[1]];
  else throw new Error(`${fn}: ${name} must be a number or a pair [h, w], got ${JSON.stringify(v)}`);
  for (const x of pair) {
    if (!Number.isInteger(x) || x < min) {
      throw new Error(`${fn}: ${name} must be integers ≥ ${min}, got ${JSON.stringify(v)}`);
    }
  }
  return pair;
}

function poolGeometry(
  fn: string,
  x: IntArray,
  shape: readonly number[],
  options: PoolIntOptions,
): PoolGeometry {
  if (!isIntArray(x)) throw new Error(`${fn}: x must be an Int8Array, Uint8Array, Int16Array or Int32Array`);
  if (options === null || typeof options !== "object") throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!POOL_OPTIONS.has(key)) {
      throw new Error(`${fn}: unknown option '${key}'; known options: ${[...POOL_OPTIONS].join(", ")}`);
    }
  }
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(
      `${fn}: shape must be [N, C, H, W] of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  const [N, C, H, W] = shape as [number, number, number, number];
  if (N * C * H * W !== x.length) {
    throw new Error(`${fn}: shape [${shape.join(", ")}] has ${N * C * H * W} elements but x has ${x.length}`);
  }
  if (options.kernel === undefined) throw new Error(`${fn}: options.kernel is required`);
  const [kH, kW] = pairOption(fn, "kernel", options.kernel, [1, 1], 1);
  const [sH, sW] = pairOption(fn, "stride", options.stride, [kH, kW], 1);
  const [pH, pW] = pairOption(fn, "padding", options.padding, [0, 0], 0);
  if (pH >= kH || pW >= kW) {
    throw new Error(`${fn}: padding [${pH}, ${pW}] must be smaller than the kernel [${kH}, ${kW}]`);
  }
  if (H + 2 * pH < kH || W + 2 * pW < kW) {
    throw new Error(
      `${fn}: kernel [${kH}, ${kW}] is larger than the padded input [${H + 2 * pH}, ${W + 2 * pW}]`,
    );
  }
  const Hout = Math.floor((H + 2 * pH - kH) / sH) + 1;
  const Wout = Math.floor((W + 2 * pW - kW) / sW) + 1;
  const range = containerRange(x);
  let qmin = range.min;
  let qmax = range.max;
  if (options.clamp !== undefined) {
    const c = options.clamp;
    if (
      c === null ||
      typeof c !== "object" ||
      !Number.isInteger(c.qmin) ||
      !Number.isInteger(c.qmax) ||
      c.qmin > c.qmax ||
      c.qmin < range.min ||
      c.qmax > range.max
    ) {
      throw new Error(
        `${fn}: clamp must be integers qmin ≤ qmax inside the container range [${range.min}, ${range.max}], got ${JSON.stringify(c)}`,
      );
    }
    qmin = c.qmin;
    qmax = c.qmax;
  }
  return { N, C, H, W, kH, kW, sH, sW, pH, pW, Hout, Wout, qmin, qmax };
}

/**
 * Max pooling over in-bounds taps (TFLite MAX_POOL_2D, integer path), then the optional clamp. The
 * output has the input's container and, by the spec, its scale and zero point.
 */
export function maxPool2dInt<T extends IntArray>(
  x: T,
  shape: readonly number[],
  options: PoolIntOptions,
): PooledInt<T> {
  const fn = "maxPool2dInt";
  const g = poolGeometry(fn, x, shape, options);
  const out = allocateLike(x, g.N * g.C * g.Hout * g.Wout) as T;
  count(options.overflow, poolPlanes(x, out, g, false), out.length);
  return { data: out, shape: [g.N, g.C, g.Hout, g.Wout] };
}

/**
 * Average pooling (TFLite AVERAGE_POOL_2D, integer path): the int32 sum of the in-bounds codes divided
 * by their count, rounded half away from zero as TFLite writes it —
 * `sum > 0 ? (sum + n/2) / n : (sum − n/2) / n` with truncating integer division — then the optional
 * clamp. A sum outside int32 (only possible for Int32Array input) wraps as the C++ int32 does and is
 * counted as an accumulator overflow.
 */
export function avgPool2dInt<T extends IntArray>(
  x: T,
  shape: readonly number[],
  options: PoolIntOptions,
): PooledInt<T> {
  const fn = "avgPool2dInt";
  const g = poolGeometry(fn, x, shape, options);
  const out = allocateLike(x, g.N * g.C * g.Hout * g.Wout) as T;
  count(options.overflow, poolPlanes(x, out, g, true), out.length);
  return { data: out, shape: [g.N, g.C, g.Hout, g.Wout] };
}

function count(overflow: OverflowCounts | undefined, events: PoolEvents, elements: number): void {
  if (overflow === undefined) return;
  overflow.accumulator += events.wraps;
  overflow.outputClamps += events.clamps;
  overflow.elements += elements;
}

interface PoolEvents {
  /** Outputs moved by the clamp. */
  clamps: number;
  /** Average-pool sums that left int32 and wrapped. */
  wraps: number;
}

function poolPlanes(x: IntArray, out: IntArray, g: PoolGeometry, average: boolean): PoolEvents {
  const { H, W, kH, kW, sH, sW, pH, pW, Hout, Wout, qmin, qmax } = g;
  const plane = H * W;
  let clamps = 0;
  let wraps = 0;
  let k = 0;
  for (let nc = 0; nc < g.N * g.C; nc++) {
    const base = nc * plane;
    for (let oh = 0; oh < Hout; oh++) {
      const h0 = oh * sH - pH;
      const hLo = Math.max(h0, 0);
      const hHi = Math.min(h0 + kH, H);
      for (let ow = 0; ow < Wout; ow++) {
        const w0 = ow * sW - pW;
        const wLo = Math.max(w0, 0);
        const wHi = Math.min(w0 + kW, W);
        let v: number;
        if (average) {
          let sum = 0;
          for (let h = hLo; h < hHi; h++) {
            const row = base + h * W;
            for (let w = wLo; w < wHi; w++) sum += x[row + w]!;
          }
          if (sum > 2147483647 || sum < -2147483648) {
            sum |= 0;
            wraps++;
          }
          const n = (hHi - hLo) * (wHi - wLo);
          const half = n >> 1;
          v = Math.trunc((sum > 0 ? (sum + half) | 0 : (sum - half) | 0) / n);
        } else {
          v = x[base + hLo * W + wLo]!;
          for (let h = hLo; h < hHi; h++) {
            const row = base + h * W;
            for (let w = wLo; w < wHi; w++) {
              const t = x[row + w]!;
              if (t > v) v = t;
            }
          }
        }
        if (v < qmin) {
          v = qmin;
          clamps++;
        } else if (v > qmax) {
          v = qmax;
          clamps++;
        }
        out[k++] = v;
      }
    }
  }
  return { clamps, wraps };
}
