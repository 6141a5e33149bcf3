/**
 * Private loop machinery shared by the elementwise, reduction and joining ops (not exported from the
 * package). A loop nest is described by one shape and, per operand, a typed array, an offset and strides
 * aligned to that shape (stride 0 on broadcast axes). `simplifyLayout` shrinks the nest (drops size-1 axes,
 * merges axes that every operand walks linearly) so that the common cases become one or two loops, and the
 * `drive*` functions run an odometer over the outer axes and hand each innermost row to a kernel.
 *
 * Kernels are plain functions with a fixed signature, one per op, so that each stays monomorphic: a shared
 * generic kernel calling an `fn(a, b)` argument would see every op at one call site and stop V8 from
 * inlining the arithmetic. Only the per-row call from the driver is shared, which costs nanoseconds per row.
 */
import { fmtShape, ShapeError } from "./errors.js";
import { shapeSize, type TypedData } from "./tensor.js";

/** The strided-view fields the loops need; `Tensor` satisfies it, and so does a wrapped scalar. */
export interface View {
  readonly data: TypedData;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Row kernel over two operands: output `o` (stride `so`, may be 0) and input `a`. */
export type Kernel2 = (
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
) => void;

/** Row kernel over three operands: output `o` and inputs `a`, `b`. */
export type Kernel3 = (
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
) => void;

/**
 * NumPy broadcast of shapes, with an error that names the op, every shape and the offending axis. Public
 * as `broadcastShapes` (views.ts).
 */
export function broadcastShapeOf(op: string, shapes: readonly (readonly number[])[]): number[] {
  let nd = 0;
  for (const s of shapes) if (s.length > nd) nd = s.length;
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    const lead = nd - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const cur = out[lead + i]!;
      if (d === cur || d === 1) continue;
      if (cur === 1) {
        out[lead + i] = d;
        continue;
      }
      throw new ShapeError(
        op,
        `shapes ${shapes.map(fmtShape).join(" and ")} cannot be broadcast together: axis ${i - s.length} ` +
          `has sizes ${cur} and ${d}; expected equal sizes or 1 (trailing axes are aligned)`,
      );
    }
  }
  return out;
}

/**
 * Strides of `t` read as if broadcast to `shape` (0 on stretched and leading axes). The caller has already
 * checked compatibility (via `broadcastShapeOf`) or checks it here through `op`.
 */
export function broadcastStrides(op: string, t: View, shape: readonly number[]): number[] {
  const nd = shape.length;
  const rank = t.shape.length;
  const lead = nd - rank;
  if (lead < 0) {
    throw new ShapeError(
      op,
      `cannot broadcast ${fmtShape(t.shape)} to the smaller rank of ${fmtShape(shape)}`,
    );
  }
  const st = new Array<number>(nd).fill(0);
  for (let i = 0; i < rank; i++) {
    const d = t.shape[i]!;
    const target = shape[lead + i]!;
    if (d === target) st[lead + i] = d === 1 ? 0 : t.strides[i]!;
    else if (d !== 1) {
      throw new ShapeError(
        op,
        `cannot broadcast ${fmtShape(t.shape)} to ${fmtShape(shape)}: axis ${i} has size ${d}, expected ${target} or 1`,
      );
    }
  }
  return st;
}

export interface Layout {
  shape: number[];
  /** One stride list per operand, each aligned to `shape`. */
  strides: number[][];
}

/**
 * Shrink a loop nest without changing which elements meet: drop size-1 axes, optionally reorder axes so
 * that operand `sortBy` is walked with decreasing |stride| (free for reductions, whose output is scratch;
 * a no-op for fresh row-major outputs), then merge neighbouring axes that every operand walks linearly.
 * A contiguous same-shape op becomes one axis; `[N,C] + [C]` stays two; `[N,C,H,W] * [1,C,1,1]` becomes
 * `[N, C, H·W]` with a unit-stride inner loop. A zero-size nest returns shape `[0]`.
 */
export function simplifyLayout(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  sortBy = -1,
): Layout {
  const k = strides.length;
  let axes: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 0) return { shape: [0], strides: strides.map(() => [0]) };
    if (shape[i] !== 1) axes.push(i);
  }
  if (sortBy >= 0 && axes.length > 1) {
    const st = strides[sortBy]!;
    // Stable: axes with equal |stride| keep their logical order.
    axes = axes
      .map((ax, pos) => ({ ax, pos, s: Math.abs(st[ax]!) }))
      .sort((x, y) => y.s - x.s || x.pos - y.pos)
      .map((e) => e.ax);
  }
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (const ax of axes) {
    const d = shape[ax]!;
    const last = outShape.length - 1;
    let mergeable = last >= 0;
    for (let j = 0; j < k && mergeable; j++) {
      // The previous (outer) axis continues this one when outer stride = inner stride × inner size.
      const so = outStrides[j]![last]!;
      const si = strides[j]![ax]!;
      if (so !== si * d) mergeable = false;
    }
    if (mergeable) {
      outShape[last] = outShape[last]! * d;
      for (let j = 0; j < k; j++) outStrides[j]![last] = strides[j]![ax]!;
    } else {
      outShape.push(d);
      for (let j = 0; j < k; j++) outStrides[j]!.push(strides[j]![ax]!);
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Run `kernel` over every innermost row of the nest (the last axis of `shape`). A rank-0 nest is one
 * element. The shape must have no zero-size axis unless it is `[0]` (nothing to do).
 */
export function drive2(
  kernel: Kernel2,
  shape: readonly number[],
  o: TypedData,
  oOff: number,
  oStr: readonly number[],
  a: TypedData,
  aOff: number,
  aStr: readonly number[],
): void {
  const nd = shape.length;
  if (nd === 0) {
    kernel(o, oOff, 0, a, aOff, 0, 1);
    return;
  }
  const inner = nd - 1;
  const n = shape[inner]!;
  if (n === 0) return;
  const so = oStr[inner]!;
  const sa = aStr[inner]!;
  if (nd === 1) {
    kernel(o, oOff, so, a, aOff, sa, n);
    return;
  }
  const rows = shapeSize(shape) / n;
  const idx = new Array<number>(inner).fill(0);
  let po = oOff;
  let pa = aOff;
  for (let r = 0; r < rows; r++) {
    kernel(o, po, so, a, pa, sa, n);
    for (let ax = inner - 1; ax >= 0; ax--) {
      po += oStr[ax]!;
      pa += aStr[ax]!;
      if (++idx[ax]! < shape[ax]!) break;
      po -= shape[ax]! * oStr[ax]!;
      pa -= shape[ax]! * aStr[ax]!;
      idx[ax] = 0;
    }
  }
}

/** Like `drive2`, with a second input. */
export function drive3(
  kernel: Kernel3,
  shape: readonly number[],
  o: TypedData,
  oOff: number,
  oStr: readonly number[],
  a: TypedData,
  aOff: number,
  aStr: readonly number[],
  b: TypedData,
  bOff: number,
  bStr: readonly number[],
): void {
  const nd = shape.length;
  if (nd === 0) {
    kernel(o, oOff, 0, a, aOff, 0, b, bOff, 0, 1);
    return;
  }
  const inner = nd - 1;
  const n = shape[inner]!;
  if (n === 0) return;
  const so = oStr[inner]!;
  const sa = aStr[inner]!;
  const sb = bStr[inner]!;
  if (nd === 1) {
    kernel(o, oOff, so, a, aOff, sa, b, bOff, sb, n);
    return;
  }
  const rows = shapeSize(shape) / n;
  const idx = new Array<number>(inner).fill(0);
  let po = oOff;
  let pa = aOff;
  let pb = bOff;
  for (let r = 0; r < rows; r++) {
    kernel(o, po, so, a, pa, sa, b, pb, sb, n);
    for (let ax = inner - 1; ax >= 0; ax--) {
      po += oStr[ax]!;
      pa += aStr[ax]!;
      pb += bStr[ax]!;
      if (++idx[ax]! < shape[ax]!) break;
      po -= shape[ax]! * oStr[ax]!;
      pa -= shape[ax]! * aStr[ax]!;
      pb -= shape[ax]! * bStr[ax]!;
      idx[ax] = 0;
    }
  }
}

/**
 * Generic odometer for ops that are not hot (where, softmax lanes, argmax): calls `row(ptrs, n)` once per
 * innermost row with each operand's start index in `ptrs` (reused between calls; copy it to keep it).
 */
export function driveRows(
  shape: readonly number[],
  offsets: readonly number[],
  strides: readonly (readonly number[])[],
  row: (ptrs: readonly number[], n: number) => void,
): void {
  const k = offsets.length;
  const ptrs = [...offsets];
  const nd = shape.length;
  if (nd === 0) {
    row(ptrs, 1);
    return;
  }
  const inner = nd - 1;
  const n = shape[inner]!;
  const total = shapeSize(shape);
  if (total === 0) return;
  const rows = total / n;
  const idx = new Array<number>(inner).fill(0);
  for (let r = 0; r < rows; r++) {
    row(ptrs, n);
    for (let ax = inner - 1; ax >= 0; ax--) {
      for (let j = 0; j < k; j++) ptrs[j] = ptrs[j]! + strides[j]![ax]!;
      if (++idx[ax]! < shape[ax]!) break;
      for (let j = 0; j < k; j++) ptrs[j] = ptrs[j]! - shape[ax]! * strides[j]![ax]!;
      idx[ax] = 0;
    }
  }
}

/** Row kernel that copies `a` into `o` (with the dtype conversion of the typed-array store). */
export function copyRow(
  o: TypedData,
  po: number,
  so: number,
  a: TypedData,
  pa: number,
  sa: number,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    o[po] = a[pa]!;
    po += so;
    pa += sa;
  }
}

/**
 * Copy `src` broadcast into the view `dst` (any strides). The caller guarantees that `dst` has no
 * self-overlapping axis and that `src` does not partially overlap `dst`.
 */
export function copyBroadcast(op: string, dst: View, src: View): void {
  const bs = broadcastStrides(op, src, dst.shape);
  const lay = simplifyLayout(dst.shape, [dst.strides, bs], 0);
  drive2(copyRow, lay.shape, dst.data, dst.offset, lay.strides[0]!, src.data, src.offset, lay.strides[1]!);
}

/**
 * Whether `t` writes some memory location from two different indices (a stride-0 or otherwise
 * overlapping axis). In-place ops refuse such outputs because the result would depend on loop order.
 */
export function selfOverlaps(t: View): boolean {
  const dims: { d: number; s: number }[] = [];
  for (let i = 0; i < t.shape.length; i++) {
    const d = t.shape[i]!;
    if (d === 0) return false;
    if (d > 1) dims.push({ d, s: Math.abs(t.strides[i]!) });
  }
  dims.sort((x, y) => x.s - y.s);
  // Sorted by stride, each axis must step past the full extent of the smaller ones. This is sufficient for
  // no overlap (never misses one); it may refuse exotic interleaved layouts that this package never makes.
  let extent = 1;
  for (const { d, s } of dims) {
    if (s < extent) return true;
    extent = s * (d - 1) + extent;
  }
  return false;
}

/**
 * Whether reading `src` (broadcast to `dst`'s shape) while writing `dst` could read an element already
 * overwritten: they share a buffer and the layouts differ. Exactly equal layouts are safe for
 * elementwise loops (each element is read before it is written).
 */
export function mayAlias(dst: View, src: View, srcStrides: readonly number[]): boolean {
  if (dst.data.buffer !== src.data.buffer) return false;
  if (
    dst.data.byteOffset + dst.offset * dst.data.BYTES_PER_ELEMENT !==
    src.data.byteOffset + src.offset * src.data.BYTES_PER_ELEMENT
  )
    return true;
  if (dst.data.BYTES_PER_ELEMENT !== src.data.BYTES_PER_ELEMENT) return true;
  for (let i = 0; i < dst.shape.length; i++) {
    if (dst.shape[i]! > 1 && dst.strides[i] !== srcStrides[i]) return true;
  }
  return false;
}
