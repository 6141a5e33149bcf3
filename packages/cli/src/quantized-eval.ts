import { noGrad, Variable } from "@quant-trim/autograd";
import { type GridSpec, gridSpec, prepareQat } from "@quant-trim/quant";
import type { Rng, Tensor } from "@quant-trim/tensor";
import { batches, type Dataset, gather, MNIST_PIXELS } from "./data/mnist.js";
import { type Architecture, buildModel } from "./models.js";
import { evaluate } from "./train.js";

export interface PtqGrids {
  weight: GridSpec;
  activation: GridSpec;
}

/**
 * Post-training quantization of an FP32 state dict, simulated with fake quantization: a fresh model
 * loads the weights, calibrates its activation observers on `calibration` (eval mode, as a vendor
 * compiler would), and is evaluated with every weight and activation on the given grids.
 */
export function fakeQuantAccuracy(
  arch: Architecture,
  state: Record<string, Tensor>,
  grids: PtqGrids,
  calibration: Dataset,
  test: Dataset,
): number {
  const model = buildModel(arch, 0);
  model.loadStateDict(state);
  model.eval();
  const qat = prepareQat(model, {
    inputShape: [1, 1, 28, 28],
    weight: grids.weight,
    activation: grids.activation,
  });
  qat.setLambda(1);
  qat.calibrate(() => {
    noGrad(() => {
      for (const b of batches(calibration, 256)) model.call(new Variable(b.x));
    });
  });
  return evaluate(model, test);
}

/** `n` samples drawn without replacement by a seeded permutation. */
export function sample(ds: Dataset, n: number, rng: Rng): Dataset {
  return gather(ds, rng.permutation(ds.count).subarray(0, Math.min(n, ds.count)));
}

/** The first `n` samples of a dataset (calibration sets are a fixed prefix of the training split). */
export function head(ds: Dataset, n: number): Dataset {
  const count = Math.min(n, ds.count);
  return { images: ds.images.subarray(0, count * MNIST_PIXELS), labels: ds.labels.subarray(0, count), count };
}

/** The grids every checkpoint is evaluated on: INT8/INT4 weights, per-channel/per-tensor, INT8 activations. */
export const evalGrids: Record<string, PtqGrids> = {
  "int8-per-channel": {
    weight: gridSpec({ bits: 8, signed: true, symmetric: true, granularity: "per-channel" }),
    activation: gridSpec({ bits: 8, signed: true, symmetric: false }),
  },
  "int8-per-tensor": {
    weight: gridSpec({ bits: 8, signed: true, symmetric: true }),
    activation: gridSpec({ bits: 8, signed: true, symmetric: false }),
  },
  "int4-per-channel": {
    weight: gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" }),
    activation: gridSpec({ bits: 8, signed: true, symmetric: false }),
  },
  "int4-per-tensor": {
    weight: gridSpec({ bits: 4, signed: true, symmetric: true }),
    activation: gridSpec({ bits: 8, signed: true, symmetric: false }),
  },
};
