import { nn, type Variable } from "@quant-trim/autograd";
import { pool2dOutputShape, Rng } from "@quant-trim/tensor";
import { checkZooOptions, type ZooOptions } from "./options.js";

/**
 * Two 3×3 convolutions with BatchNorm around an identity shortcut: relu(x + bn2(conv2(relu(bn1(conv1(x)))))).
 * The sum is an `nn.Add` module, so tracing, QAT and the NPU compiler all see it (and fuse the ReLU after it).
 */
export class ResidualBlock extends nn.Module {
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d;
  readonly relu1: nn.ReLU;
  readonly conv2: nn.Conv2d;
  readonly bn2: nn.BatchNorm2d;
  readonly add: nn.Add;
  readonly relu: nn.ReLU;
  constructor(channels: number, rng: Rng) {
    super();
    this.conv1 = this.registerModule("conv1", new nn.Conv2d(channels, channels, 3, { padding: 1, rng }));
    this.bn1 = this.registerModule("bn1", new nn.BatchNorm2d(channels));
    this.relu1 = this.registerModule("relu1", new nn.ReLU());
    this.conv2 = this.registerModule("conv2", new nn.Conv2d(channels, channels, 3, { padding: 1, rng }));
    this.bn2 = this.registerModule("bn2", new nn.BatchNorm2d(channels));
    this.add = this.registerModule("add", new nn.Add());
    this.relu = this.registerModule("relu", new nn.ReLU());
  }
  forward(x: Variable): Variable {
    const branch = this.bn2.call(this.conv2.call(this.relu1.call(this.bn1.call(this.conv1.call(x)))));
    return this.relu.call(this.add.call(x, branch));
  }
}

/**
 * A small residual network: stem conv 3×3 → 8 + BatchNorm + ReLU, max pool 2; one residual block of
 * 8 channels; max pool 2; flatten, Linear(→ classes). On MNIST: 8×14×14 in the block, 392 → 10 at the
 * end (about 0.3 M multiply-accumulates per image, like `cnn`).
 */
export class ResidualNet extends nn.Module {
  readonly stem: nn.Sequential;
  readonly block: ResidualBlock;
  readonly head: nn.Sequential;
  constructor(inputShape: readonly number[], classes: number, rng: Rng) {
    super();
    const [channels, height, width] = inputShape as [number, number, number];
    const width0 = 8;
    this.stem = this.registerModule(
      "stem",
      new nn.Sequential(
        new nn.Conv2d(channels, width0, 3, { padding: 1, rng }),
        new nn.BatchNorm2d(width0),
        new nn.ReLU(),
        new nn.MaxPool2d({ kernel: 2 }),
      ),
    );
    this.block = this.registerModule("block", new ResidualBlock(width0, rng));
    const pooled = pool2dOutputShape(pool2dOutputShape([1, width0, height, width], { kernel: 2 }), {
      kernel: 2,
    });
    const features = pooled[1]! * pooled[2]! * pooled[3]!;
    this.head = this.registerModule(
      "head",
      new nn.Sequential(
        new nn.MaxPool2d({ kernel: 2 }),
        new nn.Flatten(),
        new nn.Linear(features, classes, { rng }),
      ),
    );
  }
  forward(x: Variable): Variable {
    return this.head.call(this.block.call(this.stem.call(x)));
  }
}

export function residual(options: ZooOptions): ResidualNet {
  const { inputShape, classes, seed } = checkZooOptions("residual", options, 3);
  if (inputShape[1]! < 4 || inputShape[2]! < 4) {
    throw new Error(
      `residual: inputShape [${inputShape.join(", ")}] is too small for two 2×2 poolings (at least 4×4)`,
    );
  }
  return new ResidualNet(inputShape, classes, new Rng(seed));
}
