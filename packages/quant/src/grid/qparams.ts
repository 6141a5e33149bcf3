import { roundHalfEven, roundNearest } from "./rounding.js";
import { checkGridSpec, type GridSpec, MIN_NORMAL_FLOAT32, qRange, symmetricZeroPoint } from "./spec.js";

/**
 * Scale and zero point of a grid: `real ≈ scale · (q − zeroPoint)`. Length 1 for per-tensor grids,
 * one entry per channel for per-channel grids.
 */
export interface QParams {
  readonly scale: Float32Array;
  readonly zeroPoint: Int32Array;
}

/** Build QParams from plain numbers (scales are rounded to float32, zero points must be integers). */
export function makeQParams(
  scale: number | ArrayLike<number>,
  zeroPoint: number | ArrayLike<number> = 0,
): QParams {
  const s = typeof scale === "number" ? [scale] : Array.from(scale);
  const z =
    typeof zeroPoint === "number" ? new Array<number>(s.length).fill(zeroPoint) : Array.from(zeroPoint);
  if (z.length !== s.length) {
    throw new Error(`makeQParams: ${s.length} scales but ${z.length} zero points`);
  }
  z.forEach((v, i) => {
    if (!Number.isInteger(v)) throw new Error(`makeQParams: zeroPoint[${i}] = ${v} is not an integer`);
  });
  return { scale: Float32Array.from(s), zeroPoint: Int32Array.from(z) };
}

/**
 * Throw an Error naming `fn` unless `qparams` fits `spec` for `channels` channels: typed arrays of
 * the right length, every scale a finite float32 ≥ 2^-126 (so its reciprocal is finite), every zero
 * point inside [qmin, qmax].
 */
export function checkQParams(fn: string, qparams: QParams, spec: GridSpec, channels: number): void {
  if (qparams === null || typeof qparams !== "object") {
    throw new Error(
      `${fn}: qparams must be { scale: Float32Array, zeroPoint: Int32Array }, got ${String(qparams)}`,
    );
  }
  const { scale, zeroPoint } = qparams;
  if (!(scale instanceof Float32Array) || !(zeroPoint instanceof Int32Array)) {
    throw new Error(`${fn}: qparams must hold a Float32Array scale and an Int32Array zeroPoint`);
  }
  const expected = spec.granularity === "per-tensor" ? 1 : channels;
  if (scale.length !== expected || zeroPoint.length !== expected) {
    throw new Error(
      `${fn}: ${spec.granularity} grid over ${channels} channel(s) needs ${expected} scale(s) and zero point(s), got ${scale.length} and ${zeroPoint.length}`,
    );
  }
  const { qmin, qmax } = qRange(spec);
  for (let c = 0; c < expected; c++) {
    const s = scale[c]!;
    if (!(s >= MIN_NORMAL_FLOAT32) || s === Infinity) {
      throw new Error(
        `${fn}: qparams.scale[${c}] = ${s} must be a positive finite float32 ≥ ${MIN_NORMAL_FLOAT32}`,
      );
    }
    const z = zeroPoint[c]!;
    if (z < qmin || z > qmax) {
      throw new Error(`${fn}: qparams.zeroPoint[${c}] = ${z} is outside the grid's range [${qmin}, ${qmax}]`);
    }
  }
}

/** The smallest power of two ≥ v, for finite v > 0 (exact: corrected after the log2 estimate). */
export function powerOfTwoAtLeast(v: number): number {
  if (!(v > 0) || !Number.isFinite(v))
    throw new Error(`powerOfTwoAtLeast: expected a finite v > 0, got ${v}`);
  let p = 2 ** Math.ceil(Math.log2(v));
  if (p === 0) p = Number.MIN_VALUE; // log2 of subnormals can round below the exponent range
  while (p < v) p *= 2;
  while (p / 2 >= v) p /= 2;
  return p;
}

const identity = (v: number): number => v;

/**
 * Scale and zero point for observed ranges, following the spec's conventions (see docs/integer-grid.md):
 *
 * 1. NaN bounds are rejected. An empty range (`min > max`, e.g. an unused observer's +∞/−∞) gives
 *    scale 1 and the zero point of real 0 (PyTorch's convention); other non-finite bounds are rejected.
 * 2. The range is widened to include 0 (`lo = min(min, 0)`, `hi = max(max, 0)`), then to `minRange`.
 * 3. Symmetric: `a = max(−lo, hi)`, zero point = the middle code, scale = `a / divisor`.
 *    Asymmetric: scale = `(hi − lo) / (qmax − qmin)`, zero point by `spec.zeroPointRule`, clamped.
 * 4. The scale is raised to `eps`; a power-of-two grid rounds it up to a power of two and then picks
 *    an asymmetric zero point for which the whole range fits when one exists.
 * Arithmetic is float32, float64 or mixed as `spec.qparamsArithmetic` says; the stored scale is float32.
 *
 * `min`/`max` are numbers (per-tensor) or one entry per channel (per-channel).
 */
export function computeQParams(
  min: number | ArrayLike<number>,
  max: number | ArrayLike<number>,
  spec: GridSpec,
): QParams {
  const fn = "computeQParams";
  checkGridSpec(spec, fn);
  const mins = typeof min === "number" ? [min] : min;
  const maxs = typeof max === "number" ? [max] : max;
  if (mins === null || maxs === null || typeof mins !== "object" || typeof maxs !== "object") {
    throw new Error(`${fn}: min and max must be numbers or arrays of numbers`);
  }
  if (mins.length !== maxs.length) {
    throw new Error(`${fn}: ${mins.length} minima but ${maxs.length} maxima`);
  }
  if (spec.granularity === "per-tensor" && mins.length !== 1) {
    throw new Error(`${fn}: a per-tensor grid needs one min and one max, got ${mins.length}`);
  }
  const n = mins.length;
  const scale = new Float32Array(n);
  const zeroPoint = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    const [s, z] = channelQParams(fn, c, Number(mins[c]), Number(maxs[c]), spec);
    scale[c] = s;
    zeroPoint[c] = z;
  }
  return { scale, zeroPoint };
}

function channelQParams(fn: string, c: number, min: number, max: number, spec: GridSpec): [number, number] {
  const { qmin, qmax } = qRange(spec);
  if (Number.isNaN(min) || Number.isNaN(max)) {
    throw new Error(`${fn}: range of channel ${c} is [${min}, ${max}]; NaN bounds are not allowed`);
  }
  if (min > max) {
    return [1, spec.symmetric ? symmetricZeroPoint(spec) : Math.min(Math.max(0, qmin), qmax)];
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    throw new Error(
      `${fn}: range of channel ${c} is [${min}, ${max}]; bounds must be finite (only an empty range, min > max, may be infinite)`,
    );
  }
  // f rounds scale and zero-point arithmetic, fw the range-width arithmetic (see QParamsArithmetic).
  const f = spec.qparamsArithmetic === "float32" ? Math.fround : identity;
  const fw = spec.qparamsArithmetic === "float64" ? identity : Math.fround;
  const lo = Math.min(min, 0);
  let hi = Math.max(max, 0);
  if (spec.minRange > 0) hi = Math.max(hi, fw(lo + spec.minRange));

  let s: number;
  let zp: number;
  if (spec.symmetric) {
    const a = Math.max(-lo, hi);
    zp = symmetricZeroPoint(spec);
    s = f(a / (spec.symmetricDivisor === "half-range" ? (qmax - qmin) / 2 : qmax - zp));
  } else {
    s = f(fw(hi - lo) / (qmax - qmin));
    zp = 0; // set below, once the scale is final
  }
  s = Math.max(s, spec.eps);
  if (spec.scaleConstraint === "power-of-two") s = powerOfTwoAtLeast(s);
  if (!Number.isFinite(Math.fround(s))) {
    throw new Error(`${fn}: range of channel ${c} [${min}, ${max}] is too wide: its scale overflows float32`);
  }

  if (!spec.symmetric) {
    const R = spec.zeroPointRounding;
    const loSteps = f(lo / s);
    let z: number;
    if (spec.zeroPointRule === "qmin-minus-rounded") {
      z = qmin - roundNearest(loSteps, R);
    } else if (spec.zeroPointRule === "round-from-min") {
      z = roundNearest(f(qmin - loSteps), R);
    } else {
      const hiSteps = f(hi / s);
      const fromMinError = f(Math.abs(qmin) + Math.abs(loSteps));
      const fromMaxError = f(Math.abs(qmax) + Math.abs(hiSteps));
      z = roundNearest(fromMinError < fromMaxError ? f(qmin - loSteps) : f(qmax - hiSteps), R);
    }
    z = Math.min(Math.max(z, qmin), qmax);
    if (spec.scaleConstraint === "power-of-two") {
      // The scale was rounded up, so there is slack: keep the zero point inside the interval where both
      // ends of the range are representable. (q − z)·s is exact for a power-of-two s, so the bounds are
      // corrected after the float estimate (qmin − lo/s can round away a tiny lo).
      let zLow = Math.ceil(qmin - lo / s);
      if ((qmin - zLow) * s > lo) zLow++;
      let zHigh = Math.floor(qmax - hi / s);
      if ((qmax - zHigh) * s < hi) zHigh--;
      if (zLow <= zHigh) z = Math.min(Math.max(z, zLow), zHigh);
    }
    zp = z + 0;
  }
  return [Math.fround(s), zp];
}

/**
 * The grid parameters that learned values (LSQ's trainable scale and zero point) stand for: s = max(scale, eps) and z =
 * clamp(round_half_even(zeroPoint), qmin, qmax), or, when none is learned, the symmetric grid's
 * zero point (0 on an asymmetric grid).
 * A NaN or ±Inf value is an error naming `where` and the channel: clamping and Int32 conversion would
 * otherwise pass it off as eps or 0.
 */
export function learnedQParams(
  where: string,
  scale: ArrayLike<number>,
  zeroPoint: ArrayLike<number> | null,
  spec: GridSpec,
): QParams {
  const { qmin, qmax } = qRange(spec);
  const channels = scale.length;
  const s = new Float32Array(channels);
  const z = new Int32Array(channels);
  const fixedZero = spec.symmetric ? symmetricZeroPoint(spec) : 0;
  for (let c = 0; c < channels; c++) {
    const sc = scale[c]!;
    if (!Number.isFinite(sc)) throw new Error(`${where}: scale[${c}] is ${sc}`);
    if (zeroPoint && !Number.isFinite(zeroPoint[c]!))
      throw new Error(`${where}: zeroPoint[${c}] is ${zeroPoint[c]}`);
    s[c] = Math.max(sc, spec.eps);
    z[c] = zeroPoint ? Math.min(qmax, Math.max(qmin, roundHalfEven(zeroPoint[c]!))) : fixedZero;
  }
  return { scale: s, zeroPoint: z };
}
