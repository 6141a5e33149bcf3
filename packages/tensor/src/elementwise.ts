/**
 * Elementwise ops with NumPy broadcasting: binary arithmetic and comparisons, `where`, unary math, and the
 * in-place variants that optimizers and gradient accumulation need.
 *
 * Semantics:
 * - Result dtype: float64 if any tensor operand is float64, else float32. A number operand takes the
 *   dtype of the result (it is rounded to float32 first when the result is float32, as NumPy and PyTorch
 *   treat Python scalars), then every element is computed in float64 and rounded once on store.
 * - NaN and ±Infinity propagate as IEEE arithmetic does; nothing is replaced. `maximum`/`minimum` return
 *   NaN when either side is NaN. `pow` follows C's `pow` (and NumPy) where JavaScript's differs:
 *   `pow(1, y) = 1` and `pow(-1, ±Infinity) = 1` even for NaN/infinite `y`.
 * - Results are fresh row-major tensors that never share a buffer with an input.
 *
 * Speed: every op has its own row kernel (monomorphic arithmetic); same-shape contiguous inputs of the
 * four arithmetic ops go through one flat loop; everything else through `simplifyLayout` + the odometer
 * in strided.ts, which turns row/column/scalar broadcasts into long unit-stride inner loops.
 * ndarray-ops is not used here: it cannot broadcast, and measured (bench/add.bench.ts) its `add` of 1M
 * float32 elements took ~1.5–2.5× the time of a plain loop, and it costs more per call on small arrays.
 */
import { defineKernel } from "./backend/registry.js";
import { fmtShape, ShapeError } from "./errors.js";
import {
  broadcastShapeOf,
  broadcastStrides,
  copyRow,
  drive2,
  drive3,
  driveRows,
  type Kernel2,
  type Kernel3,
  mayAlias,
  selfOverlaps,
  simplifyLayout,
  type View,
} from "./strided.js";
import { allocData, contiguousStrides, type DType, shapeSize, Tensor, type TypedData } from "./tensor.js";

type FlatKernel = (o: TypedData, a: TypedData, b: TypedData, n: number) => void;

/**
 * Fast paths a backend may take before the loops of this file run: given the op's name and its
 * (already checked) operands, return the result, or null to decline. The `js` backend declines
 * everything — the loops below are its kernels — so its behaviour is exactly theirs; a faster backend
 * must return what they would.
 */
export type UnaryFastPath = (op: string, x: Tensor) => Tensor | null;
export type BinaryFastPath = (op: string, a: Tensor | number, b: Tensor | number) => Tensor | null;
const unaryFastPath = defineKernel<UnaryFastPath>("elementwise.unary", () => null);
const binaryFastPath = defineKernel<BinaryFastPath>("elementwise.binary", () => null);

// ---------------------------------------------------------------------------------------------------
// Kernels. Deliberately written out one per op: see strided.ts for why a shared kernel is slower.

// Flat kernels (same-shape contiguous operands, zero-based) are unrolled by 8 with all loads before the
// stores, and the strided row kernels of the four arithmetic ops by 4. Why: V8 (Node 20) re-checks each typed array's map, length and base pointer after every typed
// store in a loop, so one check per 8 elements instead of per element. Measured on 1M float32 elements:
// ~1.9 → ~1.0 ns/element in cache, which keeps `add` near a hand-written loop.
function addFlat(o: TypedData, a: TypedData, b: TypedData, n: number): void {
  let i = 0;
  for (const end = n - 7; i < end; i += 8) {
    const v0 = a[i]! + b[i]!;
    const v1 = a[i + 1]! + b[i + 1]!;
    const v2 = a[i + 2]! + b[i + 2]!;
    const v3 = a[i + 3]! + b[i + 3]!;
    const v4 = a[i + 4]! + b[i + 4]!;
    const v5 = a[i + 5]! + b[i + 5]!;
    const v6 = a[i + 6]! + b[i + 6]!;
    const v7 = a[i + 7]! + b[i + 7]!;
    o[i] = v0;
    o[i + 1] = v1;
    o[i + 2] = v2;
    o[i + 3] = v3;
    o[i + 4] = v4;
    o[i + 5] = v5;
    o[i + 6] = v6;
    o[i + 7] = v7;
  }
  for (; i < n; i++) o[i] = a[i]! + b[i]!;
}
function subFlat(o: TypedData, a: TypedData, b: TypedData, n: number): void {
  let i = 0;
  for (const end = n - 7; i < end; i += 8) {
    const v0 = a[i]! - b[i]!;
    const v1 = a[i + 1]! - b[i + 1]!;
    const v2 = a[i + 2]! - b[i + 2]!;
    const v3 = a[i + 3]! - b[i + 3]!;
    const v4 = a[i + 4]! - b[i + 4]!;
    const v5 = a[i + 5]! - b[i + 5]!;
    const v6 = a[i + 6]! - b[i + 6]!;
    const v7 = a[i + 7]! - b[i + 7]!;
    o[i] = v0;
    o[i + 1] = v1;
    o[i + 2] = v2;
    o[i + 3] = v3;
    o[i + 4] = v4;
    o[i + 5] = v5;
    o[i + 6] = v6;
    o[i + 7] = v7;
  }
  for (; i < n; i++) o[i] = a[i]! - b[i]!;
}
function mulFlat(o: TypedData, a: TypedData, b: TypedData, n: number): void {
  let i = 0;
  for (const end = n - 7; i < end; i += 8) {
    const v0 = a[i]! * b[i]!;
    const v1 = a[i + 1]! * b[i + 1]!;
    const v2 = a[i + 2]! * b[i + 2]!;
    const v3 = a[i + 3]! * b[i + 3]!;
    const v4 = a[i + 4]! * b[i + 4]!;
    const v5 = a[i + 5]! * b[i + 5]!;
    const v6 = a[i + 6]! * b[i + 6]!;
    const v7 = a[i + 7]! * b[i + 7]!;
    o[i] = v0;
    o[i + 1] = v1;
    o[i + 2] = v2;
    o[i + 3] = v3;
    o[i + 4] = v4;
    o[i + 5] = v5;
    o[i + 6] = v6;
    o[i + 7] = v7;
  }
  for (; i < n; i++) o[i] = a[i]! * b[i]!;
}
function divFlat(o: TypedData, a: TypedData, b: TypedData, n: number): void {
  let i = 0;
  for (const end = n - 7; i < end; i += 8) {
    const v0 = a[i]! / b[i]!;
    const v1 = a[i + 1]! / b[i + 1]!;
    const v2 = a[i + 2]! / b[i + 2]!;
    const v3 = a[i + 3]! / b[i + 3]!;
    const v4 = a[i + 4]! / b[i + 4]!;
    const v5 = a[i + 5]! / b[i + 5]!;
    const v6 = a[i + 6]! / b[i + 6]!;
    const v7 = a[i + 7]! / b[i + 7]!;
    o[i] = v0;
    o[i + 1] = v1;
    o[i + 2] = v2;
    o[i + 3] = v3;
    o[i + 4] = v4;
    o[i + 5] = v5;
    o[i + 6] = v6;
    o[i + 7] = v7;
  }
  for (; i < n; i++) o[i] = a[i]! / b[i]!;
}

function addRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  let i = 0;
  for (const end = n - 3; i < end; i += 4, po += 4 * so, pa += 4 * sa, pb += 4 * sb) {
    const v0 = a[pa]! + b[pb]!;
    const v1 = a[pa + sa]! + b[pb + sb]!;
    const v2 = a[pa + 2 * sa]! + b[pb + 2 * sb]!;
    const v3 = a[pa + 3 * sa]! + b[pb + 3 * sb]!;
    o[po] = v0;
    o[po + so] = v1;
    o[po + 2 * so] = v2;
    o[po + 3 * so] = v3;
  }
  for (; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! + b[pb]!;
}
function subRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  let i = 0;
  for (const end = n - 3; i < end; i += 4, po += 4 * so, pa += 4 * sa, pb += 4 * sb) {
    const v0 = a[pa]! - b[pb]!;
    const v1 = a[pa + sa]! - b[pb + sb]!;
    const v2 = a[pa + 2 * sa]! - b[pb + 2 * sb]!;
    const v3 = a[pa + 3 * sa]! - b[pb + 3 * sb]!;
    o[po] = v0;
    o[po + so] = v1;
    o[po + 2 * so] = v2;
    o[po + 3 * so] = v3;
  }
  for (; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! - b[pb]!;
}
function mulRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  let i = 0;
  for (const end = n - 3; i < end; i += 4, po += 4 * so, pa += 4 * sa, pb += 4 * sb) {
    const v0 = a[pa]! * b[pb]!;
    const v1 = a[pa + sa]! * b[pb + sb]!;
    const v2 = a[pa + 2 * sa]! * b[pb + 2 * sb]!;
    const v3 = a[pa + 3 * sa]! * b[pb + 3 * sb]!;
    o[po] = v0;
    o[po + so] = v1;
    o[po + 2 * so] = v2;
    o[po + 3 * so] = v3;
  }
  for (; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! * b[pb]!;
}
function divRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  let i = 0;
  for (const end = n - 3; i < end; i += 4, po += 4 * so, pa += 4 * sa, pb += 4 * sb) {
    const v0 = a[pa]! / b[pb]!;
    const v1 = a[pa + sa]! / b[pb + sb]!;
    const v2 = a[pa + 2 * sa]! / b[pb + 2 * sb]!;
    const v3 = a[pa + 3 * sa]! / b[pb + 3 * sb]!;
    o[po] = v0;
    o[po + so] = v1;
    o[po + 2 * so] = v2;
    o[po + 3 * so] = v3;
  }
  for (; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! / b[pb]!;
}
function powRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = powIeee(a[pa]!, b[pb]!);
}
function maximumRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = Math.max(a[pa]!, b[pb]!);
}
function minimumRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = Math.min(a[pa]!, b[pb]!);
}
function equalRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa] === b[pb] ? 1 : 0;
}
function notEqualRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa] !== b[pb] ? 1 : 0;
}
function lessRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! < b[pb]! ? 1 : 0;
}
function lessEqualRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! <= b[pb]! ? 1 : 0;
}
function greaterRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! > b[pb]! ? 1 : 0;
}
function greaterEqualRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  sb: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa, pb += sb) o[po] = a[pa]! >= b[pb]! ? 1 : 0;
}
/** `b` holds the bounds [lo, hi] (stride 0): clamp reuses the three-operand driver. */
function clampRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  _sb: number,
  n: number,
): void {
  const lo = b[pb]!;
  const hi = b[pb + 1]!;
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.min(Math.max(a[pa]!, lo), hi);
}
/** `b` holds alpha (stride 0); `o` is both read and written (y += alpha·x). */
function axpyRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  b: TypedData,
  pb: number,
  _sb: number,
  n: number,
): void {
  const alpha = b[pb]!;
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = o[po]! + alpha * a[pa]!;
}

function negRow(o: TypedData, po: number, so: number, a: TypedData, pa: number, sa: number, n: number): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = -a[pa]!;
}
function expRow(o: TypedData, po: number, so: number, a: TypedData, pa: number, sa: number, n: number): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.exp(a[pa]!);
}
function logRow(o: TypedData, po: number, so: number, a: TypedData, pa: number, sa: number, n: number): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.log(a[pa]!);
}
function sqrtRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.sqrt(a[pa]!);
}
function absRow(o: TypedData, po: number, so: number, a: TypedData, pa: number, sa: number, n: number): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.abs(a[pa]!);
}
function signRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.sign(a[pa]!);
}
function squareRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) {
    const x = a[pa]!;
    o[po] = x * x;
  }
}
function reciprocalRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = 1 / a[pa]!;
}
function tanhRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = Math.tanh(a[pa]!);
}
function sigmoidRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) o[po] = sigmoidScalar(a[pa]!);
}
function reluRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, po += so, pa += sa) {
    const x = a[pa]!;
    // NaN fails both tests and is passed through; -0 becomes +0.
    o[po] = x > 0 || Number.isNaN(x) ? x : 0;
  }
}

/** C/IEEE `pow`: JavaScript returns NaN for 1^NaN, 1^±Inf and (-1)^±Inf, where C returns 1. */
function powIeee(x: number, y: number): number {
  const r = x ** y;
  if (Number.isNaN(r) && (x === 1 || (x === -1 && (y === Infinity || y === -Infinity)))) return 1;
  return r;
}

/** Logistic function without overflow: exp is only ever taken of a non-positive number. */
function sigmoidScalar(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

// ---------------------------------------------------------------------------------------------------
// Argument handling.

function scalarView(value: number, dtype: DType): View {
  const data = allocData(dtype, 1);
  data[0] = value;
  return { data, shape: [], strides: [], offset: 0 };
}

function describeValue(x: unknown): string {
  if (x instanceof Tensor) return `a Tensor of shape ${fmtShape(x.shape)}`;
  if (Array.isArray(x)) return "an array";
  return x === null ? "null" : typeof x;
}

function requireTensor(op: string, name: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describeValue(x)}`);
  return x;
}

function requireNumber(op: string, name: string, x: unknown): number {
  if (typeof x !== "number") throw new TypeError(`${op}: ${name} must be a number, got ${describeValue(x)}`);
  return x;
}

function requireTensorOrNumber(op: string, name: string, x: unknown): void {
  if (!(x instanceof Tensor) && typeof x !== "number") {
    throw new TypeError(`${op}: ${name} must be a Tensor or a number, got ${describeValue(x)}`);
  }
}

function resultDType(...xs: readonly (Tensor | number)[]): DType {
  for (const x of xs) if (x instanceof Tensor && x.dtype === "float64") return "float64";
  return "float32";
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isContiguousView(v: View): boolean {
  let s = 1;
  for (let i = v.shape.length - 1; i >= 0; i--) {
    const d = v.shape[i]!;
    if (d !== 1 && v.strides[i] !== s) return false;
    s *= d;
  }
  return true;
}

/** The view's elements as a zero-based typed array (no copy; the view must be contiguous). */
function flatData(v: View, n: number): TypedData {
  return v.offset === 0 ? v.data : v.data.subarray(v.offset, v.offset + n);
}

function binary(
  op: string,
  row: Kernel3,
  flat: FlatKernel | null,
  a: Tensor | number,
  b: Tensor | number,
): Tensor {
  requireTensorOrNumber(op, "a", a);
  requireTensorOrNumber(op, "b", b);
  if (typeof a === "number" && typeof b === "number") {
    throw new TypeError(`${op}: expected at least one Tensor argument, got two numbers (${a}, ${b})`);
  }
  const fast = binaryFastPath.current(op, a, b);
  if (fast !== null) return fast;
  const dtype = resultDType(a, b);
  const va: View = typeof a === "number" ? scalarView(a, dtype) : a;
  const vb: View = typeof b === "number" ? scalarView(b, dtype) : b;
  const same = sameShape(va.shape, vb.shape);
  const shape = same ? [...va.shape] : broadcastShapeOf(op, [va.shape, vb.shape]);
  const n = shapeSize(shape);
  const out = allocData(dtype, n);
  if (flat !== null && same && n > 0 && isContiguousView(va) && isContiguousView(vb)) {
    flat(out, flatData(va, n), flatData(vb, n), n);
  } else {
    const lay = simplifyLayout(shape, [
      contiguousStrides(shape),
      broadcastStrides(op, va, shape),
      broadcastStrides(op, vb, shape),
    ]);
    const [so, sa, sb] = lay.strides as [number[], number[], number[]];
    drive3(row, lay.shape, out, 0, so, va.data, va.offset, sa, vb.data, vb.offset, sb);
  }
  return new Tensor(out, shape);
}

function unary(op: string, row: Kernel2, x: Tensor): Tensor {
  requireTensor(op, "x", x);
  const fast = unaryFastPath.current(op, x);
  if (fast !== null) return fast;
  const out = allocData(x.dtype, x.size);
  const lay = simplifyLayout(x.shape, [contiguousStrides(x.shape), x.strides]);
  drive2(row, lay.shape, out, 0, lay.strides[0]!, x.data, x.offset, lay.strides[1]!);
  return new Tensor(out, x.shape);
}

// ---------------------------------------------------------------------------------------------------
// Binary ops.

export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("add", addRow, addFlat, a, b);
}
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("sub", subRow, subFlat, a, b);
}
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("mul", mulRow, mulFlat, a, b);
}
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("div", divRow, divFlat, a, b);
}
/** a^b elementwise, with C/NumPy results where JavaScript's Math.pow differs (see the file comment). */
export function pow(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("pow", powRow, null, a, b);
}
/** Elementwise maximum; NaN if either side is NaN (NumPy's `maximum`, not `fmax`). */
export function maximum(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("maximum", maximumRow, null, a, b);
}
/** Elementwise minimum; NaN if either side is NaN. */
export function minimum(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("minimum", minimumRow, null, a, b);
}

// Comparisons give 1 where the relation holds, else 0; any comparison with NaN is false except notEqual.
export function equal(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("equal", equalRow, null, a, b);
}
export function notEqual(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("notEqual", notEqualRow, null, a, b);
}
export function less(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("less", lessRow, null, a, b);
}
export function lessEqual(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("lessEqual", lessEqualRow, null, a, b);
}
export function greater(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("greater", greaterRow, null, a, b);
}
export function greaterEqual(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("greaterEqual", greaterEqualRow, null, a, b);
}

/**
 * `a` where `cond` is non-zero, else `b`, with all three broadcast together. NaN counts as non-zero
 * (as in NumPy's truthiness). The dtype follows `a` and `b` (float64 if either is), or `cond` when both
 * are numbers.
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  requireTensor("where", "cond", cond);
  requireTensorOrNumber("where", "a", a);
  requireTensorOrNumber("where", "b", b);
  const dtype = typeof a === "number" && typeof b === "number" ? cond.dtype : resultDType(a, b);
  const va: View = typeof a === "number" ? scalarView(a, dtype) : a;
  const vb: View = typeof b === "number" ? scalarView(b, dtype) : b;
  const shape = broadcastShapeOf("where", [cond.shape, va.shape, vb.shape]);
  const out = allocData(dtype, shapeSize(shape));
  const lay = simplifyLayout(shape, [
    contiguousStrides(shape),
    broadcastStrides("where", cond, shape),
    broadcastStrides("where", va, shape),
    broadcastStrides("where", vb, shape),
  ]);
  const innerStride = (st: readonly number[]): number => (st.length > 0 ? st[st.length - 1]! : 0);
  const [dso, dsc, dsa, dsb] = lay.strides.map(innerStride) as [number, number, number, number];
  const c = cond.data;
  const ad = va.data;
  const bd = vb.data;
  driveRows(lay.shape, [0, cond.offset, va.offset, vb.offset], lay.strides, (p, n) => {
    let po = p[0]!;
    let pc = p[1]!;
    let pa = p[2]!;
    let pb = p[3]!;
    for (let i = 0; i < n; i++, po += dso, pc += dsc, pa += dsa, pb += dsb) {
      out[po] = c[pc] !== 0 ? ad[pa]! : bd[pb]!;
    }
  });
  return new Tensor(out, shape);
}

// ---------------------------------------------------------------------------------------------------
// Unary ops (the result has the input's dtype).

export function neg(x: Tensor): Tensor {
  return unary("neg", negRow, x);
}
export function exp(x: Tensor): Tensor {
  return unary("exp", expRow, x);
}
/** Natural log: log(0) = -Infinity, log(negative) = NaN. */
export function log(x: Tensor): Tensor {
  return unary("log", logRow, x);
}
export function sqrt(x: Tensor): Tensor {
  return unary("sqrt", sqrtRow, x);
}
export function abs(x: Tensor): Tensor {
  return unary("abs", absRow, x);
}
/** -1, 0 or 1 (NaN stays NaN, -0 stays -0). */
export function sign(x: Tensor): Tensor {
  return unary("sign", signRow, x);
}
export function square(x: Tensor): Tensor {
  return unary("square", squareRow, x);
}
/** 1/x: ±0 gives ±Infinity. */
export function reciprocal(x: Tensor): Tensor {
  return unary("reciprocal", reciprocalRow, x);
}
export function tanh(x: Tensor): Tensor {
  return unary("tanh", tanhRow, x);
}
/** 1/(1+e^-x), computed without overflow for large |x|. */
export function sigmoid(x: Tensor): Tensor {
  return unary("sigmoid", sigmoidRow, x);
}
/** max(x, 0); NaN stays NaN. */
export function relu(x: Tensor): Tensor {
  return unary("relu", reluRow, x);
}

/** Clamp into [lo, hi]; either bound may be infinite. NaN elements stay NaN. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  requireTensor("clamp", "x", x);
  requireNumber("clamp", "lo", lo);
  requireNumber("clamp", "hi", hi);
  if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) {
    throw new RangeError(`clamp: expected lo <= hi (both not NaN), got lo=${lo}, hi=${hi}`);
  }
  const out = allocData(x.dtype, x.size);
  const bounds = Float64Array.of(lo, hi);
  const lay = simplifyLayout(x.shape, [contiguousStrides(x.shape), x.strides, new Array(x.ndim).fill(0)]);
  const [so, sa, sb] = lay.strides as [number[], number[], number[]];
  drive3(clampRow, lay.shape, out, 0, so, x.data, x.offset, sa, bounds, 0, sb);
  return new Tensor(out, x.shape);
}

/** Apply `fn` to every element (generic and not hot: one call per element). Keeps the dtype. */
export function map(x: Tensor, fn: (v: number) => number): Tensor {
  requireTensor("map", "x", x);
  if (typeof fn !== "function") throw new TypeError(`map: fn must be a function, got ${describeValue(fn)}`);
  const src = x.values();
  const out = allocData(x.dtype, src.length);
  for (let i = 0; i < src.length; i++) out[i] = fn(src[i]!);
  return new Tensor(out, x.shape);
}

// ---------------------------------------------------------------------------------------------------
// In-place ops: `out` keeps its shape, dtype and buffer; the other operand broadcasts to out's shape.

/** Checks shared by the in-place ops; returns `b` as a view that is safe to read while writing `out`. */
function inPlaceOperand(
  op: string,
  out: Tensor,
  b: Tensor | number,
  name = "b",
): { v: View; strides: number[] } {
  requireTensor(op, "out", out);
  requireTensorOrNumber(op, name, b);
  if (selfOverlaps(out)) {
    throw new ShapeError(
      op,
      `out (shape ${fmtShape(out.shape)}, strides ${fmtShape(out.strides)}) has overlapping elements, ` +
        "e.g. a broadcast (expanded) view; expected a view where each element has its own memory",
    );
  }
  if (typeof b === "number") {
    const v = scalarView(b, out.dtype);
    return { v, strides: new Array(out.ndim).fill(0) };
  }
  if (!broadcastsTo(b.shape, out.shape)) {
    throw new ShapeError(
      op,
      `${name} of shape ${fmtShape(b.shape)} does not broadcast to out's shape ${fmtShape(out.shape)}; ` +
        `expected ${name}'s trailing axes to equal out's or be 1 (an in-place op cannot change out's shape)`,
    );
  }
  let v: View = b;
  let strides = broadcastStrides(op, v, out.shape);
  if (mayAlias(out, v, strides)) {
    // Reading b while writing out would see already-updated values (e.g. x += x.T): read a copy.
    v = b.copy();
    strides = broadcastStrides(op, v, out.shape);
  }
  return { v, strides };
}

function broadcastsTo(shape: readonly number[], target: readonly number[]): boolean {
  const lead = target.length - shape.length;
  if (lead < 0) return false;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d !== 1 && d !== target[lead + i]) return false;
  }
  return true;
}

function inPlace(op: string, row: Kernel3, flat: FlatKernel, out: Tensor, b: Tensor | number): Tensor {
  const { v, strides } = inPlaceOperand(op, out, b);
  const n = out.size;
  if (n === 0) return out;
  if (out.isContiguous() && sameShape(v.shape, out.shape) && isContiguousView(v)) {
    const o = flatData(out, n);
    flat(o, o, flatData(v, n), n);
    return out;
  }
  const lay = simplifyLayout(out.shape, [out.strides, out.strides, strides], 0);
  const [so, sa, sb] = lay.strides as [number[], number[], number[]];
  drive3(row, lay.shape, out.data, out.offset, so, out.data, out.offset, sa, v.data, v.offset, sb);
  return out;
}

/** out += b (b broadcast to out's shape). Returns `out`. */
export function addInPlace(out: Tensor, b: Tensor | number): Tensor {
  return inPlace("addInPlace", addRow, addFlat, out, b);
}
/** out -= b. Returns `out`. */
export function subInPlace(out: Tensor, b: Tensor | number): Tensor {
  return inPlace("subInPlace", subRow, subFlat, out, b);
}
/** out *= b. Returns `out`. */
export function mulInPlace(out: Tensor, b: Tensor | number): Tensor {
  return inPlace("mulInPlace", mulRow, mulFlat, out, b);
}
/** out /= b. Returns `out`. */
export function divInPlace(out: Tensor, b: Tensor | number): Tensor {
  return inPlace("divInPlace", divRow, divFlat, out, b);
}
/** out *= s for a number s. Returns `out`. */
export function scaleInPlace(out: Tensor, s: number): Tensor {
  requireNumber("scaleInPlace", "s", s);
  return inPlace("scaleInPlace", mulRow, mulFlat, out, s);
}

/**
 * y += alpha·x (x broadcast to y's shape). alpha·x is computed in float64 and rounded once on store, so
 * a float32 `y` is not double-rounded. Returns `y`.
 */
export function axpyInPlace(y: Tensor, alpha: number, x: Tensor): Tensor {
  const op = "axpyInPlace";
  requireNumber(op, "alpha", alpha);
  requireTensor(op, "x", x);
  const { v, strides } = inPlaceOperand(op, y, x, "x");
  if (y.size === 0) return y;
  const lay = simplifyLayout(y.shape, [y.strides, strides, new Array(y.ndim).fill(0)], 0);
  const [sy, sx, sAlpha] = lay.strides as [number[], number[], number[]];
  drive3(axpyRow, lay.shape, y.data, y.offset, sy, v.data, v.offset, sx, Float64Array.of(alpha), 0, sAlpha);
  return y;
}

/** Copy `src` (broadcast to dst's shape) into `dst`, converting dtype on store. Returns `dst`. */
export function assign(dst: Tensor, src: Tensor | number): Tensor {
  const { v, strides } = inPlaceOperand("assign", dst, src, "src");
  if (dst.size === 0) return dst;
  const lay = simplifyLayout(dst.shape, [dst.strides, strides], 0);
  drive2(copyRow, lay.shape, dst.data, dst.offset, lay.strides[0]!, v.data, v.offset, lay.strides[1]!);
  return dst;
}

/** Set every element of `dst` to `value` (rounded to dst's dtype). Returns `dst`. */
export function fill(dst: Tensor, value: number): Tensor {
  requireNumber("fill", "value", value);
  if (requireTensor("fill", "dst", dst).isContiguous()) {
    dst.data.fill(value, dst.offset, dst.offset + dst.size);
    return dst;
  }
  return assign(dst, value);
}
