import { type Module, noGrad, Variable } from "@quant-trim/autograd";
import {
  type GridSpec,
  int4SymmetricPerChannel,
  int4SymmetricPerTensor,
  int8AsymmetricPerTensor,
  int8SymmetricPerChannel,
  int8SymmetricPerTensor,
  type Observer,
  prepareQat,
} from "@quant-trim/quant";
import { batches, checkDataset, type Dataset } from "./data/dataset.js";
import { evaluate } from "./train/evaluate.js";

export interface PtqGrids {
  weight: GridSpec;
  activation: GridSpec;
}

/** The grids every checkpoint of the experiments is scored on: INT8/INT4 weights, INT8 activations. */
export const ptqGrids: Readonly<Record<string, PtqGrids>> = Object.freeze({
  "int8-per-channel": { weight: int8SymmetricPerChannel, activation: int8AsymmetricPerTensor },
  "int8-per-tensor": { weight: int8SymmetricPerTensor, activation: int8AsymmetricPerTensor },
  "int4-per-channel": { weight: int4SymmetricPerChannel, activation: int8AsymmetricPerTensor },
  "int4-per-tensor": { weight: int4SymmetricPerTensor, activation: int8AsymmetricPerTensor },
});

export interface PtqOptions {
  /** The grids weights and activations are fake-quantized on. */
  grids: PtqGrids;
  /** Samples the activation observers see before evaluation (e.g. 256 training samples). */
  calibration: Dataset;
  /** Samples the accuracy is measured on. */
  test: Dataset;
  /** Makes the activation observers (default: prepareQat's EMA min/max observer). */
  observer?: () => Observer;
  /** Calibration batch size (default 256). */
  calibrationBatchSize?: number;
}

const OPTION_KEYS = new Set(["grids", "calibration", "test", "observer", "calibrationBatchSize"]);

/**
 * Post-training quantization of a trained model, simulated with fake quantization: the model is
 * instrumented, its activation observers calibrate on `calibration` in eval mode (as a vendor compiler
 * would), and its top-1 accuracy on `test` is measured with every weight and activation on the grids.
 * The model is left as it was: the instrumentation is taken out afterwards and its training mode
 * restored (eval-mode passes change no parameter or buffer).
 */
export function ptqAccuracy(model: Module, options: PtqOptions): number {
  const fn = "ptqAccuracy";
  if (typeof options !== "object" || options === null) throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options))
    if (!OPTION_KEYS.has(key)) throw new Error(`${fn}: unknown option '${key}'`);
  const { grids, calibration, test } = options;
  if (!grids || typeof grids.weight !== "object" || typeof grids.activation !== "object")
    throw new Error(`${fn}: grids must be { weight: GridSpec, activation: GridSpec }`);
  checkDataset(fn, calibration, "calibration set");
  checkDataset(fn, test, "test set");
  if (calibration.count === 0) throw new Error(`${fn}: the calibration set is empty`);
  // Quantizing a model that still carries a training run's fake quantization would quantize twice.
  const hooked = instrumentedModule(model);
  if (hooked !== null)
    throw new Error(
      `${fn}: the model is still instrumented (module '${hooked}' has hooks); call run.qat.detach() after training, or evaluate a fresh copy`,
    );
  const batchSize = options.calibrationBatchSize ?? 256;
  const wasTraining = model.training;
  model.eval();
  const qat = prepareQat(model, {
    inputShape: [1, ...calibration.sampleShape],
    weight: grids.weight,
    activation: grids.activation,
    ...(options.observer ? { activationObserver: options.observer } : {}),
  });
  try {
    qat.setLambda(1);
    qat.calibrate(() => {
      noGrad(() => {
        for (const b of batches(calibration, batchSize)) model.call(new Variable(b.x));
      });
    });
    return evaluate(model, test);
  } finally {
    qat.detach();
    model.train(wasTraining);
  }
}

/** The name of the first module with a hook or weight hook ("" is the model itself), or null. */
function instrumentedModule(model: Module): string | null {
  for (const [name, m] of model.namedModules()) {
    const weightHook = (m as { weightHook?: unknown }).weightHook;
    if (m.hooks.input || m.hooks.output || (weightHook !== undefined && weightHook !== null)) return name;
  }
  return null;
}
