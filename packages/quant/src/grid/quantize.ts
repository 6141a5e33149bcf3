import { fakeQuantizeHalfEvenFast, type Rng } from "@quant-trim/tensor";
import { checkQParams, type QParams } from "./qparams.js";
import { roundWith } from "./rounding.js";
import {
  type ChannelLayout,
  channelLayout,
  checkGridSpec,
  type GridSpec,
  qRange,
  type RoundingMode,
  type ScaleApplication,
} from "./spec.js";

/*
 * Quantize, dequantize and fake-quantize plain Float32Arrays on a grid. The per-element rule, shared by
 * PyTorch, ONNX and TFLite (they differ only in the conventions the spec selects):
 *
 *   v  = fp32(x / s)            or  fp32(x · fp32(1/s))      (spec.scaleApplication)
 *   qf = R(v) + zp                                          (R = spec.rounding; zp added AFTER rounding)
 *   q  = clamp(qf, qmin, qmax)
 *   x̂  = fp32((q − zp) · s)
 *   in-range mask = qmin ≤ qf ≤ qmax                        (PyTorch's STE mask: unclamped value)
 *
 * Data is row-major; a per-channel grid takes channel `c` parameters for every element whose index
 * along `spec.axis` of `shape` is `c`. Output arrays may alias the input (in-place is allowed).
 * NaN inputs: `fakeQuantize` returns NaN (mask 0) so divergence stays visible; `quantize` throws,
 * because no integer stands for NaN. ±Infinity saturates to the end codes (mask 0).
 */

export interface GridOptions {
  /** Seeded generator for `stochastic` rounding (required for that mode, ignored otherwise). */
  readonly rng?: Rng;
}

export interface FakeQuantizeOptions extends GridOptions {
  /**
   * Receives 1 where the unclamped code lies in [qmin, qmax] and 0 elsewhere: the straight-through
   * estimator's gradient mask. An element with mask 0 was clipped below when `x < out` and above when
   * `x > out` (NaN: neither), which is what LSQ's scale gradient needs.
   */
  readonly mask?: Uint8Array;
}

const HALF_EVEN = 0;
const HALF_AWAY = 1;
const HALF_UP = 2;
const FLOOR = 3;
const STOCHASTIC = 4;

function roundingCode(mode: RoundingMode): number {
  switch (mode) {
    case "half-even":
      return HALF_EVEN;
    case "half-away":
      return HALF_AWAY;
    case "half-up":
      return HALF_UP;
    case "floor":
      return FLOOR;
    default:
      return STOCHASTIC;
  }
}

interface Prepared {
  readonly layout: ChannelLayout;
  readonly qmin: number;
  readonly qmax: number;
}

function prepare(
  fn: string,
  x: ArrayLike<number>,
  xType: "Float32Array" | "Int32Array",
  qparams: QParams,
  spec: GridSpec,
  shape: readonly number[] | undefined,
  rng: Rng | undefined,
): Prepared {
  checkGridSpec(spec, fn);
  const okType = xType === "Float32Array" ? x instanceof Float32Array : x instanceof Int32Array;
  if (!okType) {
    const got = x === null || x === undefined ? String(x) : (x.constructor?.name ?? typeof x);
    throw new Error(`${fn}: input must be a ${xType}, got ${got}`);
  }
  const layout = channelLayout(fn, x.length, spec.granularity, spec.axis, shape);
  checkQParams(fn, qparams, spec, layout.channels);
  if (spec.rounding === "stochastic" && rng === undefined && xType === "Float32Array") {
    throw new Error(`${fn}: stochastic rounding needs a seeded Rng in the options ({ rng })`);
  }
  const { qmin, qmax } = qRange(spec);
  return { layout, qmin, qmax };
}

function checkOut(fn: string, out: ArrayLike<number>, type: "Float32Array" | "Int32Array", n: number): void {
  const ok = type === "Float32Array" ? out instanceof Float32Array : out instanceof Int32Array;
  if (!ok || out.length !== n) {
    throw new Error(`${fn}: out must be a ${type} of length ${n}, got length ${out?.length}`);
  }
}

/** 1.5 · 2^52: adding and subtracting it rounds a double with |v| < 2^51 to an integer, ties to even. */
const RNE_MAGIC = 6755399441055744;

/**
 * The loop behind quantize and fakeQuantize. Rounding is branch-free (data-dependent branches
 * mispredict on half the elements): half-even by the 1.5·2^52 trick, half-away as
 * `t + trunc(2(v − t))` with `t = trunc(v)` (the fractional part `v − t` is exact), half-up as
 * `floor(v + 0.5)` and stochastic as `floor(v + u)`, whose sums are exact in float64 for the float32
 * values `v` takes here (`v − floor(v)` would not be: −1e-38 − (−1) rounds to 1). `v` is first pinned
 * to one step outside the grid, which keeps those formulas finite (±Infinity would give NaN) without
 * changing any code or mask bit. Clamping happens in the zero-point-free domain `[qmin − zp, qmax − zp]`,
 * so the fake-quantized value is one float32 product `r · s`.
 *
 * Half-even rounding (training's hot path, and PyTorch's and ONNX's mode) runs in dedicated loops,
 * measured about 1.5× faster than the general loop: its per-element tests of mode and outputs,
 * though predictable, keep V8 from producing tight code.
 */
function gridKernel(
  fn: string,
  x: Float32Array,
  qOut: Int32Array | null,
  fOut: Float32Array | null,
  mask: Uint8Array | null,
  layout: ChannelLayout,
  scale: Float32Array,
  zeroPoint: Int32Array,
  qmin: number,
  qmax: number,
  mode: number,
  divide: boolean,
  rng: Rng | null,
): void {
  const { outer, channels, inner } = layout;
  const fastFake = mode === HALF_EVEN && qOut === null && fOut !== null;
  // The active tensor backend may take the whole half-even fake quantization (the wasm one does, SIMD,
  // bit-exact with the loops below, for large arrays on grids of up to 16 bits); the js one declines.
  if (fastFake && fakeQuantizeHalfEvenFast(x, fOut, mask, layout, scale, zeroPoint, qmin, qmax, divide))
    return;
  let start = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scale[c]!;
      const zp = zeroPoint[c]!;
      const end = start + inner;
      if (fastFake && mask === null) {
        fakeQuantizeHalfEven(x, fOut, start, end, s, qmin - zp, qmax - zp, divide);
      } else if (fastFake) {
        fakeQuantizeHalfEvenMasked(x, fOut, mask!, start, end, s, qmin - zp, qmax - zp, divide);
      } else if (mode === HALF_EVEN && qOut !== null && fOut === null && mask === null) {
        const nan = quantizeHalfEven(x, qOut, start, end, s, zp, qmin, qmax, divide);
        if (nan >= 0) throw new Error(`${fn}: x[${nan}] is NaN; NaN has no integer code`);
      } else {
        generalSegment(fn, x, qOut, fOut, mask, start, end, s, zp, qmin, qmax, mode, divide, rng);
      }
      start = end;
    }
  }
}

/**
 * `x̂ = clamp(rne(x / s), lo, hi) · s` over [start, end). No pinning is needed: the 1.5·2^52 trick
 * leaves ±Infinity and huge values far outside the grid.
 */
function fakeQuantizeHalfEven(
  x: Float32Array,
  out: Float32Array,
  start: number,
  end: number,
  s: number,
  lo: number,
  hi: number,
  divide: boolean,
): void {
  const inv = Math.fround(1 / s);
  const magic = RNE_MAGIC; // a local: module constants are slower context loads in hot loops
  for (let i = start; i < end; i++) {
    const v = divide ? Math.fround(x[i]! / s) : Math.fround(x[i]! * inv);
    let r = v + magic - magic;
    if (r < lo) r = lo;
    else if (r > hi) r = hi;
    out[i] = r * s;
  }
}

/** `fakeQuantizeHalfEven` that also writes the in-range mask. */
function fakeQuantizeHalfEvenMasked(
  x: Float32Array,
  out: Float32Array,
  mask: Uint8Array,
  start: number,
  end: number,
  s: number,
  lo: number,
  hi: number,
  divide: boolean,
): void {
  const inv = Math.fround(1 / s);
  const magic = RNE_MAGIC;
  for (let i = start; i < end; i++) {
    const v = divide ? Math.fround(x[i]! / s) : Math.fround(x[i]! * inv);
    let r = v + magic - magic;
    mask[i] = r >= lo && r <= hi ? 1 : 0;
    if (r < lo) r = lo;
    else if (r > hi) r = hi;
    out[i] = r * s;
  }
}

/** `q = clamp(rne(x / s) + zp, qmin, qmax)` over [start, end); returns the first NaN's index or −1. */
function quantizeHalfEven(
  x: Float32Array,
  out: Int32Array,
  start: number,
  end: number,
  s: number,
  zp: number,
  qmin: number,
  qmax: number,
  divide: boolean,
): number {
  const inv = Math.fround(1 / s);
  const magic = RNE_MAGIC;
  let nan = -1;
  for (let i = start; i < end; i++) {
    const v = divide ? Math.fround(x[i]! / s) : Math.fround(x[i]! * inv);
    let q = v + magic - magic + zp;
    if (q < qmin) q = qmin;
    else if (q > qmax) q = qmax;
    else if (Number.isNaN(q) && nan < 0) nan = i;
    out[i] = q;
  }
  return nan;
}

/** Every mode and output combination (quantize, other roundings). */
function generalSegment(
  fn: string,
  x: Float32Array,
  qOut: Int32Array | null,
  fOut: Float32Array | null,
  mask: Uint8Array | null,
  start: number,
  end: number,
  s: number,
  zp: number,
  qmin: number,
  qmax: number,
  mode: number,
  divide: boolean,
  rng: Rng | null,
): void {
  const inv = Math.fround(1 / s);
  const lo = qmin - zp;
  const hi = qmax - zp;
  const below = lo - 1;
  const above = hi + 1;
  const magic = RNE_MAGIC;
  const halfEven = mode === HALF_EVEN;
  const halfAway = mode === HALF_AWAY;
  const halfUp = mode === HALF_UP;
  const floor = mode === FLOOR;
  for (let i = start; i < end; i++) {
    let v = divide ? Math.fround(x[i]! / s) : Math.fround(x[i]! * inv);
    if (v < below) v = below;
    else if (v > above) v = above;
    let r: number;
    if (halfEven) {
      r = v + magic - magic;
    } else if (halfAway) {
      const t = Math.trunc(v);
      r = t + Math.trunc(2 * (v - t)) + 0; // + 0: a −0 code would make x̂ = −0
    } else if (halfUp) {
      r = Math.floor(v + 0.5);
    } else if (floor) {
      r = Math.floor(v) + 0;
    } else {
      r = Math.floor(v + rng!.nextFloat32());
    }
    if (mask !== null) mask[i] = r >= lo && r <= hi ? 1 : 0;
    if (r < lo) r = lo;
    else if (r > hi) r = hi;
    if (qOut !== null) {
      if (Number.isNaN(r)) throw new Error(`${fn}: x[${i}] is NaN; NaN has no integer code`);
      qOut[i] = r + zp;
    }
    if (fOut !== null) fOut[i] = r * s;
  }
}

/** Quantize into `out` (an Int32Array of x's length). Returns `out`. */
export function quantizeInto(
  out: Int32Array,
  x: Float32Array,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
  options: GridOptions = {},
): Int32Array {
  const fn = "quantize";
  const p = prepare(fn, x, "Float32Array", qparams, spec, shape, options.rng);
  checkOut(fn, out, "Int32Array", x.length);
  gridKernel(
    fn,
    x,
    out,
    null,
    null,
    p.layout,
    qparams.scale,
    qparams.zeroPoint,
    p.qmin,
    p.qmax,
    roundingCode(spec.rounding),
    spec.scaleApplication === "divide",
    options.rng ?? null,
  );
  return out;
}

/** Integer codes of `x` on the grid (`shape` is required for per-channel grids). */
export function quantize(
  x: Float32Array,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
  options: GridOptions = {},
): Int32Array {
  return quantizeInto(new Int32Array(x?.length ?? 0), x, qparams, spec, shape, options);
}

/**
 * Fake-quantize into `out` (a Float32Array of x's length; may be `x` itself): quantize then
 * dequantize, in float32. Optionally writes the in-range mask (see `FakeQuantizeOptions`).
 */
export function fakeQuantizeInto(
  out: Float32Array,
  x: Float32Array,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
  options: FakeQuantizeOptions = {},
): Float32Array {
  const fn = "fakeQuantize";
  const p = prepare(fn, x, "Float32Array", qparams, spec, shape, options.rng);
  checkOut(fn, out, "Float32Array", x.length);
  const mask = options.mask ?? null;
  if (mask !== null && (!(mask instanceof Uint8Array) || mask.length !== x.length)) {
    throw new Error(`${fn}: mask must be a Uint8Array of length ${x.length}`);
  }
  gridKernel(
    fn,
    x,
    null,
    out,
    mask,
    p.layout,
    qparams.scale,
    qparams.zeroPoint,
    p.qmin,
    p.qmax,
    roundingCode(spec.rounding),
    spec.scaleApplication === "divide",
    options.rng ?? null,
  );
  return out;
}

/** `dequantize(quantize(x))` in one pass, as a new Float32Array. */
export function fakeQuantize(
  x: Float32Array,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
  options: FakeQuantizeOptions = {},
): Float32Array {
  return fakeQuantizeInto(new Float32Array(x?.length ?? 0), x, qparams, spec, shape, options);
}

/** Real values `fp32((q − zp) · s)` of integer codes, into `out`. Returns `out`. */
export function dequantizeInto(
  out: Float32Array,
  q: Int32Array,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
): Float32Array {
  const fn = "dequantize";
  const { layout } = prepare(fn, q, "Int32Array", qparams, spec, shape, undefined);
  checkOut(fn, out, "Float32Array", q.length);
  const { outer, channels, inner } = layout;
  const { scale, zeroPoint } = qparams;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scale[c]!;
      const zp = zeroPoint[c]!;
      const end = i + inner;
      for (; i < end; i++) out[i] = (q[i]! - zp) * s;
    }
  }
  return out;
}

/** Real values of integer codes (`shape` is required for per-channel grids). */
export function dequantize(
  q: Int32Array,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
): Float32Array {
  return dequantizeInto(new Float32Array(q?.length ?? 0), q, qparams, spec, shape);
}

/* Per-element forms, for scalar code (autograd ops, simulators, docs). Same rule as the arrays. */

/** `x / s` as the grid evaluates it in float32. */
export function divideByScale(x: number, scale: number, application: ScaleApplication): number {
  const xf = Math.fround(x);
  const s = Math.fround(scale);
  return application === "divide" ? Math.fround(xf / s) : Math.fround(xf * Math.fround(1 / s));
}

/** The unclamped code `R(x / s) + zp` (compare with qRange for the STE mask). */
export function unclampedCode(
  x: number,
  scale: number,
  zeroPoint: number,
  spec: GridSpec,
  rng?: Rng,
): number {
  return roundWith(divideByScale(x, scale, spec.scaleApplication), spec.rounding, rng) + zeroPoint;
}

/** The integer code of one value: `clamp(R(x / s) + zp, qmin, qmax)`. */
export function quantizeValue(
  x: number,
  scale: number,
  zeroPoint: number,
  spec: GridSpec,
  rng?: Rng,
): number {
  if (Number.isNaN(x)) throw new Error("quantizeValue: x is NaN; NaN has no integer code");
  const { qmin, qmax } = qRange(spec);
  return Math.min(Math.max(unclampedCode(x, scale, zeroPoint, spec, rng), qmin), qmax);
}

/** The real value of one code, `fp32((q − zp) · s)`. */
export function dequantizeValue(q: number, scale: number, zeroPoint: number): number {
  return Math.fround((q - zeroPoint) * Math.fround(scale));
}

/** Fake-quantize one value. */
export function fakeQuantizeValue(
  x: number,
  scale: number,
  zeroPoint: number,
  spec: GridSpec,
  rng?: Rng,
): number {
  if (Number.isNaN(x)) return x; // as the array kernel: NaN stays NaN (only integer codes reject it)
  return dequantizeValue(quantizeValue(x, scale, zeroPoint, spec, rng), scale, zeroPoint);
}
