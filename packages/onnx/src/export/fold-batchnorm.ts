import type { Tensor } from "@quant-trim/tensor";

/*
 * BatchNorm folded into the convolution or linear layer before it, for exports a runtime or vendor tool
 * reads without a BatchNormalization node. Computed in float64 and rounded once to float32, so the
 * folded layer is the closest float32 layer to the pair in eval mode.
 */

export interface BatchNormStats {
  readonly gamma: Tensor;
  readonly beta: Tensor;
  readonly mean: Tensor;
  readonly variance: Tensor;
  readonly eps: number;
}

export interface FoldedLayer {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/**
 * W'[o, …] = W[o, …]·γ[o]/√(var[o] + eps) and b'[o] = (b[o] − mean[o])·γ[o]/√(var[o] + eps) + β[o], for a
 * weight whose first axis is the output channel (Conv2d [Cout, Cin/g, kH, kW], Linear [out, in]).
 */
export function foldBatchNorm(weight: Tensor, bias: Tensor | null, bn: BatchNormStats): FoldedLayer {
  const channels = weight.shape[0]!;
  if (bn.gamma.size !== channels) {
    throw new Error(
      `foldBatchNorm: the BatchNorm has ${bn.gamma.size} channels but the layer before it has ${channels} outputs`,
    );
  }
  const w = weight.values();
  const perChannel = w.length / channels;
  const gamma = bn.gamma.values();
  const beta = bn.beta.values();
  const mean = bn.mean.values();
  const variance = bn.variance.values();
  const b = bias?.values();
  const outW = new Float32Array(w.length);
  const outB = new Float32Array(channels);
  for (let o = 0; o < channels; o++) {
    const factor = gamma[o]! / Math.sqrt(variance[o]! + bn.eps);
    for (let k = o * perChannel; k < (o + 1) * perChannel; k++) outW[k] = w[k]! * factor;
    outB[o] = ((b ? b[o]! : 0) - mean[o]!) * factor + beta[o]!;
  }
  return { weight: outW, bias: outB };
}
