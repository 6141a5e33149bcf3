/**
 * The claim, measured (issue 12): train recipe variants on one zoo model over several seeds and measure
 * each checkpoint on every npu-sim profile in integer arithmetic. Every finished run is appended as one
 * JSON line to `--out`, and runs already there are skipped, so a long job can be stopped and resumed.
 *
 *   npx tsx --conditions=source experiments/claim-run.ts --arch cnn-bn --variants fp,qat,quant-trim \
 *     --seeds 5 --epochs 3 --out runs/claim-cnn-bn.jsonl [--split test|validation]
 *
 * `--split test` (default) trains on the 8,000 training digits and reports on the 2,000 test digits;
 * `--split validation` trains on the first 6,000 training digits and measures on the last 2,000 (the test
 * split is not touched: that is what claim-tune.ts uses). Calibration: the first 256 training digits.
 * `--profiles a,b,…` limits the measurement to those profiles (default all; the INT4 ones are what the
 * claim is about, and integer inference of a depthwise model on all twelve costs minutes per run).
 * `experiments/claim-summary.ts` prints the tables.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { head, splitValidation } from "@quant-trim/recipes";
import { standardizedSplit } from "@quant-trim/recipes/node";
import { gapAndSpread, measure, parseVariant, type TrainSettings, trainVariant } from "./claim-lib.js";

export interface ClaimConfig extends TrainSettings {
  variants: string[];
  seeds: number[];
  split: "test" | "validation";
  out: string;
  /** Profiles to measure (default every npu-sim profile). */
  profiles?: string[];
}

export interface ClaimRecord {
  arch: string;
  variant: string;
  seed: number;
  split: "test" | "validation";
  epochs: number;
  bits: number;
  granularity: string;
  evalCount: number;
  trainSeconds: number;
  fpAccuracy: number;
  profiles: { profile: string; weightBits: number; accuracy: number }[];
  int4: { worstGap: number; spread: number } | null;
  int8: { worstGap: number; spread: number } | null;
}

export function readRecords(path: string): ClaimRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as ClaimRecord);
}

export function runClaim(c: ClaimConfig): ClaimRecord[] {
  const { train: full, test } = standardizedSplit(0);
  const { train, validation } =
    c.split === "validation" ? splitValidation(full, 0.25) : { train: full, validation: test };
  const calibration = head(train, 256);
  const done = readRecords(c.out);
  const key = (r: { arch: string; variant: string; seed: number; split: string; epochs: number }) =>
    `${r.arch}|${r.variant}|${r.seed}|${r.split}|${r.epochs}`;
  const have = new Set(done.map(key));
  const records: ClaimRecord[] = [...done];
  const total = c.variants.length * c.seeds.length;
  let i = 0;
  for (const seed of c.seeds) {
    for (const name of c.variants) {
      i++;
      const k = key({ arch: c.arch, variant: name, seed, split: c.split, epochs: c.epochs });
      if (have.has(k)) continue;
      const variant = parseVariant(name);
      const t0 = performance.now();
      const { model, seconds } = trainVariant(variant, seed, train, c);
      const m = measure(model, calibration, validation, c.profiles);
      const rec: ClaimRecord = {
        arch: c.arch,
        variant: name,
        seed,
        split: c.split,
        epochs: c.epochs,
        bits: c.bits,
        granularity: c.granularity,
        evalCount: validation.count,
        trainSeconds: seconds,
        fpAccuracy: m.fpAccuracy,
        profiles: m.profiles,
        int4: gapAndSpread(m, 4),
        int8: gapAndSpread(m, 8),
      };
      appendFileSync(c.out, `${JSON.stringify(rec)}\n`);
      records.push(rec);
      const pts = (x: number | undefined) => (x === undefined ? "—" : (100 * x).toFixed(2));
      console.error(
        `[${i}/${total}] ${c.arch}/${name}/seed ${seed}: FP ${pts(m.fpAccuracy)} %, INT4 worst gap ${pts(rec.int4?.worstGap)}, spread ${pts(rec.int4?.spread)}; INT8 worst gap ${pts(rec.int8?.worstGap)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  }
  return records;
}

function argValue(args: string[], name: string, fallback?: string): string {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? args[i + 1] : fallback;
  if (v === undefined) throw new Error(`claim-run: --${name} is required`);
  return v;
}

if (process.argv[1]?.endsWith("claim-run.ts")) {
  const a = process.argv.slice(2);
  const seeds = Number(argValue(a, "seeds", "5"));
  const first = Number(argValue(a, "seed", "0"));
  const split = argValue(a, "split", "test");
  if (split !== "test" && split !== "validation")
    throw new Error(`claim-run: --split must be test or validation`);
  runClaim({
    arch: argValue(a, "arch", "cnn-bn"),
    variants: argValue(a, "variants", "fp,qat,quant-trim").split(","),
    seeds: Array.from({ length: seeds }, (_, k) => first + k),
    epochs: Number(argValue(a, "epochs", "3")),
    batchSize: Number(argValue(a, "batch-size", "64")),
    lr: Number(argValue(a, "lr", "0.001")),
    bits: Number(argValue(a, "bits", "4")) as 4 | 8,
    granularity: argValue(a, "granularity", "per-tensor") as "per-tensor" | "per-channel",
    split,
    out: argValue(a, "out"),
    ...(a.includes("--profiles") ? { profiles: argValue(a, "profiles").split(",") } : {}),
  });
}
