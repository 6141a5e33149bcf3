import { fmtShape, ShapeError } from "./errors.js";
import { gemm } from "./gemm.js";
import { allocData, type DType, shapeSize, Tensor, type TypedData } from "./tensor.js";
import { broadcastShapes } from "./views.js";

/**
 * Matrix product with NumPy `matmul` semantics:
 * - 1-D @ 1-D is the dot product (shape []);
 * - a 1-D left operand is a row vector [1, K] and a 1-D right operand a column vector [K, 1], the added
 *   axis being removed from the result;
 * - operands of rank ≥ 3 are stacks of matrices whose batch axes broadcast.
 *
 * Each matrix is handed to `gemm` in place when its last two axes have a row-major or column-major
 * layout (so `transpose(x)` costs nothing: its strides become a transpose flag); only truly strided
 * operands are copied. The result is a new contiguous tensor, float64 if either operand is float64.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(
      "matmul",
      `scalar operands are not allowed, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
    );
  }
  const aShape = a.ndim === 1 ? [1, a.shape[0]!] : [...a.shape];
  const aStrides = a.ndim === 1 ? [0, a.strides[0]!] : [...a.strides];
  const bShape = b.ndim === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const bStrides = b.ndim === 1 ? [b.strides[0]!, 0] : [...b.strides];

  const M = aShape[aShape.length - 2]!;
  const K = aShape[aShape.length - 1]!;
  const N = bShape[bShape.length - 1]!;
  if (bShape[bShape.length - 2] !== K) {
    throw new ShapeError("matmul", `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  let batch: number[];
  try {
    batch = broadcastShapes("matmul", aBatch, bBatch);
  } catch {
    throw new ShapeError(
      "matmul",
      `batch dimensions ${fmtShape(aBatch)} and ${fmtShape(bBatch)} cannot be broadcast (${fmtShape(a.shape)} @ ${fmtShape(b.shape)})`,
    );
  }

  const dtype: DType = a.dtype === "float64" || b.dtype === "float64" ? "float64" : "float32";
  const outShape = [...batch];
  if (a.ndim > 1) outShape.push(M);
  if (b.ndim > 1) outShape.push(N);
  const batchCount = shapeSize(batch);
  const out = allocData(dtype, batchCount * M * N);
  // Nothing to compute, or an empty sum (K = 0): the zero-filled result is already right.
  if (out.length === 0 || K === 0) return new Tensor(out, outShape);

  let aOp = operandOf(a, aShape, aStrides);
  let bOp = operandOf(b, bShape, bStrides);

  // A stack of row-major matrices times one shared matrix is a single tall GEMM: fold the batch into M.
  if (bBatch.every((d) => d === 1) && aOp.layout !== null && !aOp.layout.trans && batchCount > 1) {
    if (stackIsRowMajor(aShape, aOp.strides, aOp.layout.ld)) {
      const lb = bOp.layout ?? (bOp = materialise(bOp)).layout!;
      gemm(
        false,
        lb.trans,
        batchCount * M,
        N,
        K,
        1,
        aOp.data,
        aOp.offset,
        aOp.layout.ld,
        bOp.data,
        bOp.offset,
        lb.ld,
        0,
        out,
        0,
        N,
      );
      return new Tensor(out, outShape);
    }
  }

  if (aOp.layout === null) aOp = materialise(aOp);
  if (bOp.layout === null) bOp = materialise(bOp);
  const la = aOp.layout!;
  const lb = bOp.layout!;
  const aBatchStrides = alignBatchStrides(aOp, batch);
  const bBatchStrides = alignBatchStrides(bOp, batch);
  const idx = new Array<number>(batch.length).fill(0);
  let aOff = aOp.offset;
  let bOff = bOp.offset;
  for (let t = 0; t < batchCount; t++) {
    gemm(la.trans, lb.trans, M, N, K, 1, aOp.data, aOff, la.ld, bOp.data, bOff, lb.ld, 0, out, t * M * N, N);
    // Odometer over the broadcast batch axes, moving both operands' offsets along.
    for (let ax = batch.length - 1; ax >= 0; ax--) {
      idx[ax]!++;
      aOff += aBatchStrides[ax]!;
      bOff += bBatchStrides[ax]!;
      if (idx[ax]! < batch[ax]!) break;
      aOff -= idx[ax]! * aBatchStrides[ax]!;
      bOff -= idx[ax]! * bBatchStrides[ax]!;
      idx[ax] = 0;
    }
  }
  return new Tensor(out, outShape);
}

/** How gemm can read one matrix in place: transposed or not, with its leading dimension. */
interface MatrixLayout {
  trans: boolean;
  ld: number;
}

/** A matmul operand seen as a stack of matrices (1-D operands already promoted to 2-D). */
interface Operand {
  data: TypedData;
  offset: number;
  shape: number[];
  strides: number[];
  layout: MatrixLayout | null;
}

function operandOf(t: Tensor, shape: number[], strides: number[]): Operand {
  const n = shape.length;
  return {
    data: t.data,
    offset: t.offset,
    shape,
    strides,
    layout: matrixLayout(shape[n - 2]!, shape[n - 1]!, strides[n - 2]!, strides[n - 1]!),
  };
}

/**
 * Row-major when the column stride is 1 and rows do not overlap; column-major (a transposed view) when
 * the row stride is 1. Axes of length 1 impose nothing. Anything else (steps, negative or zero strides)
 * has no BLAS layout and must be copied.
 */
function matrixLayout(rows: number, cols: number, rowStride: number, colStride: number): MatrixLayout | null {
  if ((colStride === 1 || cols === 1) && (rows === 1 || rowStride >= cols)) {
    return { trans: false, ld: rows === 1 ? Math.max(cols, 1) : rowStride };
  }
  if ((rowStride === 1 || rows === 1) && (cols === 1 || colStride >= rows)) {
    return { trans: true, ld: cols === 1 ? Math.max(rows, 1) : colStride };
  }
  return null;
}

/** Copy an operand into a fresh row-major buffer (keeping its batch axes). */
function materialise(op: Operand): Operand {
  const view = new Tensor(op.data, op.shape, op.strides, op.offset);
  const c = view.copy();
  const n = op.shape.length;
  return {
    data: c.data,
    offset: 0,
    shape: op.shape,
    strides: [...c.strides],
    layout: { trans: false, ld: Math.max(op.shape[n - 1]!, 1) },
  };
}

/** Whether consecutive matrices of a row-major stack follow each other with the row stride (no gaps). */
function stackIsRowMajor(shape: number[], strides: number[], ld: number): boolean {
  let expected = shape[shape.length - 2]! * ld;
  for (let ax = shape.length - 3; ax >= 0; ax--) {
    if (shape[ax] !== 1 && strides[ax] !== expected) return false;
    expected *= shape[ax]!;
  }
  return true;
}

/** Batch strides aligned to the broadcast batch shape: 0 where the operand is broadcast. */
function alignBatchStrides(op: Operand, batch: number[]): number[] {
  const own = op.shape.length - 2;
  const lead = batch.length - own;
  const out = new Array<number>(batch.length).fill(0);
  for (let ax = 0; ax < own; ax++) {
    out[lead + ax] = op.shape[ax] === 1 ? 0 : op.strides[ax]!;
  }
  return out;
}
