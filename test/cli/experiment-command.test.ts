import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { profileNames } from "@quant-trim/npu-sim";
import { recipeNames, zooNames } from "@quant-trim/recipes";
import { runCli } from "quant-trim";
import { type ExperimentResults, parseResults, RECIPE_OPTIONS } from "quant-trim/internal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDirs, writeIdxDataset } from "./experiment-fixtures.js";

/*
 * `quant-trim experiment` end to end on a tiny IDX dataset the test writes (60 training and 30 test
 * images of 8×8 pixels, 3 classes): real training for a few steps, real compilation and integer runs on
 * three profiles. The numbers are not the point; the files, the checks and the bookkeeping are.
 */

const dirs = tempDirs();
afterAll(() => dirs.removeAll());

const PROFILES = ["tflite-int8", "w4a8", "w4a4-per-tensor"];
let data: string;
let labels: { trainLabels: number[]; testLabels: number[] };
let out: string;
let code: number;
let stdout: string;
let stderr: string;
let results: ExperimentResults;

const base = (dataDir: string, outDir: string) => [
  "experiment",
  "--data-dir",
  dataDir,
  "--epochs",
  "2",
  "--batch-size",
  "16",
  "--profiles",
  PROFILES.join(","),
  "--out",
  outDir,
];

beforeAll(async () => {
  data = dirs.make("qt-idx-");
  labels = writeIdxDataset(data, { train: 60, test: 30, side: 8, classes: 3, gzip: true });
  out = join(dirs.make(), "run");
  const c = capture();
  code = await runCli(base(data, out), c.io);
  stdout = c.out();
  stderr = c.err();
  results = parseResults(JSON.parse(readFileSync(join(out, "results.json"), "utf8")));
}, 60_000);

describe("experiment on an IDX dataset (--data-dir)", () => {
  it("exits 0, prints the table and writes results.json that parseResults accepts, and report.html", () => {
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^ +fp +qat +quant-trim$/m);
    for (const p of PROFILES) expect(stdout).toContain(`  ${p} (`);
    expect(stdout).toContain("test-set noise: ±");
    expect(readdirSync(out).sort()).toEqual([
      "cnn-bn-fp-s0.safetensors",
      "cnn-bn-qat-s0.safetensors",
      "cnn-bn-quant-trim-s0.safetensors",
      "report.html",
      "results.json",
    ]);
  });

  it("records the dataset: classes from the labels, statistics of the training images, every file's hash", () => {
    const d = results.dataset;
    expect(d.source).toBe("idx");
    expect(d.classes).toBe(Math.max(...labels.trainLabels) + 1);
    expect(d.split).toEqual({ kind: "files", seed: null, testFraction: null });
    expect([d.trainCount, d.testCount, d.sampleShape]).toEqual([60, 30, [1, 8, 8]]);
    expect(d.classCounts!.train).toEqual(
      [0, 1, 2].map((c) => labels.trainLabels.filter((y) => y === c).length),
    );
    expect(d.files.map((f) => f.role).sort()).toEqual([
      "testImages",
      "testLabels",
      "trainImages",
      "trainLabels",
    ]);
    for (const f of d.files) {
      const bytes = readFileSync(f.path);
      expect(f.bytes).toBe(bytes.length);
      expect(f.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
    expect(d.standardization.measuredOn).toBe("training images");
    expect(results.config.calibrationSamples).toBe(60);
    expect(results.config.dataDir).toBe(data);
  });

  it("keeps the config, one run per recipe with its curves, and null where a figure does not exist", () => {
    const c = results.config;
    expect([c.arch, c.epochs, c.batchSize, c.lr, c.bits, c.granularity]).toEqual([
      "cnn-bn",
      2,
      16,
      0.001,
      4,
      "per-tensor",
    ]);
    expect(c.recipes).toEqual(["fp", "qat", "quant-trim"]);
    expect(c.profiles).toEqual(PROFILES);
    expect(c.seeds).toEqual([0]);
    expect(c.command).toEqual(base(data, out));
    // The curriculum's and pruning's defaults in force are recorded, not only options given.
    expect(Object.keys(c.recipeOptions).sort()).toEqual([
      "handover",
      "pFinal",
      "quarticEnd",
      "rampEnd",
      "warmup",
    ]);
    const [fp, qat, qt] = results.runs;
    expect(results.runs.map((r) => [r.recipe, r.seed])).toEqual([
      ["fp", 0],
      ["qat", 0],
      ["quant-trim", 0],
    ]);
    for (const r of results.runs) {
      expect(r.curves.map((e) => e.epoch)).toEqual([0, 1]);
      expect(r.steps!.totalSteps).toBe(2 * Math.ceil(60 / 16));
    }
    expect(fp!.curves.every((e) => e.lambda === null && e.trimQuantile === null)).toBe(true);
    expect(fp!.trimmedLayers).toBeNull();
    expect(qat!.curves.every((e) => e.lambda === 1 && e.trimQuantile === null)).toBe(true);
    expect(qt!.curves.at(-1)!.lambda).toBe(1);
    expect(qt!.curves.at(-1)!.trimQuantile).toBe(c.recipeOptions.pFinal);
    expect(qt!.trimmedLayers!.length).toBeGreaterThan(0);
    for (const s of results.summary) expect(s.fpAccuracy.std).toBeNull();
  });

  it("computes each run's worst gap and spread per weight group from its profile accuracies", () => {
    for (const r of results.runs) {
      for (const [group, members] of [
        ["int8", ["tflite-int8"]],
        ["int4", ["w4a8", "w4a4-per-tensor"]],
      ] as const) {
        const accs = members.map((p) => r.profiles[p]!.accuracy);
        const g = r[group]!;
        expect(g.profiles).toEqual(members);
        expect(g.worstGap).toBeCloseTo(r.fpAccuracy - Math.min(...accs), 12);
        expect(g.spread).toBeCloseTo(Math.max(...accs) - Math.min(...accs), 12);
      }
      // Accuracies are counts over the 30 test images.
      for (const p of PROFILES)
        expect(Number.isInteger(Math.round(r.profiles[p]!.accuracy * 30 * 1e6) / 1e6)).toBe(true);
    }
    const meanFp = results.summary.reduce((a, s) => a + s.fpAccuracy.mean, 0) / results.summary.length;
    expect(results.testNoise.standardError).toBeCloseTo(Math.sqrt((meanFp * (1 - meanFp)) / 30), 12);
  });

  it("reports progress per run, epoch and profile on stderr, as plain lines off a terminal", () => {
    expect(stderr).toContain("run 1 of 3 · cnn-bn/fp/seed 0");
    expect(stderr).toContain("run 3 of 3 · cnn-bn/quant-trim/seed 0");
    expect(stderr.match(/^epoch \d\/2 · loss /gm)).toHaveLength(6);
    expect(stderr.match(/^eval done · 3 profiles/gm)).toHaveLength(3);
    expect(stderr.includes("\r") || stderr.includes("\u001b")).toBe(false);
  });

  it("holds out a seeded 20 % as the test set when the dataset has no test files, and prints JSON with --json", async () => {
    const heldOut = dirs.make("qt-idx-");
    writeIdxDataset(heldOut, { train: 50, test: null, side: 8, classes: 2 });
    const c = capture();
    const o = join(dirs.make(), "held");
    const args = [...base(heldOut, o), "--recipes", "fp", "--epochs", "1", "--json", "--threads", "1"];
    args.splice(args.indexOf("--epochs"), 2);
    expect(await runCli(args, c.io), c.err()).toBe(0);
    const printed = parseResults(JSON.parse(c.out()));
    expect(printed.dataset.split).toEqual({ kind: "held-out", seed: 0, testFraction: 0.2 });
    expect([printed.dataset.trainCount, printed.dataset.testCount]).toEqual([40, 10]);
    expect(JSON.parse(readFileSync(join(o, "results.json"), "utf8"))).toEqual(JSON.parse(c.out()));
  });
});

describe("experiment --help", () => {
  it("lists every architecture, recipe, profile and recipe hyperparameter, and exits 0 without running", async () => {
    const c = capture();
    expect(await runCli(["experiment", "--help"], c.io)).toBe(0);
    const help = c.out();
    for (const name of [...zooNames, ...recipeNames, ...profileNames]) expect(help).toContain(name);
    for (const o of RECIPE_OPTIONS) expect(help).toContain(`--${o.flag}`);
    expect(c.err()).toBe("");
  });
});

describe("experiment refuses bad input with exit code 2, before training and without writing", () => {
  /** The base command line with `extra`'s options added, or replacing the base's value of the same option. */
  const refuse = async (extra: string[], message: RegExp | string) => {
    const o = join(dirs.make(), "never");
    const c = capture();
    const args = base(data, o);
    for (let i = 0; i < extra.length; i += 2) {
      const at = args.indexOf(extra[i]!);
      if (at >= 0) args[at + 1] = extra[i + 1]!;
      else args.push(extra[i]!, extra[i + 1]!);
    }
    expect(await runCli(args, c.io)).toBe(2);
    expect(c.err()).toMatch(message);
    expect(c.err().trim().split("\n")).toHaveLength(1);
    expect(existsSync(o)).toBe(false);
    return c.err();
  };

  it("names an unknown profile and lists the valid ones", async () => {
    const err = await refuse(
      ["--profiles", "tflite-int8,npu-9000"],
      /--profiles: unknown profile 'npu-9000'/,
    );
    for (const p of profileNames) expect(err).toContain(p);
  });

  it("names an unknown recipe and lists the valid ones", async () => {
    const err = await refuse(["--recipes", "fp,magic"], /unknown recipe 'magic'/);
    for (const r of recipeNames) expect(err).toContain(r);
  });

  it("names a missing data folder and a file that is not IDX data", async () => {
    await refuse(["--data-dir", join(data, "nope")], /--data-dir: .*nope/);
    const broken = dirs.make("qt-idx-");
    writeIdxDataset(broken, { train: 20, test: 10, side: 8, classes: 2 });
    writeFileSync(join(broken, "train-labels-idx1-ubyte"), "not idx at all");
    await refuse(["--data-dir", broken], /--data-dir: .*train-labels-idx1-ubyte/);
  });

  it("refuses recipe hyperparameters the recipes reject, naming them", async () => {
    await refuse(["--warmup", "1.5"], /--warmup must be a number in \[0, 1\], got '1.5'/);
    await refuse(["--warmup", "0.9", "--ramp-end", "0.5"], /recipe \S+: .*warmup/);
    await refuse(["--p-final", "0"], /--p-final must be a number in \(0, 1\]/);
  });
});

describe("eval and export of a checkpoint trained on an IDX dataset", () => {
  const checkpoint = () => join(out, "cnn-bn-fp-s0.safetensors");

  it("eval --data-dir scores it on that dataset's test images: the experiment's own FP accuracy", async () => {
    const c = capture();
    expect(
      await runCli(["eval", "--checkpoint", checkpoint(), "--data-dir", data, "--json"], c.io),
      c.err(),
    ).toBe(0);
    const r = JSON.parse(c.out()) as { fpAccuracy: number; architecture: string };
    const run = results.runs.find((x) => x.recipe === "fp" && x.seed === 0)!;
    expect(r.architecture).toBe("cnn-bn");
    expect(r.fpAccuracy).toBe(run.fpAccuracy);
  });

  it("eval without --data-dir refuses it (exit 2), naming both sample shapes and the option to give", async () => {
    const c = capture();
    expect(await runCli(["eval", "--checkpoint", checkpoint()], c.io)).toBe(2);
    expect(c.err()).toMatch(/takes samples of shape \[1, 8, 8\], the bundled MNIST digits are \[1, 28, 28\]/);
    expect(c.err()).toMatch(/give --data-dir/);
  });

  it("eval --data-dir with a dataset of another class count or statistics is refused", async () => {
    const other = dirs.make("qt-idx-");
    writeIdxDataset(other, { train: 40, test: 10, side: 8, classes: 2 });
    const c = capture();
    expect(await runCli(["eval", "--checkpoint", checkpoint(), "--data-dir", other], c.io)).toBe(2);
    expect(c.err()).toMatch(/has 3 classes, --data-dir '.*' 2/);
    const shifted = dirs.make("qt-idx-");
    writeIdxDataset(shifted, { train: 60, test: 30, side: 8, classes: 3, seed: 99 });
    const d = capture();
    expect(await runCli(["eval", "--checkpoint", checkpoint(), "--data-dir", shifted], d.io)).toBe(2);
    expect(d.err()).toMatch(/standardised with mean .* give mean/);
  });

  it("export writes its float ONNX with the checkpoint's own input shape, and --qdq calibrates on --data-dir", async () => {
    const dir = dirs.make();
    const c = capture();
    const onnx = join(dir, "m.onnx");
    expect(
      await runCli(["export", "--checkpoint", checkpoint(), "--onnx", onnx, "--json"], c.io),
      c.err(),
    ).toBe(0);
    const d = capture();
    expect(await runCli(["eval", "--onnx", onnx, "--data-dir", data, "--json"], d.io), d.err()).toBe(0);
    const run = results.runs.find((x) => x.recipe === "fp" && x.seed === 0)!;
    expect((JSON.parse(d.out()) as { fpAccuracy: number }).fpAccuracy).toBe(run.fpAccuracy);
    const q = capture();
    const qdq = join(dir, "q.onnx");
    expect(
      await runCli(["export", "--checkpoint", checkpoint(), "--onnx", qdq, "--qdq", "tflite-int8"], q.io),
    ).toBe(2);
    expect(q.err()).toMatch(/give --data-dir/);
    expect(existsSync(qdq)).toBe(false);
    const q2 = capture();
    expect(
      await runCli(
        ["export", "--checkpoint", checkpoint(), "--onnx", qdq, "--qdq", "tflite-int8", "--data-dir", data],
        q2.io,
      ),
      q2.err(),
    ).toBe(0);
    expect(existsSync(qdq)).toBe(true);
  });
});
