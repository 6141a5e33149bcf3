import ndarray from "ndarray";
import { assertIntegerShape, fmtShape, ShapeError } from "./errors.js";

export type DType = "float32" | "float64";
export type TypedData = Float32Array | Float64Array;

/** Row-major (C order) strides for a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function allocData(dtype: DType, n: number): TypedData {
  if (dtype === "float32") return new Float32Array(n);
  if (dtype === "float64") return new Float64Array(n);
  throw new Error(`unknown dtype '${String(dtype)}': expected 'float32' or 'float64'`);
}

export function dtypeOf(data: TypedData): DType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  throw new Error("tensor data must be a Float32Array or a Float64Array");
}

/**
 * An N-d float tensor: an ndarray view (shape, strides, offset) over a Float32Array or Float64Array.
 * Views share the buffer; `contiguous()` materialises a row-major copy when needed. Kernels read
 * `data`, `strides` and `offset` directly; everything else goes through the functions of this package.
 */
export class Tensor {
  readonly nd: ndarray.NdArray<TypedData>;

  constructor(data: TypedData, shape: readonly number[], strides?: readonly number[], offset = 0) {
    dtypeOf(data);
    assertIntegerShape("tensor", shape);
    const st = strides ? [...strides] : contiguousStrides(shape);
    if (st.length !== shape.length) {
      throw new ShapeError("tensor", `strides ${fmtShape(st)} do not match shape ${fmtShape(shape)}`);
    }
    // Bounds: the view must stay inside the buffer.
    if (shapeSize(shape) > 0) {
      let lo = offset;
      let hi = offset;
      for (let i = 0; i < shape.length; i++) {
        const span = (shape[i]! - 1) * st[i]!;
        if (span < 0) lo += span;
        else hi += span;
      }
      if (lo < 0 || hi >= data.length) {
        throw new ShapeError(
          "tensor",
          `view shape ${fmtShape(shape)} strides ${fmtShape(st)} offset ${offset} exceeds a buffer of ${data.length}`,
        );
      }
    }
    this.nd = ndarray(data, [...shape], st, offset);
  }

  static fromNd(nd: ndarray.NdArray<TypedData>): Tensor {
    return new Tensor(nd.data, nd.shape, nd.stride, nd.offset);
  }

  get data(): TypedData {
    return this.nd.data;
  }
  get shape(): readonly number[] {
    return this.nd.shape;
  }
  get strides(): readonly number[] {
    return this.nd.stride;
  }
  get offset(): number {
    return this.nd.offset;
  }
  get ndim(): number {
    return this.nd.shape.length;
  }
  get size(): number {
    return shapeSize(this.nd.shape);
  }
  get dtype(): DType {
    return this.nd.data instanceof Float64Array ? "float64" : "float32";
  }

  /** True when elements are laid out row-major without gaps (the offset may be non-zero). */
  isContiguous(): boolean {
    const shape = this.nd.shape;
    const stride = this.nd.stride;
    let s = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      const d = shape[i]!;
      if (d !== 1 && stride[i] !== s) return false;
      s *= d;
    }
    return true;
  }

  /** This tensor if already contiguous, else a row-major copy. */
  contiguous(): Tensor {
    return this.isContiguous() ? this : this.copy();
  }

  /** A fresh row-major copy (never shares the buffer). */
  copy(dtype: DType = this.dtype): Tensor {
    const out = allocData(dtype, this.size);
    copyInto(this, out, 0);
    return new Tensor(out, this.shape);
  }

  /**
   * The elements as a row-major typed array with its own offset of 0. Shares the buffer when the tensor is
   * contiguous and spans the whole buffer; otherwise copies. Treat it as read-only.
   */
  values(): TypedData {
    if (this.isContiguous() && this.offset === 0 && this.data.length === this.size) return this.data;
    return this.copy().data;
  }

  /** Copy of the elements as a plain float32 array. */
  toFloat32Array(): Float32Array {
    const out = new Float32Array(this.size);
    copyInto(this, out, 0);
    return out;
  }

  toArray(): number[] {
    return Array.from(this.values());
  }

  get(...idx: number[]): number {
    this.checkIndex("get", idx);
    return this.nd.get(...idx);
  }

  set(idx: readonly number[], value: number): void {
    this.checkIndex("set", idx);
    this.nd.set(...idx, value);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new ShapeError("item", `expected a tensor with one element, got shape ${fmtShape(this.shape)}`);
    return this.data[this.offset]!;
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)})`;
  }

  private checkIndex(op: string, idx: readonly number[]): void {
    if (idx.length !== this.ndim) {
      throw new ShapeError(
        op,
        `expected ${this.ndim} indices for shape ${fmtShape(this.shape)}, got ${idx.length}`,
      );
    }
    for (let i = 0; i < idx.length; i++) {
      const v = idx[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= this.shape[i]!) {
        throw new ShapeError(op, `index ${fmtShape(idx)} out of bounds for shape ${fmtShape(this.shape)}`);
      }
    }
  }
}

/** Copy a (possibly strided) tensor's elements, row-major, into `out` starting at `at`. */
export function copyInto(t: Tensor, out: TypedData, at: number): void {
  const n = t.size;
  if (n === 0) return;
  const src = t.data;
  if (t.isContiguous()) {
    const o = t.offset;
    if (out.constructor === src.constructor) out.set(src.subarray(o, o + n), at);
    else for (let i = 0; i < n; i++) out[at + i] = src[o + i]!;
    return;
  }
  const shape = t.shape;
  const strides = t.strides;
  const nd = shape.length;
  // Iterate the last axis in the inner loop; odometer over the rest.
  const last = nd - 1;
  const len = shape[last]!;
  const st = strides[last]!;
  const idx = new Array<number>(nd).fill(0);
  let base = t.offset;
  let k = at;
  const outer = n / len;
  for (let r = 0; r < outer; r++) {
    let p = base;
    for (let j = 0; j < len; j++, p += st) out[k++] = src[p]!;
    for (let ax = last - 1; ax >= 0; ax--) {
      idx[ax]!++;
      base += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      base -= idx[ax]! * strides[ax]!;
      idx[ax] = 0;
    }
  }
}
