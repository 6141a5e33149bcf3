/**
 * Reductions along any set of axes (sum, mean, max, min, variance, logSumExp), single-axis argmax,
 * softmax and logSoftmax, and `sumToShape` (the inverse of broadcasting, for gradients).
 *
 * How: every reduction accumulates into a float64 scratch array laid out like the kept axes, reading the
 * input once in its own memory order (the scratch has stride 0 on reduced axes). So float32 tensors are
 * summed in float64 and rounded once at the end, and reducing axis 0 of a row-major matrix is as
 * cache-friendly as reducing the last axis. Results have the input's dtype and never share its buffer.
 *
 * NaN and ±Infinity propagate as IEEE arithmetic does: a NaN anywhere in a slice makes its sum, mean,
 * max, min, variance and logSumExp NaN.
 */
import { assertIntegerShape, fmtShape, ShapeError } from "./errors.js";
import { drive2, drive3, simplifyLayout } from "./strided.js";
import { allocData, contiguousStrides, shapeSize, Tensor, type TypedData } from "./tensor.js";
import { normAxis } from "./views.js";

// ---------------------------------------------------------------------------------------------------
// Accumulating row kernels: `o` is the float64 scratch; `so === 0` means the whole row lands in one slot,
// which is then accumulated in a local (fast, and one store instead of n).

function sumInto(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  if (so === 0) {
    let s = 0;
    for (let i = 0; i < n; i++, pa += sa) s += a[pa]!;
    o[po] = o[po]! + s;
  } else {
    for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = o[po]! + a[pa]!;
  }
}

function maxInto(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  if (so === 0) {
    let m = o[po]!;
    for (let i = 0; i < n; i++, pa += sa) m = Math.max(m, a[pa]!);
    o[po] = m;
  } else {
    for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.max(o[po]!, a[pa]!);
  }
}

function minInto(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  if (so === 0) {
    let m = o[po]!;
    for (let i = 0; i < n; i++, pa += sa) m = Math.min(m, a[pa]!);
    o[po] = m;
  } else {
    for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.min(o[po]!, a[pa]!);
  }
}

/** Σ (a − m)², with `m` laid out like the scratch `o` (so `sm === so`). */
function squaredDeviationInto(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  m: TypedData,
  pm: number,
  sm: number,
  n: number,
): void {
  if (so === 0) {
    const mu = m[pm]!;
    let s = 0;
    for (let i = 0; i < n; i++, pa += sa) {
      const d = a[pa]! - mu;
      s += d * d;
    }
    o[po] = o[po]! + s;
  } else {
    for (let i = 0; i < n; i++, po += so, pa += sa, pm += sm) {
      const d = a[pa]! - m[pm]!;
      o[po] = o[po]! + d * d;
    }
  }
}

/** Σ exp(a − shift), with `shift` laid out like the scratch `o`. */
function shiftedExpInto(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  shift: TypedData,
  ps: number,
  ss: number,
  n: number,
): void {
  if (so === 0) {
    const c = shift[ps]!;
    let s = 0;
    for (let i = 0; i < n; i++, pa += sa) s += Math.exp(a[pa]! - c);
    o[po] = o[po]! + s;
  } else {
    for (let i = 0; i < n; i++, po += so, pa += sa, ps += ss) o[po] = o[po]! + Math.exp(a[pa]! - shift[ps]!);
  }
}

// ---------------------------------------------------------------------------------------------------
// Axis handling and the scratch layout.

/** Which axes a reduction removes, validated: numbers in [-ndim, ndim), no repeats. */
function reducedAxes(op: string, t: Tensor, axes: number | readonly number[] | undefined): boolean[] {
  const nd = t.ndim;
  if (axes === undefined) return new Array<boolean>(nd).fill(true);
  const list: readonly number[] = typeof axes === "number" ? [axes] : axes;
  if (!Array.isArray(list)) {
    throw new TypeError(`${op}: axes must be a number, an array of numbers or undefined, got ${typeof axes}`);
  }
  const flags = new Array<boolean>(nd).fill(false);
  for (const a of list) {
    const ax = normAxis(op, a, nd);
    if (flags[ax]) {
      throw new ShapeError(
        op,
        `axis ${a} is repeated in axes [${list.join(", ")}] for shape ${fmtShape(t.shape)}`,
      );
    }
    flags[ax] = true;
  }
  return flags;
}

interface Scratch {
  /** float64 accumulator, one slot per output element (row-major over the kept axes). */
  acc: Float64Array;
  /** Strides of `acc` aligned to the input's shape (0 on reduced axes). */
  accStrides: number[];
  /** Output shape with reduced axes kept as size 1. */
  keptDims: number[];
  /** Output shape with reduced axes removed. */
  droppedDims: number[];
  /** Number of input elements per output element. */
  count: number;
}

function scratchFor(t: Tensor, reduced: readonly boolean[], init: number): Scratch {
  const keptDims = t.shape.map((d, i) => (reduced[i] ? 1 : d));
  const accStrides = contiguousStrides(keptDims).map((s, i) => (reduced[i] ? 0 : s));
  const acc = new Float64Array(shapeSize(keptDims));
  if (init !== 0) acc.fill(init);
  let count = 1;
  for (let i = 0; i < t.ndim; i++) if (reduced[i]) count *= t.shape[i]!;
  return { acc, accStrides, keptDims, droppedDims: t.shape.filter((_, i) => !reduced[i]), count };
}

/** Accumulate every element of `t` into `s.acc` with `row`, in the input's memory order. */
function accumulate(s: Scratch, t: Tensor, row: typeof sumInto): void {
  const lay = simplifyLayout(t.shape, [s.accStrides, t.strides], 1);
  drive2(row, lay.shape, s.acc, 0, lay.strides[0]!, t.data, t.offset, lay.strides[1]!);
}

/** Like `accumulate`, with a per-output-slot operand `aux` laid out like the scratch. */
function accumulateWith(s: Scratch, t: Tensor, row: typeof shiftedExpInto, aux: Float64Array): void {
  const lay = simplifyLayout(t.shape, [s.accStrides, t.strides, s.accStrides], 1);
  const [so, sa, sx] = lay.strides as [number[], number[], number[]];
  drive3(row, lay.shape, s.acc, 0, so, t.data, t.offset, sa, aux, 0, sx);
}

/** The scratch (after `finish` per slot) as a tensor of t's dtype. */
function output(t: Tensor, s: Scratch, keepdims: boolean, finish?: (v: number, i: number) => number): Tensor {
  const out = allocData(t.dtype, s.acc.length);
  if (finish === undefined) out.set(s.acc);
  else for (let i = 0; i < out.length; i++) out[i] = finish(s.acc[i]!, i);
  return new Tensor(out, keepdims ? s.keptDims : s.droppedDims);
}

function requireTensor(op: string, t: unknown): Tensor {
  if (!(t instanceof Tensor))
    throw new TypeError(`${op}: expected a Tensor, got ${t === null ? "null" : typeof t}`);
  return t;
}

function requireNonEmptySlices(op: string, t: Tensor, s: Scratch, reduced: readonly boolean[]): void {
  if (s.count === 0 && s.acc.length > 0) {
    const axes = reduced.flatMap((r, i) => (r ? [i] : []));
    throw new ShapeError(
      op,
      `cannot reduce shape ${fmtShape(t.shape)} over axes [${axes.join(", ")}]: the slices are empty and ${op} ` +
        "has no identity; expected every reduced axis to have size > 0",
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Public reductions.

/** Sum over `axes` (all when undefined; negative axes count from the end). */
export function sum(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  requireTensor("sum", t);
  const s = scratchFor(t, reducedAxes("sum", t, axes), 0);
  accumulate(s, t, sumInto);
  return output(t, s, keepdims);
}

/** Mean over `axes`; an empty slice gives NaN (0/0), as in NumPy. */
export function mean(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  requireTensor("mean", t);
  const s = scratchFor(t, reducedAxes("mean", t, axes), 0);
  accumulate(s, t, sumInto);
  const count = s.count;
  return output(t, s, keepdims, (v) => v / count);
}

/** Maximum over `axes`; NaN if the slice holds a NaN. Empty slices are an error. */
export function max(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  requireTensor("max", t);
  const reduced = reducedAxes("max", t, axes);
  const s = scratchFor(t, reduced, -Infinity);
  requireNonEmptySlices("max", t, s, reduced);
  accumulate(s, t, maxInto);
  return output(t, s, keepdims);
}

/** Minimum over `axes`; NaN if the slice holds a NaN. Empty slices are an error. */
export function min(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  requireTensor("min", t);
  const reduced = reducedAxes("min", t, axes);
  const s = scratchFor(t, reduced, Infinity);
  requireNonEmptySlices("min", t, s, reduced);
  accumulate(s, t, minInto);
  return output(t, s, keepdims);
}

/**
 * Variance over `axes`: Σ(x − mean)² / (N − correction), two-pass in float64. `correction = 1` gives the
 * unbiased sample variance. As in NumPy, N − correction ≤ 0 divides by 0 (NaN or Infinity).
 */
export function variance(
  t: Tensor,
  axes?: number | readonly number[],
  keepdims = false,
  correction = 0,
): Tensor {
  requireTensor("variance", t);
  if (typeof correction !== "number" || !Number.isFinite(correction)) {
    throw new RangeError(`variance: correction must be a finite number, got ${String(correction)}`);
  }
  const reduced = reducedAxes("variance", t, axes);
  const s = scratchFor(t, reduced, 0);
  accumulate(s, t, sumInto);
  const means = s.acc.map((v) => v / s.count);
  s.acc.fill(0);
  accumulateWith(s, t, squaredDeviationInto, means);
  const divisor = Math.max(s.count - correction, 0);
  return output(t, s, keepdims, (v) => v / divisor);
}

/**
 * log Σ exp(x) over `axes`, stable: the slice maximum is subtracted before exp and added back. A slice of
 * all -Infinity (or an empty slice) gives -Infinity; a slice holding +Infinity gives +Infinity; NaN gives NaN.
 */
export function logSumExp(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  requireTensor("logSumExp", t);
  const reduced = reducedAxes("logSumExp", t, axes);
  const s = scratchFor(t, reduced, -Infinity);
  accumulate(s, t, maxInto);
  // An infinite or NaN maximum cannot be subtracted (Inf − Inf = NaN); shifting by 0 lets exp produce
  // the IEEE answer instead: exp(-Inf) sums to 0 → log gives -Inf, exp(+Inf) → +Inf, NaN stays NaN.
  const shift = s.acc.map((m) => (Number.isFinite(m) ? m : 0));
  s.acc.fill(0);
  accumulateWith(s, t, shiftedExpInto, shift);
  return output(t, s, keepdims, (v, i) => Math.log(v) + shift[i]!);
}

// ---------------------------------------------------------------------------------------------------
// Single-axis lanes: the axis is moved innermost and each lane is handled by one kernel call.

/** Shape and strides with `axis` moved last (the order of the others kept). */
function laneLayout(
  shape: readonly number[],
  strides: readonly number[],
  axis: number,
): [number[], number[]] {
  const sh: number[] = [];
  const st: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (i === axis) continue;
    sh.push(shape[i]!);
    st.push(strides[i]!);
  }
  sh.push(shape[axis]!);
  st.push(strides[axis]!);
  return [sh, st];
}

/** Index of the first maximum; a NaN wins at its first occurrence (NumPy's rule). */
function argmaxLane(
  o: TypedData,
  po: number,
  _so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  let best = a[pa]!;
  let at = 0;
  if (!Number.isNaN(best)) {
    for (let i = 1; i < n; i++) {
      pa += sa;
      const v = a[pa]!;
      if (v > best) {
        best = v;
        at = i;
      } else if (Number.isNaN(v)) {
        at = i;
        break;
      }
    }
  }
  o[po] = at;
}

function softmaxLane(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  let m = -Infinity;
  for (let i = 0, p = pa; i < n; i++, p += sa) m = Math.max(m, a[p]!);
  const shift = Number.isFinite(m) ? m : 0;
  let s = 0;
  for (let i = 0, p = pa, q = po; i < n; i++, p += sa, q += so) {
    const e = Math.exp(a[p]! - shift);
    o[q] = e;
    s += e;
  }
  for (let i = 0, q = po; i < n; i++, q += so) o[q] = o[q]! / s;
}

function logSoftmaxLane(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  let m = -Infinity;
  for (let i = 0, p = pa; i < n; i++, p += sa) m = Math.max(m, a[p]!);
  const shift = Number.isFinite(m) ? m : 0;
  let s = 0;
  for (let i = 0, p = pa; i < n; i++, p += sa) s += Math.exp(a[p]! - shift);
  const logS = Math.log(s);
  for (let i = 0, p = pa, q = po; i < n; i++, p += sa, q += so) o[q] = a[p]! - shift - logS;
}

/**
 * Index of the maximum along `axis`, as float values in a tensor of t's dtype. Ties go to the first
 * maximum; a NaN counts as the maximum, so the index of the first NaN is returned (as NumPy does).
 */
export function argmax(t: Tensor, axis: number, keepdims = false): Tensor {
  requireTensor("argmax", t);
  const ax = normAxis("argmax", axis, t.ndim);
  const n = t.shape[ax]!;
  const keptDims = t.shape.map((d, i) => (i === ax ? 1 : d));
  const outSize = shapeSize(keptDims);
  if (n === 0 && outSize > 0) {
    throw new ShapeError(
      "argmax",
      `axis ${axis} of shape ${fmtShape(t.shape)} has size 0; expected a non-empty axis to take the argmax of`,
    );
  }
  const out = allocData(t.dtype, outSize);
  const outStrides = contiguousStrides(keptDims);
  outStrides[ax] = 0;
  const [shape, inStrides] = laneLayout(t.shape, t.strides, ax);
  const [, laneOutStrides] = laneLayout(t.shape, outStrides, ax);
  if (outSize > 0) drive2(argmaxLane, shape, out, 0, laneOutStrides, t.data, t.offset, inStrides);
  return new Tensor(out, keepdims ? keptDims : t.shape.filter((_, i) => i !== ax));
}

function lanewise(op: string, lane: typeof softmaxLane, t: Tensor, axis: number): Tensor {
  requireTensor(op, t);
  const ax = normAxis(op, axis, t.ndim);
  const out = allocData(t.dtype, t.size);
  if (t.size > 0) {
    const [shape, inStrides] = laneLayout(t.shape, t.strides, ax);
    const [, outStrides] = laneLayout(t.shape, contiguousStrides(t.shape), ax);
    drive2(lane, shape, out, 0, outStrides, t.data, t.offset, inStrides);
  }
  return new Tensor(out, t.shape);
}

/**
 * exp(x) / Σ exp(x) along `axis`, stable (the lane maximum is subtracted first). A lane holding +Infinity
 * gives NaN at the infinities and 0 elsewhere; an all -Infinity lane gives NaN (0/0).
 */
export function softmax(t: Tensor, axis = -1): Tensor {
  return lanewise("softmax", softmaxLane, t, axis);
}

/** x − logSumExp(x) along `axis`, computed as (x − max) − log Σ exp(x − max): finite for large inputs. */
export function logSoftmax(t: Tensor, axis = -1): Tensor {
  return lanewise("logSoftmax", logSoftmaxLane, t, axis);
}

// ---------------------------------------------------------------------------------------------------

/**
 * Sum `t` down to `shape`, undoing a broadcast from `shape` to `t.shape`: leading axes that the broadcast
 * added are summed away, and axes where `shape` has 1 are summed with keepdims. Used for the gradients
 * of broadcasting ops. The result is always a fresh tensor of t's dtype.
 */
export function sumToShape(t: Tensor, shape: readonly number[]): Tensor {
  requireTensor("sumToShape", t);
  if (!Array.isArray(shape))
    throw new TypeError(`sumToShape: shape must be an array of sizes, got ${typeof shape}`);
  assertIntegerShape("sumToShape", shape);
  const lead = t.ndim - shape.length;
  const compatible = lead >= 0 && shape.every((d, i) => d === 1 || d === t.shape[lead + i]);
  if (!compatible) {
    throw new ShapeError(
      "sumToShape",
      `cannot sum ${fmtShape(t.shape)} down to ${fmtShape(shape)}; expected a shape that broadcasts to ` +
        `${fmtShape(t.shape)} (at most ${t.ndim} axes, each trailing axis equal to t's or 1)`,
    );
  }
  const reduced = t.shape.map((d, i) => i < lead || (shape[i - lead] === 1 && d !== 1));
  const s = scratchFor(t, reduced, 0);
  accumulate(s, t, sumInto);
  const out = allocData(t.dtype, s.acc.length);
  out.set(s.acc);
  return new Tensor(out, shape);
}
