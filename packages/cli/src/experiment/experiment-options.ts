import { availableParallelism } from "node:os";
import { join } from "node:path";
import { profileNames } from "@quant-trim/npu-sim";
import { isRecipe, type RecipeName, recipeNames, zooNames } from "@quant-trim/recipes";
import {
  archOf,
  bitsOf,
  granularityOf,
  int,
  num,
  parse,
  recipeHelp,
  str,
  UsageError,
  wrapList,
} from "../args.js";
import { parseProfileList } from "../profile-eval.js";
import {
  type RecipeOptionValue,
  readRecipeOptions,
  recipeOptionSpecs,
  recipeOptionsHelp,
} from "./recipe-options.js";

/** Defaults of `npm start`: sized so that the whole run fits in 5 minutes on an idle 2-core machine. */
export const EXPERIMENT_DEFAULTS = {
  arch: "cnn-bn",
  recipes: ["fp", "qat", "quant-trim"] as RecipeName[],
  ablations: ["pfq", "rp"] as RecipeName[],
  epochs: 4,
  lr: 1e-3,
  batchSize: 64,
  seeds: 1,
  seed: 0,
  bits: 4 as const,
  granularity: "per-tensor" as const,
};

/** Evaluation threads by default: two where there are two cores (training runs on one at a time). */
export function defaultThreads(): number {
  return Math.min(2, availableParallelism());
}

/** One experiment's settings, read from its command line. */
export interface ExperimentSettings {
  readonly arch: string;
  readonly recipes: readonly RecipeName[];
  readonly profiles: readonly string[];
  readonly epochs: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly seeds: readonly number[];
  readonly bits: 4 | 8;
  readonly granularity: "per-tensor" | "per-channel";
  readonly dataDir: string | null;
  readonly out: string;
  readonly json: boolean;
  readonly force: boolean;
  /** Threads that evaluate the integer programs (1: on the main thread). The figures do not depend on it. */
  readonly threads: number;
  /** Recipe hyperparameters given on the command line, by quantTrim option name. */
  readonly recipeOptions: Readonly<Record<string, RecipeOptionValue>>;
}

export const experimentHelp = `Usage: quant-trim experiment [options]        (npm start runs it with the defaults)

  Trains each recipe on the same data, model, epochs and optimizer, then compiles every checkpoint for
  every integer backend profile (each calibrating its own way on the same ${256} training samples) and runs
  it in that profile's integer arithmetic. Prints per profile the integer accuracy and the top-1
  agreement with FP32, and per recipe the worst FP→integer gap and the spread across profiles, for the
  INT8 and the INT4 profiles separately, with the test set's own noise under the table. Writes
  results.json, report.html and the checkpoints to --out.

  --arch A          ${zooNames.join(" | ")} (default ${EXPERIMENT_DEFAULTS.arch})
  --recipes LIST    comma-separated, each once (default ${EXPERIMENT_DEFAULTS.recipes.join(",")}), of
${recipeHelp(20)}
  --ablations       add pfq and rp to the recipes
  --profiles LIST   'all' (default) or profile names, comma-separated (quant-trim profiles describes them):
${wrapList(profileNames, 20)}
  --epochs N        (default ${EXPERIMENT_DEFAULTS.epochs})      --lr X (default ${EXPERIMENT_DEFAULTS.lr}, Adam)      --batch-size N (default ${EXPERIMENT_DEFAULTS.batchSize})
  --seeds N         runs per recipe (default ${EXPERIMENT_DEFAULTS.seeds}); the table then shows mean ± sample std
  --seed S          first seed (default ${EXPERIMENT_DEFAULTS.seed}): seeds S..S+N-1 (initial weights, shuffling)
  --bits B          weight bits of the training grid: 4 | 8 (default ${EXPERIMENT_DEFAULTS.bits})
  --granularity G   per-tensor | per-channel training grid (default ${EXPERIMENT_DEFAULTS.granularity})
  --data-dir DIR    an IDX dataset (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], and
                    t10k-… test files or a seeded 20 % hold-out) instead of the bundled MNIST digits;
                    classes from the labels, standardised with the training images' statistics
  --out DIR         (default runs/<date>) results.json, report.html, one checkpoint per run; they appear
                    together once every run has finished; a folder that already holds results is refused
  --force           write into a --out folder that already holds results (same-named files are replaced)
  --json            print results.json to stdout instead of the table
  --threads N       threads that run the integer evaluation (default ${defaultThreads()} here: min(2, cores)); the
                    figures are the same for any N
Recipe hyperparameters (passed to every recipe that uses them; recorded in results.json):
${recipeOptionsHelp()}`;

const OPTIONS = {
  arch: { type: "string" },
  recipes: { type: "string" },
  ablations: { type: "boolean" },
  profiles: { type: "string" },
  epochs: { type: "string" },
  lr: { type: "string" },
  "batch-size": { type: "string" },
  seeds: { type: "string" },
  bits: { type: "string" },
  granularity: { type: "string" },
  "data-dir": { type: "string" },
  out: { type: "string" },
  force: { type: "boolean" },
  threads: { type: "string" },
} as const;

function recipesOf(spec: string | undefined, ablations: boolean): RecipeName[] {
  const given = spec === undefined ? EXPERIMENT_DEFAULTS.recipes : spec.split(",").map((s) => s.trim());
  for (const [i, r] of given.entries()) {
    if (!isRecipe(r))
      throw new UsageError(`--recipes: unknown recipe '${r}'; valid recipes: ${recipeNames.join(", ")}`);
    // Runs are grouped by recipe: a repeat would be averaged into the same column.
    if (given.indexOf(r) !== i) throw new UsageError(`--recipes: '${r}' is listed twice`);
  }
  if (!ablations) return given as RecipeName[];
  const wanted = new Set<string>([...given, ...EXPERIMENT_DEFAULTS.ablations]);
  return recipeNames.filter((r) => wanted.has(r));
}

function profilesOf(spec: string): string[] {
  try {
    return parseProfileList(spec);
  } catch (e) {
    if (e instanceof UsageError && !e.message.startsWith("--profiles"))
      throw new UsageError(`--profiles: ${e.message}`);
    throw e;
  }
}

/** `null` when `args` asks for help; otherwise the checked settings (a UsageError on anything wrong). */
export function parseExperimentArgs(args: string[], now: Date = new Date()): ExperimentSettings | null {
  const v = parse(args, { ...OPTIONS, ...recipeOptionSpecs() });
  if (v.help) return null;
  const seeds = int("seeds", str(v, "seeds"), EXPERIMENT_DEFAULTS.seeds, 1, 100);
  const maxSeed = 2 ** 32 - 1;
  const firstSeed = int("seed", str(v, "seed"), EXPERIMENT_DEFAULTS.seed, 0, maxSeed);
  if (firstSeed + seeds - 1 > maxSeed)
    throw new UsageError(
      `--seed ${firstSeed} with --seeds ${seeds} runs seeds up to ${firstSeed + seeds - 1}, above ${maxSeed}`,
    );
  const dataDir = str(v, "data-dir") ?? null;
  if (dataDir !== null && dataDir.trim() === "") throw new UsageError("--data-dir: the path is blank");
  const out = str(v, "out") ?? join("runs", now.toISOString().replace(/[:.]/g, "-"));
  if (out.trim() === "") throw new UsageError("--out: the path is blank; give a directory");
  return {
    arch: archOf(str(v, "arch"), EXPERIMENT_DEFAULTS.arch),
    recipes: recipesOf(str(v, "recipes"), v.ablations === true),
    profiles: profilesOf(str(v, "profiles") ?? "all"),
    epochs: int("epochs", str(v, "epochs"), EXPERIMENT_DEFAULTS.epochs, 1, 1000),
    lr: num("lr", str(v, "lr"), EXPERIMENT_DEFAULTS.lr),
    batchSize: int("batch-size", str(v, "batch-size"), EXPERIMENT_DEFAULTS.batchSize, 1, 100_000),
    seeds: Array.from({ length: seeds }, (_, i) => firstSeed + i),
    bits: bitsOf(str(v, "bits"), EXPERIMENT_DEFAULTS.bits),
    granularity: granularityOf(str(v, "granularity"), EXPERIMENT_DEFAULTS.granularity),
    dataDir,
    out,
    json: v.json === true,
    force: v.force === true,
    threads: int("threads", str(v, "threads"), defaultThreads(), 1, 64),
    recipeOptions: readRecipeOptions(v),
  };
}
