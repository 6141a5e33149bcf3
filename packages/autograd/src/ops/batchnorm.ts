import type { Tensor } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { record, type Variable } from "../variable.js";

/** Views an [N, C, ...] tensor as (N, C, S) for per-channel loops. */
function dims(op: string, x: Tensor): [number, number, number] {
  if (x.ndim < 2) throw new T.ShapeError(op, `expected [N, C, ...], got ${T.fmtShape(x.shape)}`);
  const n = x.shape[0]!;
  const c = x.shape[1]!;
  return [n, c, x.size / Math.max(1, n * c)];
}

export interface BatchStats {
  mean: Float64Array;
  /** Biased (population) variance: what normalisation uses. */
  variance: Float64Array;
  /** Elements per channel (N·S), for the unbiased running-variance update. */
  count: number;
}

/**
 * Training-mode batch normalisation over every axis but the channel axis (1), as one fused op:
 * y = γ·(x − μ)/√(σ² + eps) + β with batch statistics. Returns the statistics so the module can update
 * its running averages. The gradient is the closed form
 * dx = γ/(m·√(σ²+eps)) · (m·g − Σg − x̂·Σ(g·x̂)), dγ = Σ g·x̂, dβ = Σ g.
 */
export function batchNormTrain(
  x: Variable,
  gamma: Variable,
  beta: Variable,
  eps: number,
): { out: Variable; stats: BatchStats } {
  const [n, c, s] = dims("batchNorm", x.data);
  if (gamma.size !== c || beta.size !== c) {
    throw new T.ShapeError(
      "batchNorm",
      `weight/bias must have ${c} elements for input ${T.fmtShape(x.shape)}`,
    );
  }
  const m = n * s;
  if (m < 2)
    throw new T.ShapeError(
      "batchNorm",
      `training needs more than one value per channel, got input ${T.fmtShape(x.shape)}`,
    );
  const xd = x.data.values();
  const gd = gamma.data.values();
  const bd = beta.data.values();
  const out = T.allocData(x.data.dtype, x.size);
  const xhat = T.allocData(x.data.dtype, x.size);
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  const invStd = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) acc += xd[base + k]!;
    }
    const mu = acc / m;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const d = xd[base + k]! - mu;
        sq += d * d;
      }
    }
    const v = sq / m;
    const inv = 1 / Math.sqrt(v + eps);
    mean[ch] = mu;
    variance[ch] = v;
    invStd[ch] = inv;
    const ga = gd[ch]!;
    const be = bd[ch]!;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const h = (xd[base + k]! - mu) * inv;
        xhat[base + k] = h;
        out[base + k] = ga * h + be;
      }
    }
  }
  const y = record(
    "batchNorm",
    [x, gamma, beta],
    new T.Tensor(out, x.shape),
    (gt) => {
      const g = gt.values();
      const dx = T.allocData(x.data.dtype, x.size);
      const dgamma = T.allocData(gamma.data.dtype, c);
      const dbeta = T.allocData(beta.data.dtype, c);
      for (let ch = 0; ch < c; ch++) {
        let sg = 0;
        let sgx = 0;
        for (let i = 0; i < n; i++) {
          const base = (i * c + ch) * s;
          for (let k = 0; k < s; k++) {
            sg += g[base + k]!;
            sgx += g[base + k]! * xhat[base + k]!;
          }
        }
        dgamma[ch] = sgx;
        dbeta[ch] = sg;
        const f = (gd[ch]! * invStd[ch]!) / m;
        for (let i = 0; i < n; i++) {
          const base = (i * c + ch) * s;
          for (let k = 0; k < s; k++) dx[base + k] = f * (m * g[base + k]! - sg - xhat[base + k]! * sgx);
        }
      }
      return [new T.Tensor(dx, x.shape), new T.Tensor(dgamma, gamma.shape), new T.Tensor(dbeta, beta.shape)];
    },
    { eps },
  );
  return { out: y, stats: { mean, variance, count: m } };
}
