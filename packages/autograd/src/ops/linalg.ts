import type { Tensor } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { record, type Variable } from "../variable.js";

/** NumPy-style matmul (1-D promotion, batched with broadcast batch axes). */
export function matmul(a: Variable, b: Variable): Variable {
  return record("matmul", [a, b], T.matmul(a.data, b.data), (g) => {
    // Promote 1-D operands the way the forward did, then undo it on the way out.
    const A = a.ndim === 1 ? T.unsqueeze(a.data, 0) : a.data;
    const B = b.ndim === 1 ? T.unsqueeze(b.data, -1) : b.data;
    // b's axis first: for a dot product g is a scalar, and [] → [1] → [1, 1] needs that order.
    let G = g;
    if (b.ndim === 1) G = T.unsqueeze(G, -1);
    if (a.ndim === 1) G = T.unsqueeze(G, -2);
    const da = a.requiresGrad ? T.sumToShape(T.matmul(G, T.transpose(B)), A.shape) : null;
    const db = b.requiresGrad ? T.sumToShape(T.matmul(T.transpose(A), G), B.shape) : null;
    return [da && T.reshape(da, a.shape), db && T.reshape(db, b.shape)];
  });
}

/**
 * y = x·Wᵀ + b with W [out, in] (the layout of PyTorch's Linear, so checkpoints map one to one).
 * A fused op: one GEMM forward, two backward, no broadcast bookkeeping.
 */
export function linear(x: Variable, w: Variable, b: Variable | null): Variable {
  if (x.ndim !== 2 || w.ndim !== 2 || x.shape[1] !== w.shape[1]) {
    throw new T.ShapeError(
      "linear",
      `expected x [N, ${w.shape[1]}] and weight [out, in], got x ${T.fmtShape(x.shape)} and weight ${T.fmtShape(w.shape)}`,
    );
  }
  if (b && (b.ndim !== 1 || b.shape[0] !== w.shape[0])) {
    throw new T.ShapeError("linear", `bias ${T.fmtShape(b.shape)} must be [${w.shape[0]}]`);
  }
  let y = T.matmul(x.data, T.transpose(w.data));
  if (b) y = addRowVectorInPlace(y, b.data);
  const inputs = b ? [x, w, b] : [x, w];
  return record("linear", inputs, y, (g) => [
    x.requiresGrad ? T.matmul(g, w.data) : null,
    w.requiresGrad ? T.matmul(T.transpose(g), x.data) : null,
    b?.requiresGrad ? T.sum(g, [0]) : null,
  ]);
}

function addRowVectorInPlace(y: Tensor, b: Tensor): Tensor {
  T.addInPlace(y, b);
  return y;
}
