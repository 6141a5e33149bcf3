import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "@quant-trim/autograd/node";
import {
  buildModel,
  evaluate,
  head,
  ptqAccuracy,
  ptqGrids,
  quantTrim,
  type RecipeName,
  TrainingDivergedError,
  trainClassifier,
  trainingSteps,
} from "@quant-trim/recipes";
import { MNIST_CLASSES, standardizedSplit } from "@quant-trim/recipes/node";
import { type Io, progress } from "./output.js";
import { untrimmableWarning } from "./trim-warning.js";

export interface RunOptions {
  arch: string;
  recipe: RecipeName;
  bits: 4 | 8;
  granularity: "per-channel" | "per-tensor";
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Checkpoint path. */
  out: string;
}

export interface TrainRun {
  arch: string;
  recipe: RecipeName;
  seed: number;
  fpAccuracy: number;
  samplesPerSecond: number;
  checkpoint: string;
  quantized: Record<string, number>;
}

/**
 * Train one zoo model with one recipe on the standardised MNIST split, save the FP32 checkpoint
 * (atomically), then evaluate it as a fresh model loaded from the file: FP32, and with `withQuantEval`
 * on every grid of `ptqGrids` after calibrating on the first 256 training images.
 */
export function trainOne(
  io: Io,
  o: RunOptions,
  withQuantEval: boolean,
  /** Where a warning line goes (default stderr); an experiment passes one that prints each line once. */
  warn: (line: string) => void = (line) => io.stderr.write(`${line}\n`),
): TrainRun {
  const { train, test } = standardizedSplit(0);
  const zooOptions = { inputShape: train.sampleShape, classes: MNIST_CLASSES };
  const model = buildModel(o.arch, { ...zooOptions, seed: o.seed });
  let prunerWarning: string | null = null;
  const recipe = quantTrim(model, {
    recipe: o.recipe,
    bits: o.bits,
    granularity: o.granularity,
    totalSteps: trainingSteps(train.count, o.batchSize, o.epochs),
    inputShape: [1, ...train.sampleShape],
    onWarning: (message) => {
      prunerWarning = message;
    },
  });
  const warning = untrimmableWarning(recipe) ?? (prunerWarning ? `warning: ${prunerWarning}` : null);
  if (warning) warn(warning);
  const bar = progress(io, `${o.arch}/${o.recipe}/seed ${o.seed}`);
  let result: ReturnType<typeof trainClassifier>;
  try {
    result = trainClassifier(model, train, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      seed: o.seed,
      hooks: recipe,
      onStep: ({ step, totalSteps }) => {
        if (step % 10 === 0 || step === totalSteps - 1) bar(step + 1, totalSteps);
      },
    });
  } catch (e) {
    if (e instanceof TrainingDivergedError)
      throw new Error(
        `training diverged: the loss is ${e.loss} at epoch ${e.epoch + 1} of ${e.epochs}, step ${e.step + 1} of ${e.totalSteps}; try a lower learning rate than --lr ${o.lr}`,
        { cause: e },
      );
    throw e;
  }
  // The exported checkpoint is the plain FP32 model; evaluate it as a fresh model loaded from the file.
  mkdirSync(dirname(o.out), { recursive: true });
  saveCheckpoint(o.out, model, {
    architecture: o.arch,
    recipe: JSON.stringify(recipe.settings),
    seed: String(o.seed),
    training: JSON.stringify({
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      optimizer: "Adam",
      data: "mnist 8000/2000 split seed 0, standardised (x - 0.1307) / 0.3081",
    }),
    activation_ranges: JSON.stringify(recipe.qat ? recipe.qat.observerState() : {}),
    reverse_pruning: JSON.stringify(recipe.pruner ? recipe.pruner.state() : null),
  });
  const { tensors } = loadCheckpoint(o.out);
  const fresh = buildModel(o.arch, { ...zooOptions, seed: 0 });
  fresh.loadStateDict(tensors);
  const fpAccuracy = evaluate(fresh, test);
  const quantized: Record<string, number> = {};
  if (withQuantEval) {
    const calibration = head(train, 256);
    for (const [name, grids] of Object.entries(ptqGrids))
      quantized[name] = ptqAccuracy(fresh, { grids, calibration, test });
  }
  return {
    arch: o.arch,
    recipe: o.recipe,
    seed: o.seed,
    fpAccuracy,
    samplesPerSecond: result.samplesPerSecond,
    checkpoint: o.out,
    quantized,
  };
}
