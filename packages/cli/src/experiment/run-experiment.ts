import { encodeCheckpoint } from "@quant-trim/autograd";
import { getProfile } from "@quant-trim/npu-sim";
import type { QuantTrimRun } from "@quant-trim/recipes";
import { formatPercent, type ProgressRenderer } from "../progress/index.js";
import {
  type ExperimentResults,
  type ProfileCost,
  RESULTS_SCHEMA,
  type RunResult,
} from "../report/results-schema.js";
import type { CheckpointEvaluator } from "./evaluate-checkpoint.js";
import type { ExperimentData } from "./experiment-data.js";
import type { ExperimentSettings } from "./experiment-options.js";
import { groupFigures, profileInfo } from "./profile-evaluation.js";
import { recordedValue } from "./recipe-options.js";
import { summarizeRuns, testNoise } from "./summarize-runs.js";
import type { TrainedRun, TrainRunOptions } from "./train-run.js";

/** Trains one run (the real trainer, or a stand-in in tests). */
export type Trainer = (o: TrainRunOptions, data: ExperimentData, progress: ProgressRenderer) => TrainedRun;

export interface ExperimentHooks {
  readonly train: Trainer;
  readonly evaluator: CheckpointEvaluator;
  readonly progress: ProgressRenderer;
  /** Where a finished checkpoint's bytes go (the command stages them); returns the name results.json lists. */
  readonly saveCheckpoint: (name: string, bytes: Uint8Array) => void;
  /** Start of the experiment, for results.json. */
  readonly startedAt: Date;
  readonly software: ExperimentResults["software"];
  readonly command: readonly string[];
}

/** The checkpoint file name of a run, relative to the output folder. */
export function checkpointName(arch: string, recipe: string, seed: number): string {
  return `${arch}-${recipe}-s${seed}.safetensors`;
}

/** What a checkpoint's metadata says about its training (strings, as safetensors metadata must be). */
function checkpointMetadata(s: ExperimentSettings, data: ExperimentData, run: TrainedRun, seed: number) {
  return {
    architecture: s.arch,
    recipe: JSON.stringify(run.recipe.settings),
    seed: String(seed),
    training: JSON.stringify({
      epochs: s.epochs,
      batchSize: s.batchSize,
      lr: s.lr,
      optimizer: "Adam",
      data: data.info.name,
      inputShape: data.info.sampleShape,
      classes: data.classes,
      standardization: data.info.standardization,
    }),
    activation_ranges: JSON.stringify(run.recipe.qat ? run.recipe.qat.observerState() : {}),
    reverse_pruning: JSON.stringify(run.recipe.pruner ? run.recipe.pruner.state() : null),
  };
}

/**
 * The hyperparameters in force: those given, plus the defaults the recipes used (the λ curriculum's
 * fractions and reverse pruning's pFinal, read from the first run that has them).
 */
function recipeOptionsInForce(
  s: ExperimentSettings,
  recipes: readonly QuantTrimRun[],
): Record<string, number | string | boolean | null> {
  const out: Record<string, number | string | boolean | null> = {};
  const curriculum = recipes.find((r) => r.recipe !== "qat" && r.lambda !== null)?.settings.lambda as
    | Record<string, unknown>
    | null
    | undefined;
  for (const key of ["warmup", "quarticEnd", "rampEnd", "handover"])
    if (typeof curriculum?.[key] === "number") out[key] = curriculum[key] as number;
  const pFinal = recipes.find((r) => r.pFinal !== null)?.pFinal;
  if (pFinal !== undefined && pFinal !== null) out.pFinal = pFinal;
  for (const [key, v] of Object.entries(s.recipeOptions)) out[key] = recordedValue(v);
  return out;
}

/**
 * Trains every recipe × seed, evaluates each checkpoint on every profile, and returns results.json's
 * contents. Files are the caller's: checkpoints go through `hooks.saveCheckpoint`.
 */
export async function runExperiment(
  s: ExperimentSettings,
  data: ExperimentData,
  hooks: ExperimentHooks,
): Promise<ExperimentResults> {
  const t0 = performance.now();
  const profiles = s.profiles.map((name) => profileInfo(getProfile(name)));
  const plan = s.recipes.flatMap((recipe) => s.seeds.map((seed) => ({ recipe, seed })));
  const runs: RunResult[] = [];
  const recipeRuns: QuantTrimRun[] = [];
  const warnings = new Set<string>();
  let costModel: Record<string, ProfileCost> | null = null;
  const { progress } = hooks;
  for (const [i, { recipe, seed }] of plan.entries()) {
    const identity = { arch: s.arch, recipe, seed };
    progress.startRun(i + 1, plan.length, identity);
    const trained = hooks.train(
      {
        arch: s.arch,
        recipe,
        seed,
        epochs: s.epochs,
        batchSize: s.batchSize,
        lr: s.lr,
        bits: s.bits,
        granularity: s.granularity,
        classes: data.classes,
        recipeOptions: s.recipeOptions,
      },
      data,
      progress,
    );
    recipeRuns.push(trained.recipe);
    for (const w of trained.warnings) warnings.add(w);
    const bytes = encodeCheckpoint(trained.model, checkpointMetadata(s, data, trained, seed));
    const name = checkpointName(s.arch, recipe, seed);
    hooks.saveCheckpoint(name, bytes);
    progress.startEval(`${s.arch}/${recipe}/seed ${seed}`, profiles.length);
    const e0 = performance.now();
    const evaluation = await hooks.evaluator.evaluate(bytes, s.profiles, (profile, e) =>
      progress.evalItem(profile, `${formatPercent(e.accuracy)} · agree ${formatPercent(e.top1Agreement)}`),
    );
    progress.endEval();
    const evalSeconds = (performance.now() - e0) / 1000;
    costModel ??= evaluation.costs;
    for (const p of s.profiles) for (const w of evaluation.profiles[p]!.warnings) warnings.add(`${p}: ${w}`);
    runs.push({
      recipe,
      seed,
      checkpoint: name,
      fpAccuracy: evaluation.fpAccuracy,
      profiles: evaluation.profiles,
      int8: groupFigures(evaluation.fpAccuracy, profiles, evaluation.profiles, "int8"),
      int4: groupFigures(evaluation.fpAccuracy, profiles, evaluation.profiles, "int4"),
      curves: trained.curves,
      steps: trained.steps,
      trimmedLayers: trained.trimmedLayers,
      timings: { trainSeconds: trained.trainSeconds, evalSeconds },
    });
  }
  progress.endRun();
  progress.close();
  const summary = summarizeRuns(s.recipes, profiles, runs);
  const recipeOptions = recipeOptionsInForce(s, recipeRuns);
  const grids = s.recipeOptions.grids;
  const finishedAt = new Date(hooks.startedAt.getTime() + (performance.now() - t0));
  return {
    schema: RESULTS_SCHEMA,
    date: hooks.startedAt.toISOString(),
    software: hooks.software,
    config: {
      command: [...hooks.command],
      arch: s.arch,
      recipes: [...s.recipes],
      epochs: s.epochs,
      lr: s.lr,
      batchSize: s.batchSize,
      seeds: [...s.seeds],
      bits: s.bits,
      granularity: s.granularity,
      profiles: [...s.profiles],
      calibrationSamples: data.calibration.count,
      dataDir: s.dataDir,
      out: s.out,
      grids: grids === undefined ? null : typeof grids === "object" ? [...grids] : [String(grids)],
      pow2Thresholds: s.recipeOptions.alignPow2 !== undefined && s.recipeOptions.alignPow2 !== false,
      recipeOptions,
    },
    dataset: data.info,
    profiles,
    runs,
    summary,
    testNoise: testNoise(summary, data.test.count),
    costModel,
    timings: {
      startedAt: hooks.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      totalSeconds: (performance.now() - t0) / 1000,
      trainSeconds: runs.reduce((a, r) => a + r.timings.trainSeconds, 0),
      evalSeconds: runs.reduce((a, r) => a + r.timings.evalSeconds, 0),
    },
    warnings: [...warnings],
  };
}
