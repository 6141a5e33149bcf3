import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "@quant-trim/autograd";
import { standardizedSplit } from "./data/mnist.js";
import { type Architecture, buildModel } from "./models.js";
import { type Io, progress } from "./output.js";
import { evalGrids, fakeQuantAccuracy, head } from "./quantized-eval.js";
import { applyRecipe, type RecipeName } from "./recipes.js";
import { evaluate, trainClassifier } from "./train.js";
import { untrimmableWarning } from "./trim-warning.js";

export interface RunOptions {
  arch: Architecture;
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
 * Train one model with one recipe on the standardised MNIST split, save the FP32 checkpoint (atomically),
 * then evaluate it as a fresh model loaded from the file: FP32, and with `withQuantEval` on every grid of
 * `evalGrids` after calibrating on the first 256 training images.
 */
export function trainOne(
  io: Io,
  o: RunOptions,
  withQuantEval: boolean,
  /** Where a warning line goes (default stderr); an experiment passes one that prints each line once. */
  warn: (line: string) => void = (line) => io.stderr.write(`${line}\n`),
): TrainRun {
  const { train, test } = standardizedSplit(0);
  const model = buildModel(o.arch, o.seed);
  const totalSteps = Math.ceil(train.count / o.batchSize) * o.epochs;
  const recipe = applyRecipe(model, {
    recipe: o.recipe,
    bits: o.bits,
    granularity: o.granularity,
    totalSteps,
    inputShape: [1, 1, 28, 28],
  });
  const warning = untrimmableWarning(recipe);
  if (warning) warn(warning);
  const bar = progress(io, `${o.arch}/${o.recipe}/seed ${o.seed}`);
  const result = trainClassifier(model, train, {
    epochs: o.epochs,
    batchSize: o.batchSize,
    lr: o.lr,
    seed: o.seed,
    beforeStep: (s) => recipe.beforeStep(s),
    afterStep: (s, total) => {
      recipe.afterStep(s);
      if (s % 10 === 0 || s === total - 1) bar(s + 1, total);
    },
  });
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
  const fresh = buildModel(o.arch, 0);
  fresh.loadStateDict(tensors);
  const fpAccuracy = evaluate(fresh, test);
  const quantized: Record<string, number> = {};
  if (withQuantEval) {
    const calib = head(train, 256);
    for (const [name, grids] of Object.entries(evalGrids))
      quantized[name] = fakeQuantAccuracy(o.arch, tensors, grids, calib, test);
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
