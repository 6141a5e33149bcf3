import { assertIntegerShape, fmtShape, ShapeError } from "./errors.js";
import { broadcastShapeOf } from "./strided.js";
import { contiguousStrides, shapeSize, Tensor } from "./tensor.js";

/** Normalise a possibly negative axis; throws naming the op when out of range. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) {
    throw new ShapeError(op, `axis ${axis} is out of range for a tensor of rank ${ndim}`);
  }
  return a;
}

/**
 * Reshape. A view when the tensor is contiguous, otherwise a copy. One dimension may be -1.
 */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const target = [...shape];
  const neg = target.indexOf(-1);
  if (neg >= 0) {
    if (target.indexOf(-1, neg + 1) >= 0)
      throw new ShapeError("reshape", `only one -1 allowed in ${fmtShape(shape)}`);
    const rest = shapeSize(target.filter((_, i) => i !== neg));
    if (rest === 0 || t.size % rest !== 0) {
      throw new ShapeError("reshape", `cannot reshape ${fmtShape(t.shape)} to ${fmtShape(shape)}`);
    }
    target[neg] = t.size / rest;
  }
  assertIntegerShape("reshape", target);
  if (shapeSize(target) !== t.size) {
    throw new ShapeError(
      "reshape",
      `cannot reshape ${fmtShape(t.shape)} (${t.size} elements) to ${fmtShape(shape)}`,
    );
  }
  const c = t.contiguous();
  return new Tensor(c.data, target, contiguousStrides(target), c.offset);
}

/** Permute axes (a view). `perm` defaults to reversing the axes. */
export function permute(t: Tensor, perm?: readonly number[]): Tensor {
  const nd = t.ndim;
  const p = perm ? perm.map((a) => normAxis("permute", a, nd)) : [...Array(nd).keys()].reverse();
  if (p.length !== nd || new Set(p).size !== nd) {
    throw new ShapeError("permute", `perm ${fmtShape(perm ?? [])} is not a permutation of ${nd} axes`);
  }
  return new Tensor(
    t.data,
    p.map((a) => t.shape[a]!),
    p.map((a) => t.strides[a]!),
    t.offset,
  );
}

/** Swap two axes (a view); defaults to the last two. */
export function transpose(t: Tensor, a = -2, b = -1): Tensor {
  if (t.ndim < 2) throw new ShapeError("transpose", `needs rank >= 2, got shape ${fmtShape(t.shape)}`);
  const x = normAxis("transpose", a, t.ndim);
  const y = normAxis("transpose", b, t.ndim);
  const perm = [...Array(t.ndim).keys()];
  perm[x] = y;
  perm[y] = x;
  return permute(t, perm);
}

/** Per-axis slice spec: null keeps the axis whole; [start, end?, step?] follows Python's rules. */
export type SliceSpec = null | readonly [number, number?, number?];

/** Slice (a view). Specs beyond the given ones keep their axes whole. */
export function slice(t: Tensor, specs: readonly SliceSpec[]): Tensor {
  if (specs.length > t.ndim) {
    throw new ShapeError("slice", `${specs.length} slice specs for a tensor of shape ${fmtShape(t.shape)}`);
  }
  const shape = [...t.shape];
  const strides = [...t.strides];
  let offset = t.offset;
  for (let ax = 0; ax < specs.length; ax++) {
    const spec = specs[ax];
    if (spec === null || spec === undefined) continue;
    const dim = shape[ax]!;
    const step = spec[2] ?? 1;
    if (!Number.isInteger(step) || step === 0)
      throw new ShapeError("slice", `step must be a non-zero integer, got ${step}`);
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let start: number;
    let end: number;
    if (step > 0) {
      start = spec[0] < 0 ? spec[0] + dim : spec[0];
      end = spec[1] === undefined ? dim : spec[1] < 0 ? spec[1] + dim : spec[1];
      start = clampIdx(start, 0, dim);
      end = clampIdx(end, 0, dim);
    } else {
      start = spec[0] < 0 ? spec[0] + dim : spec[0];
      end = spec[1] === undefined ? -1 : spec[1] < 0 ? spec[1] + dim : spec[1];
      start = clampIdx(start, -1, dim - 1);
      end = clampIdx(end, -1, dim - 1);
    }
    if (!Number.isInteger(start) || !Number.isInteger(end)) {
      throw new ShapeError("slice", `slice bounds must be integers, got [${spec.join(", ")}]`);
    }
    const len =
      step > 0 ? Math.max(0, Math.ceil((end - start) / step)) : Math.max(0, Math.ceil((start - end) / -step));
    if (len > 0) offset += start * strides[ax]!;
    shape[ax] = len;
    strides[ax] = strides[ax]! * step;
  }
  return new Tensor(t.data, shape, strides, shapeSize(shape) === 0 ? 0 : offset);
}

/** Remove size-1 axes (all of them, or the ones named). A view. */
export function squeeze(t: Tensor, axes?: readonly number[]): Tensor {
  const drop = new Set<number>();
  if (axes === undefined) {
    t.shape.forEach((d, i) => {
      if (d === 1) drop.add(i);
    });
  } else {
    for (const a of axes) {
      const ax = normAxis("squeeze", a, t.ndim);
      if (t.shape[ax] !== 1) {
        throw new ShapeError(
          "squeeze",
          `axis ${a} has size ${t.shape[ax]} in shape ${fmtShape(t.shape)}, expected 1`,
        );
      }
      drop.add(ax);
    }
  }
  const keep = [...t.shape.keys()].filter((i) => !drop.has(i));
  return new Tensor(
    t.data,
    keep.map((i) => t.shape[i]!),
    keep.map((i) => t.strides[i]!),
    t.offset,
  );
}

/** Insert a size-1 axis at `axis` (of the result). A view. */
export function unsqueeze(t: Tensor, axis: number): Tensor {
  const ax = normAxis("unsqueeze", axis, t.ndim + 1);
  const shape = [...t.shape];
  const strides = [...t.strides];
  shape.splice(ax, 0, 1);
  strides.splice(ax, 0, 0);
  return new Tensor(t.data, shape, strides, t.offset);
}

/**
 * Broadcast to `shape` (a view with stride 0 on the broadcast axes), NumPy rules: trailing axes align,
 * size-1 axes stretch.
 */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  assertIntegerShape("expand", shape);
  const nd = shape.length;
  if (nd < t.ndim)
    throw new ShapeError("expand", `cannot expand ${fmtShape(t.shape)} to fewer axes ${fmtShape(shape)}`);
  const strides = new Array<number>(nd).fill(0);
  const lead = nd - t.ndim;
  for (let i = 0; i < t.ndim; i++) {
    const d = t.shape[i]!;
    const target = shape[lead + i]!;
    if (d === target) strides[lead + i] = t.strides[i]!;
    else if (d === 1) strides[lead + i] = 0;
    else throw new ShapeError("expand", `cannot broadcast ${fmtShape(t.shape)} to ${fmtShape(shape)}`);
  }
  return new Tensor(t.data, shape, strides, t.offset);
}

/**
 * NumPy broadcast of two or more shapes; the error names the op, every shape and the offending axis.
 */
export function broadcastShapes(op: string, ...shapes: readonly (readonly number[])[]): number[] {
  return broadcastShapeOf(op, shapes);
}
