import { assertIntegerShape, fmtShape, ShapeError } from "./errors.js";
import type { Rng } from "./rng.js";
import { allocData, type DType, shapeSize, Tensor, type TypedData } from "./tensor.js";

type Nested = number | readonly Nested[];

/**
 * A tensor from a flat array (with `shape`) or a nested array (shape inferred). Always copies.
 */
export function tensor(
  data: Nested | ArrayLike<number>,
  shape?: readonly number[],
  dtype: DType = "float32",
): Tensor {
  if (typeof data === "number") {
    const out = allocData(dtype, 1);
    out[0] = data;
    return new Tensor(out, shape ?? []);
  }
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (Array.isArray(data) && data.length > 0 && Array.isArray(data[0])) {
    inferred = [];
    let level: Nested = data as Nested;
    while (Array.isArray(level)) {
      inferred.push(level.length);
      level = (level as readonly Nested[])[0]!;
    }
    const acc: number[] = [];
    flattenInto(data as Nested, inferred, 0, acc);
    flat = acc;
  } else {
    flat = data as ArrayLike<number>;
    inferred = [flat.length];
  }
  const sh = shape ? [...shape] : inferred;
  assertIntegerShape("tensor", sh);
  if (shapeSize(sh) !== flat.length) {
    throw new ShapeError("tensor", `${flat.length} values cannot fill shape ${fmtShape(sh)}`);
  }
  const out = allocData(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) out[i] = flat[i]!;
  return new Tensor(out, sh);
}

function flattenInto(x: Nested, shape: number[], depth: number, acc: number[]): void {
  if (depth === shape.length) {
    if (typeof x !== "number") throw new ShapeError("tensor", "nested array is ragged");
    acc.push(x);
    return;
  }
  if (!Array.isArray(x) || x.length !== shape[depth])
    throw new ShapeError("tensor", "nested array is ragged");
  for (const v of x as readonly Nested[]) flattenInto(v, shape, depth + 1, acc);
}

/** Wrap an existing typed array (no copy). */
export function fromData(data: TypedData, shape: readonly number[]): Tensor {
  if (shapeSize(shape) !== data.length) {
    throw new ShapeError("fromData", `buffer of ${data.length} does not match shape ${fmtShape(shape)}`);
  }
  return new Tensor(data, shape);
}

export function full(shape: readonly number[], value: number, dtype: DType = "float32"): Tensor {
  assertIntegerShape("full", shape);
  const out = allocData(dtype, shapeSize(shape));
  if (value !== 0) out.fill(value);
  return new Tensor(out, shape);
}

export function zeros(shape: readonly number[], dtype: DType = "float32"): Tensor {
  return full(shape, 0, dtype);
}

export function ones(shape: readonly number[], dtype: DType = "float32"): Tensor {
  return full(shape, 1, dtype);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, t.dtype);
}

/** Values start, start+step, … below stop (NumPy's arange). */
export function arange(start: number, stop?: number, step = 1, dtype: DType = "float32"): Tensor {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step))
    throw new Error(`arange: step must be finite and non-zero, got ${step}`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = allocData(dtype, n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return new Tensor(out, [n]);
}

/** Uniform samples in [lo, hi) from a seeded generator. */
export function rand(shape: readonly number[], rng: Rng, lo = 0, hi = 1, dtype: DType = "float32"): Tensor {
  assertIntegerShape("rand", shape);
  const out = allocData(dtype, shapeSize(shape));
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.next();
  return new Tensor(out, shape);
}

/** Normal samples from a seeded generator. */
export function randn(
  shape: readonly number[],
  rng: Rng,
  mean = 0,
  std = 1,
  dtype: DType = "float32",
): Tensor {
  assertIntegerShape("randn", shape);
  const out = allocData(dtype, shapeSize(shape));
  for (let i = 0; i < out.length; i++) out[i] = rng.normal(mean, std);
  return new Tensor(out, shape);
}
