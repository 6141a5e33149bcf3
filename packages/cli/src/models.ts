import { nn } from "@quant-trim/autograd";
import { Rng } from "@quant-trim/tensor";

export const architectures = ["mlp", "cnn", "cnn-bn"] as const;
export type Architecture = (typeof architectures)[number];

/**
 * The model zoo. Every model takes MNIST images [N, 1, 28, 28] and returns 10 logits. Weights are drawn
 * from a generator seeded with `seed`, so the same seed gives the same initial model everywhere.
 * - mlp:    784-256-10 with ReLU.
 * - cnn:    conv 1→8 3×3 pad 1, ReLU, maxpool 2; conv 8→16 3×3 pad 1, ReLU, maxpool 2; linear 784→10.
 * - cnn-bn: the cnn with BatchNorm after each conv.
 */
export function buildModel(arch: Architecture, seed = 0): nn.Sequential {
  const rng = new Rng(seed);
  switch (arch) {
    case "mlp":
      return new nn.Sequential(
        new nn.Flatten(),
        new nn.Linear(784, 256, { rng }),
        new nn.ReLU(),
        new nn.Linear(256, 10, { rng }),
      );
    case "cnn":
      return new nn.Sequential(
        new nn.Conv2d(1, 8, 3, { padding: 1, rng }),
        new nn.ReLU(),
        new nn.MaxPool2d({ kernel: 2 }),
        new nn.Conv2d(8, 16, 3, { padding: 1, rng }),
        new nn.ReLU(),
        new nn.MaxPool2d({ kernel: 2 }),
        new nn.Flatten(),
        new nn.Linear(784, 10, { rng }),
      );
    case "cnn-bn":
      return new nn.Sequential(
        new nn.Conv2d(1, 8, 3, { padding: 1, rng }),
        new nn.BatchNorm2d(8),
        new nn.ReLU(),
        new nn.MaxPool2d({ kernel: 2 }),
        new nn.Conv2d(8, 16, 3, { padding: 1, rng }),
        new nn.BatchNorm2d(16),
        new nn.ReLU(),
        new nn.MaxPool2d({ kernel: 2 }),
        new nn.Flatten(),
        new nn.Linear(784, 10, { rng }),
      );
    default:
      throw new Error(`unknown architecture '${String(arch)}': expected one of ${architectures.join(", ")}`);
  }
}

export function isArchitecture(s: string): s is Architecture {
  return (architectures as readonly string[]).includes(s);
}
