import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isRecipe, ptqGrids, type RecipeName, recipeNames } from "@quant-trim/recipes";
import { archOf, bitsOf, granularityOf, int, parse, str, UsageError } from "../args.js";
import { checkOutDir, checkOutFile, missingDirs } from "../out-path.js";
import { type Io, pct, writeAtomic } from "../output.js";
import { type TrainRun, trainOne } from "../run-recipe.js";

export const experimentHelp = `Usage: quant-trim experiment [options]

  Trains the chosen recipes on the same data, model, epochs and optimizer, then evaluates each in FP32 and
  under post-training fake quantization on every grid, and reports the worst-case FP→quantized gap and the
  spread across grids.
  --arch A          (default cnn)            --recipes LIST (default fp,qat,quant-trim; each once)
  --bits B          4 | 8 (default 4)        --granularity G (default per-tensor)
  --epochs N        (default 3)              --seeds N (default 1)
  --seed S          first seed (default 0): each recipe runs seeds S..S+N-1
  --out DIR         (default runs/<timestamp>) writes results.json and the checkpoints; checked before
                    training starts, written only once every run has finished
  --json            print results.json to stdout`;

/**
 * `train` runs one recipe and seed (tests pass a stand-in to exercise the bookkeeping without training).
 * Checkpoints are written to `<name>.partial-<pid>` first and renamed to their names only once every run
 * has finished, just before results.json is written: a run that fails part-way (a diverged loss, a full
 * disk) leaves neither half a set of checkpoints without results.json nor older files of the same names
 * overwritten. (A process killed by a signal can leave `.partial-<pid>` files, named as unfinished.)
 */
export async function experimentCommand(args: string[], io: Io, train = trainOne): Promise<void> {
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
    io.stdout.write(`${experimentHelp}\n`);
    return;
  }
  const arch = archOf(str(v, "arch"), "cnn");
  const recipes = (str(v, "recipes") ?? "fp,qat,quant-trim").split(",");
  for (const [i, r] of recipes.entries()) {
    if (!isRecipe(r))
      throw new UsageError(`--recipes: unknown recipe '${r}'; expected ${recipeNames.join(", ")}`);
    // Runs are grouped by recipe name: a repeat would be averaged into the same row, and its checkpoints
    // would overwrite the first one's.
    if (recipes.indexOf(r) !== i) throw new UsageError(`--recipes: '${r}' is listed twice`);
  }
  const bits = bitsOf(str(v, "bits"), 4);
  const granularity = granularityOf(str(v, "granularity"), "per-tensor");
  const epochs = int("epochs", str(v, "epochs"), 3, 1, 1000);
  const seeds = int("seeds", str(v, "seeds"), 1, 1, 100);
  const maxSeed = 2 ** 32 - 1;
  const firstSeed = int("seed", str(v, "seed"), 0, 0, maxSeed);
  if (firstSeed + seeds - 1 > maxSeed)
    throw new UsageError(
      `--seed ${firstSeed} with --seeds ${seeds} runs seeds up to ${firstSeed + seeds - 1}, above ${maxSeed}`,
    );
  const outDir = str(v, "out") ?? join("runs", new Date().toISOString().replace(/[:.]/g, "-"));
  const checkpoint = (recipe: string, seed: number) => join(outDir, `${arch}-${recipe}-s${seed}.safetensors`);
  const resultsPath = join(outDir, "results.json");
  checkOutDir("--out", outDir);
  checkOutFile("--out", resultsPath);
  for (const recipe of recipes)
    for (let seed = firstSeed; seed < firstSeed + seeds; seed++)
      checkOutFile("--out", checkpoint(recipe, seed));
  const warned = new Set<string>();
  const warnOnce = (line: string) => {
    if (!warned.has(line)) io.stderr.write(`${line}\n`);
    warned.add(line);
  };
  const staged = (path: string) => `${path}.partial-${process.pid}`;
  const createdDirs = missingDirs(outDir);
  const runs: TrainRun[] = [];
  try {
    for (const recipe of recipes as RecipeName[]) {
      for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
        const out = checkpoint(recipe, seed);
        const run = train(
          io,
          { arch, recipe, bits, granularity, epochs, batchSize: 64, lr: 1e-3, seed, out: staged(out) },
          true,
          warnOnce,
        );
        runs.push({ ...run, checkpoint: out });
      }
    }
  } catch (e) {
    try {
      for (const r of recipes)
        for (let seed = firstSeed; seed < firstSeed + seeds; seed++)
          rmSync(staged(checkpoint(r, seed)), { force: true });
      // Directories this command created and left empty go too; those that existed before stay.
      for (const d of createdDirs) if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
    } catch {
      // the cleanup must not hide the reason the run failed
    }
    throw e;
  }
  for (const r of runs) renameSync(staged(r.checkpoint), r.checkpoint);
  const summary = recipes.map((recipe) => {
    const rs = runs.filter((r) => r.recipe === recipe);
    const stats = (xs: number[]) => {
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
      return { mean: m, std: xs.length > 1 ? sd : 0 };
    };
    const grids = Object.keys(ptqGrids);
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
    firstSeed,
    note: "quantized accuracies are fake-quantized PTQ on the grids listed (integer backend simulation is not yet built)",
    runs,
    summary,
  };
  writeAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  if (v.json) {
    io.stdout.write(`${JSON.stringify(results)}\n`);
    return;
  }
  const grids = Object.keys(ptqGrids);
  io.stdout.write(
    `\n${arch}, ${epochs} epochs, ${seeds === 1 ? `seed ${firstSeed}` : `seeds ${firstSeed}..${firstSeed + seeds - 1}`}; training grid INT${bits} ${granularity}. Accuracy on 2,000 test digits (mean over seeds):\n\n`,
  );
  io.stdout.write(
    `${"recipe".padEnd(12)}${"FP32".padStart(9)}${grids.map((g) => g.padStart(18)).join("")}${"worst gap".padStart(12)}${"spread".padStart(9)}\n`,
  );
  for (const s of summary) {
    io.stdout.write(
      `${s.recipe.padEnd(12)}${pct(s.fp.mean).padStart(9)}${grids.map((g) => pct(s.perGrid[g]!.mean).padStart(18)).join("")}${(s.worstGap.mean * 100).toFixed(2).padStart(12)}${(s.spread.mean * 100).toFixed(2).padStart(9)}\n`,
    );
  }
  io.stdout.write(`\nGaps and spreads in accuracy points. Results: ${resultsPath}\n`);
}
