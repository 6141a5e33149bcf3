import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildModel } from "@quant-trim/recipes";
import { UsageError } from "../args.js";
import { type CheckpointEvaluator, inlineEvaluator } from "../experiment/evaluate-checkpoint.js";
import { type ExperimentData, loadExperimentData } from "../experiment/experiment-data.js";
import {
  type ExperimentSettings,
  experimentHelp,
  parseExperimentArgs,
} from "../experiment/experiment-options.js";
import { formatResultsReport } from "../experiment/results-table.js";
import { checkpointName, runExperiment, type Trainer } from "../experiment/run-experiment.js";
import { softwareInfo } from "../experiment/software-info.js";
import { buildRecipe, trainRun } from "../experiment/train-run.js";
import { workerEvaluator } from "../experiment/worker-evaluator.js";
import { checkOutDir, checkOutFile, missingDirs } from "../out-path.js";
import type { Io } from "../output.js";
import { ProgressRenderer } from "../progress/index.js";
import { renderReport } from "../report/index.js";
import { guardRun } from "../run-guard.js";

export { experimentHelp };

/** What an evaluator is made for: the model to rebuild, the data, and how many threads to use. */
export interface EvaluatorSpec {
  readonly arch: string;
  readonly data: ExperimentData;
  readonly threads: number;
}

/** What tests replace: the trainer (a stand-in where training is not the point) and the evaluator. */
export interface ExperimentCommandDeps {
  readonly train?: Trainer;
  readonly evaluator?: (spec: EvaluatorSpec) => CheckpointEvaluator;
  /** Read for NO_COLOR / TERM (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

function defaultEvaluator({ arch, data, threads }: EvaluatorSpec): CheckpointEvaluator {
  const spec = { arch, sampleShape: data.train.sampleShape, classes: data.classes };
  return threads === 1
    ? inlineEvaluator(spec, data.calibration, data.test)
    : workerEvaluator(spec, data.calibration, data.test, threads);
}

const realTrainer: Trainer = (o, data, progress) => trainRun(o, data.train, progress);

/**
 * Every recipe's quantTrim options checked on a throwaway model before any training: a combination
 * quantTrim refuses (e.g. --warmup past --ramp-end) is the user's mistake, found in a second, not after
 * the first run.
 */
function checkRecipeOptions(s: ExperimentSettings, data: ExperimentData): void {
  for (const recipe of s.recipes) {
    const model = buildModel(s.arch, { inputShape: data.train.sampleShape, classes: data.classes, seed: 0 });
    const o = {
      arch: s.arch,
      recipe,
      seed: 0,
      epochs: s.epochs,
      batchSize: s.batchSize,
      lr: s.lr,
      bits: s.bits,
      granularity: s.granularity,
      classes: data.classes,
      recipeOptions: s.recipeOptions,
    };
    try {
      buildRecipe(
        model,
        o,
        Math.max(1, Math.ceil(data.train.count / s.batchSize) * s.epochs),
        data.train.sampleShape,
        () => {},
      );
    } catch (e) {
      throw new UsageError(`recipe ${recipe}: ${(e as Error).message}`);
    }
  }
}

/**
 * `quant-trim experiment`: parse, load the data, train and evaluate every run, then write the
 * checkpoints, results.json and report.html together through a run guard (staged, renamed into place
 * only once everything is written: a failure or Ctrl-C part-way leaves nothing behind, and older files
 * of the same names untouched; a folder holding results is refused unless --force).
 */
export async function experimentCommand(
  args: string[],
  io: Io,
  deps: ExperimentCommandDeps = {},
): Promise<void> {
  const startedAt = new Date();
  const s = parseExperimentArgs(args, startedAt);
  if (s === null) {
    io.stdout.write(`${experimentHelp}\n`);
    return;
  }
  checkOutDir("--out", s.out);
  const resultsPath = join(s.out, "results.json");
  const reportPath = join(s.out, "report.html");
  for (const path of [
    resultsPath,
    reportPath,
    ...s.recipes.flatMap((r) => s.seeds.map((seed) => join(s.out, checkpointName(s.arch, r, seed)))),
  ])
    checkOutFile("--out", path);
  const data = loadExperimentData(s.dataDir);
  checkRecipeOptions(s, data);
  const progress = new ProgressRenderer({ stream: io.stderr, env: deps.env ?? process.env });
  // Taken last, once the input is known good: from here on a failure is the run's (exit 1), not the user's.
  const outputs = guardRun({ outDir: s.out, io, force: s.force, createdDirs: missingDirs(s.out) });
  let evaluator: CheckpointEvaluator | null = null;
  try {
    evaluator = (deps.evaluator ?? defaultEvaluator)({ arch: s.arch, data, threads: s.threads });
    const results = await runExperiment(s, data, {
      train: deps.train ?? realTrainer,
      evaluator,
      progress,
      saveCheckpoint: (name, bytes) => writeStaged(outputs.stage(join(s.out, name)), bytes),
      startedAt,
      software: softwareInfo(),
      command: ["experiment", ...args],
    });
    const json = `${JSON.stringify(results, null, 2)}\n`;
    writeStaged(outputs.stage(resultsPath), json);
    writeStaged(outputs.stage(reportPath), renderReport(results));
    outputs.commit();
    if (s.json) io.stdout.write(json);
    else
      io.stdout.write(`\n${formatResultsReport(results)}\nResults: ${resultsPath} · report: ${reportPath}\n`);
  } catch (e) {
    progress.close();
    throw e;
  } finally {
    try {
      outputs.dispose();
    } finally {
      await evaluator?.close();
    }
  }
}

/** A staged file is already temporary (renamed into place at commit), so a plain write is enough. */
function writeStaged(path: string, content: Uint8Array | string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  } catch (e) {
    throw new Error(`cannot write '${path}': ${(e as Error).message}`, { cause: e });
  }
}
