import { checkGridSpec, type GridSpec, qRange, roundHalfEven } from "@quant-trim/quant";
import { INT32_MAX, mbqmDouble, mbqmSingle, quantizeMultiplier } from "./fixed-point.js";
import { allocateIntArray, containerRange, isIntArray } from "./int-container.js";
import type { IntArray, OverflowCounts } from "./overflow.js";
import { prepareOutputStage, type RequantMode, requantizeInto, type ShiftRounding } from "./requantize.js";

/*
 * Elementwise ADD and MUL of two quantized tensors with different scales, as integer backends compute
 * them. Operands are per-tensor quantized (scale, zero point); shapes broadcast as in NumPy. Scales are
 * float32 values, as every runtime stores them (a float64 argument is rounded to float32 first).
 */

/** One quantized operand: codes, their shape and per-tensor quantization. */
export interface IntOperand {
  readonly data: IntArray;
  readonly shape: readonly number[];
  readonly scale: number;
  readonly zeroPoint: number;
}

/** The output grid: its scale and zero point, and the spec that gives its range and container. */
export interface IntOutputGrid {
  readonly scale: number;
  readonly zeroPoint: number;
  readonly spec: GridSpec;
}

export interface ElementwiseIntResult {
  data: IntArray;
  shape: number[];
}

export interface ElementwiseIntOptions {
  /** Output clamp (a fused activation's range, see `fusedActivationRange`); defaults to the grid's range. */
  readonly clamp?: { readonly qmin: number; readonly qmax: number };
  readonly overflow?: OverflowCounts;
}

export interface AddIntOptions extends ElementwiseIntOptions {
  /** TFLite's reference build rounds twice per multiply ("gemmlowp"); TFLITE_SINGLE_ROUNDING once. */
  readonly rounding?: "gemmlowp" | "single-rounding";
  /** Headroom shift of the inputs; TFLite uses 20 for 8-bit and 15 for 16-bit outputs (the default). */
  readonly leftShift?: number;
}

export interface MulIntOptions extends ElementwiseIntOptions {
  /** Requantization of the product (default "gemmlowp", TFLite's reference MUL). */
  readonly mode?: RequantMode;
  readonly shiftRounding?: ShiftRounding;
}

interface Operand {
  data: IntArray;
  scale: number;
  zeroPoint: number;
  /** Largest |code − zero point| the container allows. */
  maxOffset: number;
}

interface Broadcast {
  shape: number[];
  /** Flat index into a and b per output element; null when the shapes are equal (index = i). */
  aIndex: Int32Array | null;
  bIndex: Int32Array | null;
  /** a (or b) is one element, or repeats along the output's innermost axis. */
  aScalarSpan: boolean;
  bScalarSpan: boolean;
}

function checkOperand(fn: string, name: string, x: IntOperand): Operand {
  if (x === null || typeof x !== "object")
    throw new Error(`${fn}: ${name} must be { data, shape, scale, zeroPoint }`);
  if (!isIntArray(x.data)) {
    throw new Error(`${fn}: ${name}.data must be an Int8Array, Uint8Array, Int16Array or Int32Array`);
  }
  if (!Array.isArray(x.shape) || x.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(
      `${fn}: ${name}.shape must be an array of non-negative integers, got ${JSON.stringify(x.shape)}`,
    );
  }
  const size = x.shape.reduce((p, d) => p * d, 1);
  if (size !== x.data.length) {
    throw new Error(
      `${fn}: ${name}.shape [${x.shape.join(", ")}] has ${size} elements but ${name}.data has ${x.data.length}`,
    );
  }
  const scale = checkScale(fn, `${name}.scale`, x.scale);
  const range = containerRange(x.data);
  if (!Number.isInteger(x.zeroPoint) || x.zeroPoint < range.min || x.zeroPoint > range.max) {
    throw new Error(
      `${fn}: ${name}.zeroPoint ${String(x.zeroPoint)} is outside ${name}'s container range [${range.min}, ${range.max}]`,
    );
  }
  const maxOffset = Math.max(x.zeroPoint - range.min, range.max - x.zeroPoint);
  return { data: x.data, scale, zeroPoint: x.zeroPoint, maxOffset };
}

function checkScale(fn: string, name: string, s: unknown): number {
  const f = typeof s === "number" ? Math.fround(s) : Number.NaN;
  if (!Number.isFinite(f) || !(f > 0)) {
    throw new Error(`${fn}: ${name} must be a finite number > 0 (in float32), got ${String(s)}`);
  }
  return f;
}

function checkOutput(
  fn: string,
  out: IntOutputGrid,
  options: ElementwiseIntOptions,
  known: ReadonlySet<string>,
): { scale: number; zeroPoint: number; qmin: number; qmax: number; spec: GridSpec } {
  if (options === null || typeof options !== "object") throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!known.has(key))
      throw new Error(`${fn}: unknown option '${key}'; known options: ${[...known].join(", ")}`);
  }
  if (out === null || typeof out !== "object")
    throw new Error(`${fn}: out must be { scale, zeroPoint, spec }`);
  checkGridSpec(out.spec, `${fn} (out.spec)`);
  const scale = checkScale(fn, "out.scale", out.scale);
  const range = qRange(out.spec);
  if (!Number.isInteger(out.zeroPoint) || out.zeroPoint < range.qmin || out.zeroPoint > range.qmax) {
    throw new Error(
      `${fn}: out.zeroPoint ${String(out.zeroPoint)} is outside the grid's range [${range.qmin}, ${range.qmax}]`,
    );
  }
  let { qmin, qmax } = range;
  const c = options.clamp;
  if (c !== undefined) {
    if (
      c === null ||
      typeof c !== "object" ||
      !Number.isInteger(c.qmin) ||
      !Number.isInteger(c.qmax) ||
      c.qmin > c.qmax ||
      c.qmin < range.qmin ||
      c.qmax > range.qmax
    ) {
      throw new Error(
        `${fn}: clamp must be integers qmin ≤ qmax inside the output grid's range [${range.qmin}, ${range.qmax}], got ${JSON.stringify(c)}`,
      );
    }
    qmin = c.qmin;
    qmax = c.qmax;
  }
  return { scale, zeroPoint: out.zeroPoint, qmin, qmax, spec: out.spec };
}

/** NumPy broadcasting of two shapes, with per-element source indices when the shapes differ. */
function broadcast(fn: string, aShape: readonly number[], bShape: readonly number[]): Broadcast {
  const rank = Math.max(aShape.length, bShape.length);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = aShape[aShape.length - rank + i] ?? 1;
    const db = bShape[bShape.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${fn}: shapes [${aShape.join(", ")}] and [${bShape.join(", ")}] do not broadcast`);
    }
    shape.push(da === 1 ? db : da);
  }
  const n = shape.reduce((p, d) => p * d, 1);
  const aSize = aShape.reduce((p, d) => p * d, 1);
  const bSize = bShape.reduce((p, d) => p * d, 1);
  const same = aShape.length === bShape.length && aShape.every((d, i) => d === bShape[i]);
  const inner = shape[rank - 1] ?? 1;
  const aInnerBroadcast = (aShape[aShape.length - 1] ?? 1) === 1 && inner > 1;
  const bInnerBroadcast = (bShape[bShape.length - 1] ?? 1) === 1 && inner > 1;
  if (same) return { shape, aIndex: null, bIndex: null, aScalarSpan: aSize === 1, bScalarSpan: bSize === 1 };
  return {
    shape,
    aIndex: sourceIndex(shape, aShape, n),
    bIndex: sourceIndex(shape, bShape, n),
    aScalarSpan: aSize === 1 || aInnerBroadcast,
    bScalarSpan: bSize === 1 || bInnerBroadcast,
  };
}

function sourceIndex(shape: readonly number[], src: readonly number[], n: number): Int32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let i = src.length - 1; i >= 0; i--) {
    const axis = rank - src.length + i;
    strides[axis] = src[i] === 1 ? 0 : stride;
    stride *= src[i]!;
  }
  const index = new Int32Array(n);
  const counter = new Array<number>(rank).fill(0);
  let at = 0;
  for (let i = 0; i < n; i++) {
    index[i] = at;
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]!++;
      at += strides[axis]!;
      if (counter[axis]! < shape[axis]!) break;
      at -= strides[axis]! * shape[axis]!;
      counter[axis] = 0;
    }
  }
  return index;
}

const ADD_OPTIONS = new Set(["clamp", "overflow", "rounding", "leftShift"]);
const MUL_OPTIONS = new Set(["clamp", "overflow", "mode", "shiftRounding"]);
const MLAS_OPTIONS = new Set(["kernel", "overflow"]);

/**
 * TFLite ADD (integer path, `reference/integer_ops/add.h` with the parameters of `add_common.cc`):
 *
 *   twice_max = 2·max(s_a, s_b);  m_a = s_a / twice_max;  m_b = s_b / twice_max
 *   m_out = twice_max / (2^L · s_out)          (float64; each through QuantizeMultiplier, shift ≤ 0)
 *   r = MBQM(MBQM((a − zp_a)·2^L, m_a) + MBQM((b − zp_b)·2^L, m_b), m_out) + zp_out, then the clamp
 *
 * with L = 20 for 8-bit outputs and 15 for 16-bit ones, and MBQM the double- or single-rounding
 * multiply. Three roundings per element. Throws when `(code − zp)·2^L` could leave int32 for the
 * operands' containers or when `m_out` is not below 1 (TFLite's own preconditions).
 */
export function addInt(
  a: IntOperand,
  b: IntOperand,
  out: IntOutputGrid,
  options: AddIntOptions = {},
): ElementwiseIntResult {
  const fn = "addInt";
  const o = checkOutput(fn, out, options, ADD_OPTIONS);
  const A = checkOperand(fn, "a", a);
  const B = checkOperand(fn, "b", b);
  const rounding = options.rounding ?? "gemmlowp";
  if (rounding !== "gemmlowp" && rounding !== "single-rounding") {
    throw new Error(
      `${fn}: rounding must be 'gemmlowp' or 'single-rounding', got ${JSON.stringify(rounding)}`,
    );
  }
  const leftShift = options.leftShift ?? (o.spec.bits > 8 ? 15 : 20);
  if (!Number.isInteger(leftShift) || leftShift < 0 || leftShift > 30) {
    throw new Error(`${fn}: leftShift must be an integer in [0, 30], got ${String(leftShift)}`);
  }
  for (const [name, x] of [
    ["a", A],
    ["b", B],
  ] as const) {
    if (x.maxOffset * 2 ** leftShift > INT32_MAX) {
      throw new Error(
        `${fn}: ${name} codes minus zero point ${x.zeroPoint} reach ${x.maxOffset}; shifted left by ${leftShift} they overflow int32`,
      );
    }
  }
  const twiceMax = 2 * Math.max(A.scale, B.scale);
  const qa = quantizeMultiplier(A.scale / twiceMax);
  const qb = quantizeMultiplier(B.scale / twiceMax);
  const realOut = twiceMax / (2 ** leftShift * o.scale);
  const qo = quantizeMultiplier(realOut);
  if (qo.shift > 0) {
    throw new Error(
      `${fn}: output multiplier 2·max(s_a, s_b) / (2^${leftShift}·out.scale) = ${realOut} must be below 1; out.scale is too small`,
    );
  }
  const bc = broadcast(fn, a.shape, b.shape);
  const n = bc.shape.reduce((p, d) => p * d, 1);
  const result = allocateIntArray(o.spec, n);
  const single = rounding === "single-rounding";
  const scaleUp = 2 ** leftShift;
  const { aIndex, bIndex } = bc;
  const ad = A.data;
  const bd = B.data;
  let clamps = 0;
  for (let i = 0; i < n; i++) {
    const x = (ad[aIndex === null ? i : aIndex[i]!]! - A.zeroPoint) * scaleUp;
    const y = (bd[bIndex === null ? i : bIndex[i]!]! - B.zeroPoint) * scaleUp;
    const sum = single
      ? mbqmSingle(x, qa.multiplier, qa.shift) + mbqmSingle(y, qb.multiplier, qb.shift)
      : mbqmDouble(x, qa.multiplier, qa.shift) + mbqmDouble(y, qb.multiplier, qb.shift);
    let v =
      (single ? mbqmSingle(sum, qo.multiplier, qo.shift) : mbqmDouble(sum, qo.multiplier, qo.shift)) +
      o.zeroPoint;
    if (v < o.qmin) {
      v = o.qmin;
      clamps++;
    } else if (v > o.qmax) {
      v = o.qmax;
      clamps++;
    }
    result[i] = v;
  }
  if (options.overflow !== undefined) {
    options.overflow.outputClamps += clamps;
    options.overflow.elements += n;
  }
  return { data: result, shape: bc.shape };
}

/**
 * TFLite MUL (integer path, `reference/integer_ops/mul.h`): `(a − zp_a)·(b − zp_b)` in int32, then the
 * output stage with the real multiplier `s_a·s_b / s_out` (float64) in the chosen requantization mode,
 * `+ zp_out` and the clamp. Throws when the product could leave int32 for the operands' containers.
 */
export function mulInt(
  a: IntOperand,
  b: IntOperand,
  out: IntOutputGrid,
  options: MulIntOptions = {},
): ElementwiseIntResult {
  const fn = "mulInt";
  const o = checkOutput(fn, out, options, MUL_OPTIONS);
  const A = checkOperand(fn, "a", a);
  const B = checkOperand(fn, "b", b);
  if (A.maxOffset * B.maxOffset > INT32_MAX) {
    throw new Error(
      `${fn}: products of (a − ${A.zeroPoint}) and (b − ${B.zeroPoint}) reach ${A.maxOffset * B.maxOffset}, outside int32`,
    );
  }
  const prepared = prepareOutputStage({
    mode: options.mode ?? "gemmlowp",
    effectiveScale: [(A.scale * B.scale) / o.scale],
    outZeroPoint: o.zeroPoint,
    qmin: o.qmin,
    qmax: o.qmax,
    ...(options.shiftRounding !== undefined ? { shiftRounding: options.shiftRounding } : {}),
  });
  const bc = broadcast(fn, a.shape, b.shape);
  const n = bc.shape.reduce((p, d) => p * d, 1);
  const product = new Int32Array(n);
  const { aIndex, bIndex } = bc;
  for (let i = 0; i < n; i++) {
    product[i] =
      (A.data[aIndex === null ? i : aIndex[i]!]! - A.zeroPoint) *
      (B.data[bIndex === null ? i : bIndex[i]!]! - B.zeroPoint);
  }
  const result = allocateIntArray(o.spec, n);
  if (n > 0) requantizeInto(product, prepared, result, { channels: 1, inner: n }, options.overflow);
  return { data: result, shape: bc.shape };
}

/* ----------------------------------------------------------------------------------------------------
 * onnxruntime's QLinearAdd (com.microsoft contrib op, MLAS `qladd`): float arithmetic, not fixed point.
 */

/**
 * Which MLAS QLinearAdd kernel to reproduce.
 *
 * "avx2-fma" (x86-64 with AVX2 and FMA, `qladd_avx2.cpp` as built into onnxruntime-node 1.30): on the raw
 * codes, with r = fp32(s / s_c) per operand,
 *
 *   fixed = fp32(zp_c − fma(zp_1, r_1, fp32(r_2·zp_2)))
 *   c     = saturate(rne(fma(x_1, r_1, fma(x_2, r_2, fixed))))
 *
 * where operand 1 is `a` and operand 2 is `b`, except that a single-valued `a` (a scalar, or repeated
 * along the innermost axis) is passed second. The source writes the constant and the scalar fold as
 * separate multiplies and adds; the compiler fused them, so they round once. This was established
 * against onnxruntime-node on this project's machine (a search for inputs where the candidate
 * roundings disagree: vector, scalar-a and scalar-b cases each matched only this form).
 *
 * "scalar" (the portable C++ helper, also used for 16-bit types): dequantize both in float32, add,
 * divide by s_c, clamp to the range minus zp_c, add zp_c, round half to even.
 */
export type MlasAddKernel = "avx2-fma" | "scalar";

export interface AddIntMlasOptions {
  readonly kernel?: MlasAddKernel;
  readonly overflow?: OverflowCounts;
}

/**
 * onnxruntime QLinearAdd as its MLAS kernels compute it (see `MlasAddKernel`). The output saturates to
 * the output grid's range (QLinearAdd has no fused activation). 8-bit containers only for "avx2-fma"
 * (MLAS has no 16-bit vector kernel). How onnxruntime splits general broadcasts (not scalar, not equal
 * shapes) into kernel calls is not verified; operand roles follow the single-value rule per element.
 */
export function addIntMlas(
  a: IntOperand,
  b: IntOperand,
  out: IntOutputGrid,
  options: AddIntMlasOptions = {},
): ElementwiseIntResult {
  const fn = "addIntMlas";
  const o = checkOutput(fn, out, options, MLAS_OPTIONS);
  const A = checkOperand(fn, "a", a);
  const B = checkOperand(fn, "b", b);
  const kernel = options.kernel ?? "avx2-fma";
  if (kernel !== "avx2-fma" && kernel !== "scalar") {
    throw new Error(`${fn}: kernel must be 'avx2-fma' or 'scalar', got ${JSON.stringify(kernel)}`);
  }
  if (kernel === "avx2-fma" && (A.data.BYTES_PER_ELEMENT !== 1 || B.data.BYTES_PER_ELEMENT !== 1)) {
    throw new Error(`${fn}: kernel 'avx2-fma' takes 8-bit operands (Int8Array or Uint8Array)`);
  }
  const bc = broadcast(fn, a.shape, b.shape);
  const n = bc.shape.reduce((p, d) => p * d, 1);
  const result = allocateIntArray(o.spec, n);
  const { aIndex, bIndex } = bc;
  const { qmin, qmax } = o;
  let clamps = 0;
  const f = Math.fround;
  if (kernel === "scalar") {
    const lo = f(qmin - o.zeroPoint);
    const hi = f(qmax - o.zeroPoint);
    for (let i = 0; i < n; i++) {
      const va = f(A.scale * (A.data[aIndex === null ? i : aIndex[i]!]! - A.zeroPoint));
      const vb = f(B.scale * (B.data[bIndex === null ? i : bIndex[i]!]! - B.zeroPoint));
      let vc = f(f(va + vb) / o.scale);
      if (vc < lo) {
        vc = lo;
        clamps++;
      } else if (vc > hi) {
        vc = hi;
        clamps++;
      }
      result[i] = roundHalfEven(f(vc + o.zeroPoint));
    }
  } else {
    // Roles as onnxruntime hands them to the kernel: a single-value `a` is passed second (swapped with b).
    const swap = bc.aScalarSpan;
    const first = swap ? B : A;
    const second = swap ? A : B;
    const firstIndex = swap ? bIndex : aIndex;
    const secondIndex = swap ? aIndex : bIndex;
    const r1 = f(first.scale / o.scale);
    const r2 = f(second.scale / o.scale);
    const fixed = f(o.zeroPoint - fmaF32(first.zeroPoint, r1, f(r2 * second.zeroPoint)));
    for (let i = 0; i < n; i++) {
      const x = first.data[firstIndex === null ? i : firstIndex[i]!]!;
      const y = second.data[secondIndex === null ? i : secondIndex[i]!]!;
      const c = fmaF32(x, r1, fmaF32(y, r2, fixed));
      let v = cvtpsEpi32(c);
      if (v < qmin) {
        v = qmin;
        clamps++;
      } else if (v > qmax) {
        v = qmax;
        clamps++;
      }
      result[i] = v;
    }
  }
  if (options.overflow !== undefined) {
    options.overflow.outputClamps += clamps;
    options.overflow.elements += n;
  }
  return { data: result, shape: bc.shape };
}

/** SSE/AVX `cvtps2dq`: round half to even; values outside int32 give the "integer indefinite" INT32_MIN. */
function cvtpsEpi32(v: number): number {
  if (!(v >= -2147483648 && v < 2147483648)) return -2147483648;
  return roundHalfEven(v);
}

/**
 * float32 fused multiply-add `fp32(x·r + t)` with one rounding, for an integer |x| < 2^29 and float32 r,
 * t. x·r is exact in a double; the sum is exact up to the error term `err` (TwoSum), and rounding the
 * double sum to float32 is correct except when it lands exactly halfway between two float32 values
 * while the exact sum is not there: then `err` says which neighbour is nearer.
 */
export function fmaF32(x: number, r: number, t: number): number {
  const p = x * r;
  const s = p + t;
  const bv = s - p;
  const err = p - (s - bv) + (t - bv);
  const rounded = Math.fround(s);
  if (err === 0) return rounded;
  const d = s - rounded;
  if (d === 0) return rounded;
  const other = rounded + 2 * d;
  if (Math.fround(other) !== other) return rounded; // s was not a float32 midpoint
  return err > 0 === d > 0 ? other : rounded;
}
