import { nn } from "@quant-trim/autograd";
import { pool2dOutputShape, type Rng } from "@quant-trim/tensor";

/**
 * The feature extractor shared by `cnn` and `cnn-bn`: two blocks of 3×3 convolution (padding 1, so the
 * size is kept), optional BatchNorm, ReLU and 2×2 max pooling, with 8 then 16 channels. Layers are
 * created in execution order, so the weights drawn from `rng` do not depend on `batchNorm`.
 * Returns the layers and the number of features they produce per sample.
 */
export function convFeatures(
  builder: string,
  [channels, height, width]: number[],
  rng: Rng,
  batchNorm: boolean,
): { layers: nn.Module[]; features: number } {
  const widths = [8, 16];
  const layers: nn.Module[] = [];
  let shape = [1, channels!, height!, width!];
  let inChannels = channels!;
  for (const out of widths) {
    layers.push(new nn.Conv2d(inChannels, out, 3, { padding: 1, rng }));
    if (batchNorm) layers.push(new nn.BatchNorm2d(out));
    layers.push(new nn.ReLU(), new nn.MaxPool2d({ kernel: 2 }));
    if (shape[2]! < 2 || shape[3]! < 2)
      throw new Error(
        `${builder}: inputShape [${channels}, ${height}, ${width}] is too small for two 2×2 poolings (at least 4×4)`,
      );
    shape = pool2dOutputShape([1, out, shape[2]!, shape[3]!], { kernel: 2 });
    inChannels = out;
  }
  return { layers, features: shape[1]! * shape[2]! * shape[3]! };
}
