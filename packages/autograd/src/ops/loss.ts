import * as T from "@quant-trim/tensor";
import { record, type Variable } from "../variable.js";
import { mul, sub } from "./elementwise.js";
import { mean, sum } from "./reduce.js";

export interface CrossEntropyOptions {
  /** ε in [0, 1): the target is (1 − ε)·onehot + ε/C. */
  labelSmoothing?: number;
  reduction?: "mean" | "sum";
}

/**
 * Cross-entropy from logits [N, C] and integer class labels, fused and numerically stable
 * (log-sum-exp with the row maximum subtracted). Gradient: (softmax − target) / N.
 */
export function crossEntropy(
  logits: Variable,
  labels: ArrayLike<number>,
  opts: CrossEntropyOptions = {},
): Variable {
  const eps = opts.labelSmoothing ?? 0;
  const reduction = opts.reduction ?? "mean";
  if (!(eps >= 0 && eps < 1)) throw new Error(`crossEntropy: labelSmoothing must be in [0, 1), got ${eps}`);
  if (reduction !== "mean" && reduction !== "sum")
    throw new Error(`crossEntropy: unknown reduction '${String(reduction)}'`);
  if (logits.ndim !== 2)
    throw new T.ShapeError("crossEntropy", `logits must be [N, C], got ${T.fmtShape(logits.shape)}`);
  const [n, c] = logits.shape as [number, number];
  if (labels.length !== n)
    throw new T.ShapeError("crossEntropy", `${labels.length} labels for ${n} rows of logits`);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= c)
      throw new Error(`crossEntropy: label ${y} at row ${i} is not a class in [0, ${c})`);
  }
  const z = logits.data.values();
  const prob = new Float64Array(n * c);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = i * c;
    let mx = -Infinity;
    for (let j = 0; j < c; j++) mx = Math.max(mx, z[row + j]!);
    let se = 0;
    for (let j = 0; j < c; j++) se += Math.exp(z[row + j]! - mx);
    const lse = mx + Math.log(se);
    let li = 0;
    for (let j = 0; j < c; j++) {
      const logp = z[row + j]! - lse;
      prob[row + j] = Math.exp(logp);
      const q = (j === labels[i] ? 1 - eps : 0) + eps / c;
      if (q !== 0) li -= q * logp;
    }
    total += li;
  }
  const scaleBy = reduction === "mean" ? 1 / n : 1;
  const out = T.full([], total * scaleBy, logits.data.dtype);
  return record(
    "crossEntropy",
    [logits],
    out,
    (g) => {
      const gs = g.item() * scaleBy;
      const dz = T.allocData(logits.data.dtype, n * c);
      for (let i = 0; i < n; i++) {
        const row = i * c;
        for (let j = 0; j < c; j++) {
          const q = (j === labels[i] ? 1 - eps : 0) + eps / c;
          dz[row + j] = (prob[row + j]! - q) * gs;
        }
      }
      return [new T.Tensor(dz, logits.shape)];
    },
    { labelSmoothing: eps, reduction },
  );
}

/** Mean (or summed) squared error, as a composition. */
export function mse(
  pred: Variable,
  target: Variable | T.Tensor,
  reduction: "mean" | "sum" = "mean",
): Variable {
  const d = sub(pred, target);
  const sq = mul(d, d);
  return reduction === "mean" ? mean(sq) : sum(sq);
}
