import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { CheckpointError, loadCheckpoint, saveCheckpoint } from "@quant-trim/autograd";
import { gridSpec } from "@quant-trim/quant";
import { standardizedSplit } from "./data/mnist.js";
import { architectures, buildModel, isArchitecture } from "./models.js";
import { fakeQuantAccuracy, head, type PtqGrids } from "./quantized-eval.js";
import { applyRecipe, isRecipe, type RecipeName, recipeNames } from "./recipes.js";
import { evaluate, trainClassifier } from "./train.js";

export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

/** Bad input from the user: a one-line reason and exit code 2. */
export class UsageError extends Error {}

const COMMON = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  seed: { type: "string" },
} as const;

const HELP: Record<string, string> = {
  main: `quant-trim — quantization-aware training of hardware-neutral low-bit checkpoints

Usage: quant-trim <command> [options]

Commands:
  train       train one model with one recipe and save a .safetensors checkpoint
  eval        evaluate a checkpoint in FP32 and under post-training fake quantization
  experiment  train every recipe with the same budget and compare them under quantization

Every command takes --help, --json (machine-readable output on stdout) and --seed.`,
  train: `Usage: quant-trim train [options]

  --arch A          ${architectures.join(" | ")} (default mlp)
  --recipe R        ${recipeNames.join(" | ")} (default fp)
  --bits B          weight bits the recipe trains for: 4 | 8 (default 8)
  --granularity G   per-channel | per-tensor weight grid (default per-channel)
  --epochs N        (default 10)   --batch-size N (default 64)   --lr X (default 1e-3, Adam)
  --seed N          initialisation, shuffling (default 0)
  --out PATH        checkpoint path (default runs/<arch>-<recipe>-s<seed>.safetensors)
  --json            print the result as JSON`,
  eval: `Usage: quant-trim eval --checkpoint PATH [options]

  Accuracy on the 2,000 test digits in FP32, and with every weight and activation fake-quantized after
  calibrating on 256 training images: INT8 and INT4 weights, per-channel and per-tensor, INT8 activations.
  --json            print the result as JSON
  --seed N          the split seed (default 0)`,
  experiment: `Usage: quant-trim experiment [options]

  Trains the chosen recipes on the same data, model, epochs and optimizer, then evaluates each in FP32 and
  under post-training fake quantization on every grid, and reports the worst-case FP→quantized gap and the
  spread across grids.
  --arch A          (default cnn)            --recipes LIST (default fp,qat,quant-trim)
  --bits B          4 | 8 (default 4)        --granularity G (default per-tensor)
  --epochs N        (default 3)              --seeds N (default 1; seeds 0..N-1)
  --out DIR         (default runs/<timestamp>) writes results.json and the checkpoints
  --json            print results.json to stdout`,
};

function int(
  name: string,
  v: string | undefined,
  def: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got '${v}'`);
  return n;
}

function num(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
  return n;
}

function bitsOf(v: string | undefined, def: 4 | 8): 4 | 8 {
  if (v === undefined) return def;
  if (v !== "4" && v !== "8") throw new UsageError(`--bits must be 4 or 8, got '${v}'`);
  return Number(v) as 4 | 8;
}

function granularityOf(
  v: string | undefined,
  def: "per-channel" | "per-tensor",
): "per-channel" | "per-tensor" {
  if (v === undefined) return def;
  if (v !== "per-channel" && v !== "per-tensor")
    throw new UsageError(`--granularity must be per-channel or per-tensor, got '${v}'`);
  return v;
}

function parse<T extends Record<string, { type: "string" | "boolean"; short?: string }>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!);
  }
}

/** Write a file atomically (temporary file + rename), creating its directory. */
function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

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

function progress(io: Io, label: string): (done: number, total: number) => void {
  if (!io.stderr.isTTY) return () => {};
  return (done, total) => {
    const w = 30;
    const k = Math.round((done / total) * w);
    io.stderr.write(
      `\r${label} [${"#".repeat(k)}${" ".repeat(w - k)}] ${done}/${total}${done === total ? "\n" : ""}`,
    );
  };
}

interface TrainRun {
  arch: string;
  recipe: RecipeName;
  seed: number;
  fpAccuracy: number;
  samplesPerSecond: number;
  checkpoint: string;
  quantized: Record<string, number>;
}

function trainOne(
  io: Io,
  o: {
    arch: ReturnType<typeof archOf>;
    recipe: RecipeName;
    bits: 4 | 8;
    granularity: "per-channel" | "per-tensor";
    epochs: number;
    batchSize: number;
    lr: number;
    seed: number;
    out: string;
  },
  withQuantEval: boolean,
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
      data: "mnist 8000/2000 split seed 0",
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

function archOf(v: string | undefined, def: "mlp" | "cnn") {
  const a = v ?? def;
  if (!isArchitecture(a))
    throw new UsageError(`--arch must be one of ${architectures.join(", ")}, got '${a}'`);
  return a;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

async function cmdTrain(args: string[], io: Io): Promise<void> {
  const v = parse(args, {
    arch: { type: "string" },
    recipe: { type: "string" },
    bits: { type: "string" },
    granularity: { type: "string" },
    epochs: { type: "string" },
    "batch-size": { type: "string" },
    lr: { type: "string" },
    out: { type: "string" },
  });
  if (v.help) {
    io.stdout.write(`${HELP.train}\n`);
    return;
  }
  const arch = archOf(v.arch as string | undefined, "mlp");
  const recipe = (v.recipe as string | undefined) ?? "fp";
  if (!isRecipe(recipe))
    throw new UsageError(`--recipe must be one of ${recipeNames.join(", ")}, got '${recipe}'`);
  const seed = int("seed", v.seed as string | undefined, 0, 0, 2 ** 32 - 1);
  const o = {
    arch,
    recipe,
    bits: bitsOf(v.bits as string | undefined, 8),
    granularity: granularityOf(v.granularity as string | undefined, "per-channel"),
    epochs: int("epochs", v.epochs as string | undefined, 10, 1, 1000),
    batchSize: int("batch-size", v["batch-size"] as string | undefined, 64, 1, 8000),
    lr: num("lr", v.lr as string | undefined, 1e-3),
    seed,
    out: (v.out as string | undefined) ?? join("runs", `${arch}-${recipe}-s${seed}.safetensors`),
  };
  const r = trainOne(io, o, false);
  if (v.json) io.stdout.write(`${JSON.stringify(r)}\n`);
  else
    io.stdout.write(
      `${r.arch} ${r.recipe} seed ${r.seed}: test accuracy ${pct(r.fpAccuracy)}, ${r.samplesPerSecond.toFixed(0)} samples/s, saved ${r.checkpoint}\n`,
    );
}

async function cmdEval(args: string[], io: Io): Promise<void> {
  const v = parse(args, { checkpoint: { type: "string" } });
  if (v.help) {
    io.stdout.write(`${HELP.eval}\n`);
    return;
  }
  const path = v.checkpoint as string | undefined;
  if (!path) throw new UsageError("--checkpoint PATH is required");
  const seed = int("seed", v.seed as string | undefined, 0, 0, 2 ** 32 - 1);
  const { tensors, metadata } = loadCheckpoint(path);
  const arch = metadata.architecture!;
  if (!isArchitecture(arch)) throw new CheckpointError(`unknown architecture '${arch}' in ${path}`);
  const { train, test } = standardizedSplit(seed);
  const model = buildModel(arch, 0);
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    throw new CheckpointError(`${path} does not fit architecture '${arch}': ${(e as Error).message}`);
  }
  const fp = evaluate(model, test);
  const calib = head(train, 256);
  const quantized: Record<string, number> = {};
  for (const [name, grids] of Object.entries(evalGrids))
    quantized[name] = fakeQuantAccuracy(arch, tensors, grids, calib, test);
  if (v.json)
    io.stdout.write(
      `${JSON.stringify({ checkpoint: path, architecture: arch, fpAccuracy: fp, quantized })}\n`,
    );
  else {
    io.stdout.write(`${path} (${arch}): FP32 ${pct(fp)}\n`);
    for (const [k, a] of Object.entries(quantized))
      io.stdout.write(`  ${k.padEnd(18)} ${pct(a)}  (gap ${((fp - a) * 100).toFixed(2)} pts)\n`);
  }
}

async function cmdExperiment(args: string[], io: Io): Promise<void> {
  const v = parse(args, {
    arch: { type: "string" },
    recipes: { type: "string" },
    bits: { type: "string" },
    granularity: { type: "string" },
    epochs: { type: "string" },
    seeds: { type: "string" },
    out: { type: "string" },
  });
  if (v.help) {
    io.stdout.write(`${HELP.experiment}\n`);
    return;
  }
  const arch = archOf(v.arch as string | undefined, "cnn");
  const recipes = ((v.recipes as string | undefined) ?? "fp,qat,quant-trim").split(",");
  for (const r of recipes)
    if (!isRecipe(r))
      throw new UsageError(`--recipes: unknown recipe '${r}'; expected ${recipeNames.join(", ")}`);
  const bits = bitsOf(v.bits as string | undefined, 4);
  const granularity = granularityOf(v.granularity as string | undefined, "per-tensor");
  const epochs = int("epochs", v.epochs as string | undefined, 3, 1, 1000);
  const seeds = int("seeds", v.seeds as string | undefined, 1, 1, 100);
  const outDir =
    (v.out as string | undefined) ?? join("runs", new Date().toISOString().replace(/[:.]/g, "-"));
  const runs: TrainRun[] = [];
  for (const recipe of recipes as RecipeName[]) {
    for (let seed = 0; seed < seeds; seed++) {
      runs.push(
        trainOne(
          io,
          {
            arch,
            recipe,
            bits,
            granularity,
            epochs,
            batchSize: 64,
            lr: 1e-3,
            seed,
            out: join(outDir, `${arch}-${recipe}-s${seed}.safetensors`),
          },
          true,
        ),
      );
    }
  }
  const summary = recipes.map((recipe) => {
    const rs = runs.filter((r) => r.recipe === recipe);
    const stats = (xs: number[]) => {
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
      return { mean: m, std: xs.length > 1 ? sd : 0 };
    };
    const grids = Object.keys(evalGrids);
    const perGrid = Object.fromEntries(grids.map((g) => [g, stats(rs.map((r) => r.quantized[g]!))]));
    const worstGap = stats(rs.map((r) => Math.max(...grids.map((g) => r.fpAccuracy - r.quantized[g]!))));
    const spread = stats(
      rs.map(
        (r) =>
          Math.max(...grids.map((g) => r.quantized[g]!)) - Math.min(...grids.map((g) => r.quantized[g]!)),
      ),
    );
    return { recipe, fp: stats(rs.map((r) => r.fpAccuracy)), perGrid, worstGap, spread };
  });
  const results = {
    arch,
    bits,
    granularity,
    epochs,
    seeds,
    note: "quantized accuracies are fake-quantized PTQ on the grids listed (integer backend simulation is not yet built)",
    runs,
    summary,
  };
  writeAtomic(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  if (v.json) {
    io.stdout.write(`${JSON.stringify(results)}\n`);
    return;
  }
  const grids = Object.keys(evalGrids);
  io.stdout.write(
    `\n${arch}, ${epochs} epochs, ${seeds} seed(s); training grid INT${bits} ${granularity}. Accuracy on 2,000 test digits (mean over seeds):\n\n`,
  );
  io.stdout.write(
    `${"recipe".padEnd(12)}${"FP32".padStart(9)}${grids.map((g) => g.padStart(18)).join("")}${"worst gap".padStart(12)}${"spread".padStart(9)}\n`,
  );
  for (const s of summary) {
    io.stdout.write(
      `${s.recipe.padEnd(12)}${pct(s.fp.mean).padStart(9)}${grids.map((g) => pct(s.perGrid[g]!.mean).padStart(18)).join("")}${(s.worstGap.mean * 100).toFixed(2).padStart(12)}${(s.spread.mean * 100).toFixed(2).padStart(9)}\n`,
    );
  }
  io.stdout.write(`\nGaps and spreads in accuracy points. Results: ${join(outDir, "results.json")}\n`);
}

const COMMANDS: Record<string, (args: string[], io: Io) => Promise<void>> = {
  train: cmdTrain,
  eval: cmdEval,
  experiment: cmdExperiment,
};

/** Run the CLI; returns the exit code (0 ok, 2 bad input, 1 failure). */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.stdout.write(`${HELP.main}\n`);
    return command === undefined ? 2 : 0;
  }
  const fn = COMMANDS[command];
  if (!fn) {
    io.stderr.write(
      `quant-trim: unknown command '${command}' (expected ${Object.keys(COMMANDS).join(", ")})\n`,
    );
    return 2;
  }
  try {
    await fn(rest, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof CheckpointError) {
      io.stderr.write(`quant-trim ${command}: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`quant-trim ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}
