import { basename, dirname, join } from "node:path";
import { isRecipe, recipeNames, zooNames } from "@quant-trim/recipes";
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
import { checkOutFile, missingDirs } from "../out-path.js";
import { type Io, pct } from "../output.js";
import { guardRun } from "../run-guard.js";
import { trainOne } from "../run-recipe.js";

export const trainHelp = `Usage: quant-trim train [options]

  --arch A          the model (default mlp), one of
${wrapList(zooNames, 20)}
  --recipe R        how to train (default fp):
${recipeHelp(20)}
  --bits B          weight bits the recipe trains for: 4 | 8 (default 8)
  --granularity G   per-channel | per-tensor weight grid (default per-channel)
  --epochs N        (default 10)   --batch-size N (default 64)   --lr X (default 1e-3, Adam)
  --seed N          initialisation, shuffling (default 0)
  --out PATH        checkpoint path (default runs/<arch>-<recipe>-s<seed>.safetensors); missing parent
                    directories are created; checked before training starts. The checkpoint appears only
                    once training has finished; an existing file there is refused unless --force
  --force           overwrite an existing checkpoint at --out
  --json            print the result as JSON
  Exit codes: 0 saved, 1 training or saving failed, 2 bad input (nothing written), 130 interrupted
  by Ctrl-C or SIGTERM (nothing written: the unfinished file and the directories this run created are
  removed).`;

export async function trainCommand(args: string[], io: Io): Promise<void> {
  const v = parse(args, {
    arch: { type: "string" },
    recipe: { type: "string" },
    bits: { type: "string" },
    granularity: { type: "string" },
    epochs: { type: "string" },
    "batch-size": { type: "string" },
    lr: { type: "string" },
    out: { type: "string" },
    force: { type: "boolean" },
  });
  if (v.help) {
    io.stdout.write(`${trainHelp}\n`);
    return;
  }
  const arch = archOf(str(v, "arch"), "mlp");
  const recipe = str(v, "recipe") ?? "fp";
  if (!isRecipe(recipe))
    throw new UsageError(`--recipe must be one of ${recipeNames.join(", ")}, got '${recipe}'`);
  const seed = int("seed", str(v, "seed"), 0, 0, 2 ** 32 - 1);
  const o = {
    arch,
    recipe,
    bits: bitsOf(str(v, "bits"), 8),
    granularity: granularityOf(str(v, "granularity"), "per-channel"),
    epochs: int("epochs", str(v, "epochs"), 10, 1, 1000),
    batchSize: int("batch-size", str(v, "batch-size"), 64, 1, 8000),
    lr: num("lr", str(v, "lr"), 1e-3),
    seed,
    out: str(v, "out") ?? join("runs", `${arch}-${recipe}-s${seed}.safetensors`),
  };
  checkOutFile("--out", o.out);
  const outDir = dirname(o.out);
  // The lock is per checkpoint, not per directory: several trainings may write into runs/ at once.
  const guard = guardRun({
    outDir,
    io,
    force: v.force === true,
    createdDirs: missingDirs(outDir),
    results: [o.out],
    lockName: `.${basename(o.out)}.lock`,
  });
  let r: ReturnType<typeof trainOne>;
  try {
    r = { ...trainOne(io, { ...o, out: guard.stage(o.out) }, false), checkpoint: o.out };
    guard.commit();
  } finally {
    guard.dispose();
  }
  if (v.json) io.stdout.write(`${JSON.stringify(r)}\n`);
  else
    io.stdout.write(
      `${r.arch} ${r.recipe} seed ${r.seed}: test accuracy ${pct(r.fpAccuracy)}, ${r.samplesPerSecond.toFixed(0)} samples/s, saved ${r.checkpoint}\n`,
    );
}
