import { nn } from "@quant-trim/autograd";
import { Rng } from "@quant-trim/tensor";
import { checkZooOptions, type ZooOptions } from "./options.js";

/** Width of the hidden layer. */
const HIDDEN = 256;

/**
 * A one-hidden-layer perceptron: flatten, Linear(inputs → 256), ReLU, Linear(256 → classes). On MNIST
 * ([1, 28, 28], 10 classes) this is the 784-256-10 baseline of the experiments.
 */
export function mlp(options: ZooOptions): nn.Sequential {
  const { inputShape, classes, seed } = checkZooOptions("mlp", options);
  const rng = new Rng(seed);
  const inputs = inputShape.reduce((a, b) => a * b, 1);
  return new nn.Sequential(
    new nn.Flatten(),
    new nn.Linear(inputs, HIDDEN, { rng }),
    new nn.ReLU(),
    new nn.Linear(HIDDEN, classes, { rng }),
  );
}
