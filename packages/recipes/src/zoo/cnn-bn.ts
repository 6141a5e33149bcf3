import { nn } from "@quant-trim/autograd";
import { Rng } from "@quant-trim/tensor";
import { convFeatures } from "./conv-features.js";
import { checkZooOptions, type ZooOptions } from "./options.js";

/** The `cnn` with BatchNorm after each convolution (the case QAT folds BatchNorm into the weights for). */
export function cnnBn(options: ZooOptions): nn.Sequential {
  const { inputShape, classes, seed } = checkZooOptions("cnn-bn", options, 3);
  const rng = new Rng(seed);
  const { layers, features } = convFeatures("cnn-bn", inputShape, rng, true);
  return new nn.Sequential(...layers, new nn.Flatten(), new nn.Linear(features, classes, { rng }));
}
