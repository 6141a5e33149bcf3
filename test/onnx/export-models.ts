import { nn, ops, type Variable } from "@quant-trim/autograd";
import { Rng } from "@quant-trim/tensor";

/*
 * Test models that use every layer and functional op the exporters map, in the arrangements that are
 * easy to get wrong: grouped and depthwise convolutions with stride, dilation and padding, BatchNorm on
 * rank 2, 3 and 4, ReLU6, pools with padding, a residual sum written with functional ops, and a Flatten that
 * keeps two axes.
 */

/** A residual block written the way users write one: `ops.add` and `ops.relu` in a custom forward. */
export class ResidualBlock extends nn.Module {
  readonly depthwise: nn.Conv2d;
  readonly bn: nn.BatchNorm2d;
  readonly act: nn.ReLU6;
  readonly pointwise: nn.Conv2d;
  constructor(channels: number, rng: Rng) {
    super();
    this.depthwise = this.registerModule(
      "depthwise",
      new nn.Conv2d(channels, channels, 3, { padding: 1, groups: channels, rng }),
    );
    this.bn = this.registerModule("bn", new nn.BatchNorm2d(channels));
    this.act = this.registerModule("act", new nn.ReLU6());
    this.pointwise = this.registerModule(
      "pointwise",
      new nn.Conv2d(channels, channels, 1, { bias: false, rng }),
    );
  }
  forward(x: Variable): Variable {
    const branch = this.pointwise.call(this.act.call(this.bn.call(this.depthwise.call(x))));
    return ops.relu(ops.add(x, branch));
  }
}

/** Input [N, 2, 9, 9] → 5 logits. */
export class KitchenSink extends nn.Module {
  readonly stem: nn.Sequential;
  readonly block: ResidualBlock;
  readonly head: nn.Sequential;
  constructor(seed = 1) {
    super();
    const rng = new Rng(seed);
    this.stem = this.registerModule(
      "stem",
      new nn.Sequential(
        new nn.Conv2d(2, 4, 3, { stride: 2, padding: 2, dilation: 2, rng }),
        new nn.BatchNorm2d(4),
        new nn.ReLU(),
        new nn.Conv2d(4, 6, [3, 2], { padding: [1, 0], groups: 2, rng }),
        new nn.ReLU6(),
        new nn.MaxPool2d({ kernel: 3, stride: 1, padding: 1 }),
        new nn.Dropout(0.3),
      ),
    );
    this.block = this.registerModule("block", new ResidualBlock(6, rng));
    this.head = this.registerModule(
      "head",
      new nn.Sequential(
        new nn.AvgPool2d({ kernel: 2, stride: 1, padding: 1, countIncludePad: false }),
        new nn.AvgPool2d({ kernel: 2, padding: 1 }),
        new nn.Flatten(2),
        new nn.BatchNorm1d(6),
        new nn.Identity(),
        new nn.Flatten(),
        new nn.Linear(72, 8, { rng }),
        new nn.BatchNorm1d(8),
        new nn.ReLU(),
        new nn.Linear(8, 5, { rng }),
      ),
    );
  }
  forward(x: Variable): Variable {
    return this.head.call(this.block.call(this.stem.call(x)));
  }
}

export const KITCHEN_SINK_INPUT: readonly number[] = [2, 9, 9];
