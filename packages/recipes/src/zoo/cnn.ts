import { nn } from "@quant-trim/autograd";
import { Rng } from "@quant-trim/tensor";
import { convFeatures } from "./conv-features.js";
import { checkZooOptions, type ZooOptions } from "./options.js";

/**
 * A small convolutional network: conv 3×3 → 8, ReLU, max pool 2; conv 3×3 → 16, ReLU, max pool 2;
 * flatten, Linear(→ classes). On MNIST the linear layer is 784 → 10.
 */
export function cnn(options: ZooOptions): nn.Sequential {
  const { inputShape, classes, seed } = checkZooOptions("cnn", options, 3);
  const rng = new Rng(seed);
  const { layers, features } = convFeatures("cnn", inputShape, rng, false);
  return new nn.Sequential(...layers, new nn.Flatten(), new nn.Linear(features, classes, { rng }));
}
