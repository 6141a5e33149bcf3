import type { Module } from "@quant-trim/autograd";
import {
  buildModel,
  type Dataset,
  type QuantTrimOptions,
  type QuantTrimRun,
  quantTrim,
  type RecipeName,
  type StepHooks,
  TrainingDivergedError,
  trainClassifier,
  trainingGrids,
  trainingSteps,
} from "@quant-trim/recipes";
import type { ProgressRenderer } from "../progress/index.js";
import type { EpochRecord, StepSeries, TrimmedLayer } from "../report/results-schema.js";
import { untrimmableWarning } from "../trim-warning.js";
import type { RecipeOptionValue } from "./recipe-options.js";
import { trimmedLayerRecord } from "./weight-histograms.js";

/** What one training run needs to know. */
export interface TrainRunOptions {
  readonly arch: string;
  readonly recipe: RecipeName;
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly bits: 4 | 8;
  readonly granularity: "per-tensor" | "per-channel";
  readonly classes: number;
  readonly recipeOptions: Readonly<Record<string, RecipeOptionValue>>;
}

/** A trained model and everything its training recorded for results.json. */
export interface TrainedRun {
  /** The trained model (still carrying the recipe's hooks: evaluate a fresh copy of its weights). */
  readonly model: Module;
  readonly recipe: QuantTrimRun;
  readonly curves: EpochRecord[];
  readonly steps: StepSeries;
  /** Pruned layers, most-trimmed first (at most TRIMMED_LAYERS_KEPT); null without reverse pruning. */
  readonly trimmedLayers: TrimmedLayer[] | null;
  readonly trainSeconds: number;
  /** Warnings of this run (e.g. layers reverse pruning cannot trim). */
  readonly warnings: string[];
}

/** Pruned layers whose histograms results.json keeps: the most-trimmed ones, which the report shows. */
export const TRIMMED_LAYERS_KEPT = 4;

/** Points per step series: enough for a smooth curve, few enough to keep results.json small. */
const STEP_SERIES_POINTS = 500;

/** Builds a recipe for `model`; a combination quantTrim refuses is the user's (exit 2), not a crash. */
export function buildRecipe(
  model: Module,
  o: TrainRunOptions,
  totalSteps: number,
  inputShape: readonly number[],
  onWarning: (message: string) => void,
): QuantTrimRun {
  const options = {
    ...o.recipeOptions,
    // Seeds multi-grid PFQ's draws with the run's seed (quantTrim ignores it otherwise).
    seed: o.seed,
    recipe: o.recipe,
    bits: o.bits,
    granularity: o.granularity,
    totalSteps,
    inputShape: [1, ...inputShape],
    onWarning,
  } as QuantTrimOptions;
  return quantTrim(model, options);
}

/**
 * Trains one recipe with one seed on `train`, reporting progress through `progress` (epochs and steps;
 * the caller starts and ends the run) and recording per-epoch curves, a sampled per-step series and,
 * for recipes with reverse pruning, the weights of each pruned layer when trimming starts (just before
 * the first projection whose quantile is below 1) and at the end.
 */
export function trainRun(o: TrainRunOptions, train: Dataset, progress: ProgressRenderer): TrainedRun {
  const model = buildModel(o.arch, { inputShape: train.sampleShape, classes: o.classes, seed: o.seed });
  const stepsPerEpoch = trainingSteps(train.count, o.batchSize, 1);
  const totalSteps = stepsPerEpoch * o.epochs;
  const warnings: string[] = [];
  let prunerWarning: string | null = null;
  const recipe = buildRecipe(model, o, totalSteps, train.sampleShape, (message) => {
    prunerWarning = message;
  });
  const warning = untrimmableWarning(recipe) ?? (prunerWarning ? `warning: ${prunerWarning}` : null);
  if (warning) warnings.push(warning.replace(/^warning: /, ""));
  if (warning) progress.message(warning);

  const lambdaAt = (step: number) => (recipe.lambda ? recipe.lambda.at(step) : null);
  const pruner = recipe.pruner;
  const trimAt = (step: number) => (pruner && pruner.layerNames.length > 0 ? pruner.pAt(step) : null);
  const every = Math.max(1, Math.ceil(totalSteps / STEP_SERIES_POINTS));
  const steps = {
    loss: [] as number[],
    lambda: recipe.lambda ? ([] as number[]) : null,
    trimQuantile: trimAt(0) === null ? null : ([] as number[]),
  };
  const params = new Map(model.namedParameters());
  const before = new Map<string, Float32Array>();
  const recorder: StepHooks = {
    totalSteps,
    beforeStep(step) {
      if (step % stepsPerEpoch === 0) progress.startEpoch(step / stepsPerEpoch, o.epochs, stepsPerEpoch);
    },
    afterStep(step) {
      // Runs before the recipe's afterStep (hooks run in order), so the pruner has not projected yet.
      if (pruner && before.size === 0 && pruner.pAt(step) < 1)
        for (const name of pruner.layerNames)
          before.set(name, new Float32Array(params.get(name)!.data.toFloat32Array()));
    },
  };
  const curves: EpochRecord[] = [];
  const t0 = performance.now();
  try {
    trainClassifier(model, train, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      seed: o.seed,
      hooks: [recorder, recipe],
      onStep: ({ step, loss, batchSize }) => {
        progress.step({ loss, samples: batchSize, lambda: lambdaAt(step) });
        if (step % every === 0) {
          steps.loss.push(loss);
          steps.lambda?.push(lambdaAt(step)!);
          steps.trimQuantile?.push(trimAt(step)!);
        }
      },
      onEpoch: (e) => {
        const last = (e.epoch + 1) * stepsPerEpoch - 1;
        const figures = {
          trainAccuracy: e.trainAccuracy,
          lambda: lambdaAt(last),
          trimQuantile: trimAt(last),
        };
        progress.endEpoch({ ...figures, loss: e.meanLoss });
        curves.push({
          epoch: e.epoch,
          loss: e.meanLoss,
          ...figures,
          validationAccuracy: e.validationAccuracy,
          seconds: e.seconds,
          samplesPerSecond: e.samplesPerSecond,
        });
      },
    });
  } catch (e) {
    if (e instanceof TrainingDivergedError)
      throw new Error(
        `${o.arch}/${o.recipe}/seed ${o.seed}: ${e.message.replace(/than \S+$/, `than --lr ${o.lr}`)}`,
        {
          cause: e,
        },
      );
    throw e;
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  return {
    model,
    recipe,
    curves,
    steps: { every, totalSteps, ...steps },
    trimmedLayers: pruner
      ? trimmedLayers(pruner, params, before, trainingGrids(o.bits, o.granularity).weight)
      : null,
    trainSeconds,
    warnings,
  };
}

function trimmedLayers(
  pruner: NonNullable<QuantTrimRun["pruner"]>,
  params: Map<string, { data: { shape: readonly number[]; toFloat32Array(): Float32Array } }>,
  before: Map<string, Float32Array>,
  grid: Parameters<typeof trimmedLayerRecord>[5],
): TrimmedLayer[] {
  const report = new Map(pruner.report().layers.map((l) => [l.name, l]));
  const records = pruner.layerNames.map((name) => {
    const p = params.get(name)!;
    const after = p.data.toFloat32Array();
    // A run too short to reach trimming has no "before": the weights never changed by it.
    return trimmedLayerRecord(name, p.data.shape, before.get(name) ?? after, after, report.get(name)!, grid);
  });
  return records.sort((a, b) => b.trimmedFraction - a.trimmedFraction).slice(0, TRIMMED_LAYERS_KEPT);
}
