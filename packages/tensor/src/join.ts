/**
 * Joining and padding: concat, stack, pad. Each builds a fresh row-major tensor and copies every input
 * into its region through a strided view of the output, so inputs may be arbitrary (non-contiguous)
 * views. The result is float64 if any input is float64, else float32.
 */
import { fmtShape, ShapeError } from "./errors.js";
import { copyBroadcast } from "./strided.js";
import { allocData, contiguousStrides, type DType, shapeSize, Tensor } from "./tensor.js";
import { normAxis } from "./views.js";

function requireTensors(op: string, ts: unknown): readonly Tensor[] {
  if (!Array.isArray(ts)) throw new TypeError(`${op}: expected an array of tensors, got ${typeof ts}`);
  if (ts.length === 0) throw new ShapeError(op, "expected at least one tensor, got an empty list");
  ts.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: element ${i} is not a Tensor`);
  });
  return ts as readonly Tensor[];
}

function joinedDType(ts: readonly Tensor[]): DType {
  return ts.some((t) => t.dtype === "float64") ? "float64" : "float32";
}

/**
 * Join tensors along an existing axis. All inputs must have the same rank and the same size on every
 * other axis.
 */
export function concat(ts: readonly Tensor[], axis = 0): Tensor {
  const op = "concat";
  requireTensors(op, ts);
  const first = ts[0]!;
  const nd = first.ndim;
  if (nd === 0) throw new ShapeError(op, "cannot concatenate rank-0 tensors; expected rank >= 1 (use stack)");
  const ax = normAxis(op, axis, nd);
  let total = 0;
  ts.forEach((t, i) => {
    const ok = t.ndim === nd && t.shape.every((d, j) => j === ax || d === first.shape[j]);
    if (!ok) {
      throw new ShapeError(
        op,
        `tensor ${i} has shape ${fmtShape(t.shape)} but tensor 0 has ${fmtShape(first.shape)}; ` +
          `expected the same rank and equal sizes on every axis except axis ${axis}`,
      );
    }
    total += t.shape[ax]!;
  });
  const shape = [...first.shape];
  shape[ax] = total;
  const out = allocData(joinedDType(ts), shapeSize(shape));
  const strides = contiguousStrides(shape);
  let at = 0;
  for (const t of ts) {
    if (t.size > 0) copyBroadcast(op, { data: out, shape: t.shape, strides, offset: at * strides[ax]! }, t);
    at += t.shape[ax]!;
  }
  return new Tensor(out, shape);
}

/** Join same-shape tensors along a new axis inserted at `axis` (in [-(ndim+1), ndim]). */
export function stack(ts: readonly Tensor[], axis = 0): Tensor {
  const op = "stack";
  requireTensors(op, ts);
  const first = ts[0]!;
  const ax = normAxis(op, axis, first.ndim + 1);
  ts.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((d, j) => d !== first.shape[j])) {
      throw new ShapeError(
        op,
        `tensor ${i} has shape ${fmtShape(t.shape)} but tensor 0 has ${fmtShape(first.shape)}; expected equal shapes`,
      );
    }
  });
  const shape = [...first.shape];
  shape.splice(ax, 0, ts.length);
  const out = allocData(joinedDType(ts), shapeSize(shape));
  const strides = contiguousStrides(shape);
  // Each input fills the slice at index i of the new axis: the output strides without that axis.
  const sliceStrides = strides.filter((_, j) => j !== ax);
  ts.forEach((t, i) => {
    if (t.size > 0) {
      copyBroadcast(op, { data: out, shape: t.shape, strides: sliceStrides, offset: i * strides[ax]! }, t);
    }
  });
  return new Tensor(out, shape);
}

/**
 * Pad with a constant: `pads[i] = [before, after]` adds that many elements of `value` on axis i. One
 * pair per axis (pads.length must equal t.ndim), non-negative integers. Keeps t's dtype.
 */
export function pad(t: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  const op = "pad";
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${typeof t}`);
  if (!Array.isArray(pads) || pads.length !== t.ndim) {
    throw new ShapeError(
      op,
      `got ${Array.isArray(pads) ? pads.length : "no"} pad pairs for shape ${fmtShape(t.shape)}; ` +
        `expected one [before, after] pair per axis (${t.ndim})`,
    );
  }
  pads.forEach((p, i) => {
    const ok =
      Array.isArray(p) &&
      p.length === 2 &&
      p.every((v) => typeof v === "number" && Number.isInteger(v) && v >= 0);
    if (!ok) {
      throw new ShapeError(
        op,
        `pad pair ${i} is ${JSON.stringify(p)}; expected [before, after] with non-negative integers`,
      );
    }
  });
  if (typeof value !== "number") throw new TypeError(`${op}: value must be a number, got ${typeof value}`);
  const shape = t.shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
  const n = shapeSize(shape);
  const out = allocData(t.dtype, n);
  if (!Object.is(value, 0)) out.fill(value);
  const strides = contiguousStrides(shape);
  let offset = 0;
  for (let i = 0; i < t.ndim; i++) offset += pads[i]![0] * strides[i]!;
  if (t.size > 0) copyBroadcast(op, { data: out, shape: t.shape, strides, offset }, t);
  return new Tensor(out, shape);
}
