import type { Rng, Tensor } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";

/**
 * PyTorch's default for Linear and Conv weights: Kaiming-uniform with a = √5, which works out to
 * U(−1/√fan_in, 1/√fan_in); biases use the same bound.
 */
export function kaimingUniform(shape: readonly number[], fanIn: number, rng: Rng): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return T.rand(shape, rng, -bound, bound);
}

export function uniformBias(n: number, fanIn: number, rng: Rng): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return T.rand([n], rng, -bound, bound);
}
