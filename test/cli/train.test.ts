import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint, loadCheckpointInto, saveCheckpoint } from "@quant-trim/autograd";
import { ReversePruner, type ReversePrunerState } from "@quant-trim/prune";
import { gridSpec, type ObserverState, restoreObserver } from "@quant-trim/quant";
import { Rng } from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";
import { runCli } from "../../packages/cli/src/cli.js";
import { MNIST_MEAN, MNIST_STD, mnistSplit, standardize } from "../../packages/cli/src/data/mnist.js";
import { buildModel } from "../../packages/cli/src/models.js";
import { head, sample } from "../../packages/cli/src/quantized-eval.js";
import { applyRecipe } from "../../packages/cli/src/recipes.js";
import { evaluate, trainClassifier } from "../../packages/cli/src/train.js";
import { capture } from "./capture.js";

const { train, test } = mnistSplit(0);

describe("MNIST training (small, seeded)", () => {
  it("the mlp's loss falls and it beats chance by a wide margin after one epoch on 512 digits", () => {
    const model = buildModel("mlp", 0);
    const r = trainClassifier(model, head(train, 512), { epochs: 1, batchSize: 16, lr: 1e-3, seed: 0 });
    const first = r.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = r.losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(last).toBeLessThan(0.6 * first);
    expect(evaluate(model, head(test, 500))).toBeGreaterThan(0.6);
  });

  it("the cnn-bn trains with the quant-trim recipe (INT4 fake quant + reverse pruning) and keeps learning after trimming starts", () => {
    const model = buildModel("cnn-bn", 1);
    const steps = 32;
    const recipe = applyRecipe(model, {
      recipe: "quant-trim",
      bits: 4,
      granularity: "per-tensor",
      totalSteps: steps,
      inputShape: [1, 1, 28, 28],
    });
    const r = trainClassifier(model, head(train, 512), {
      epochs: 1,
      batchSize: 16,
      lr: 3e-3,
      seed: 1,
      beforeStep: (s) => recipe.beforeStep(s),
      afterStep: (s) => recipe.afterStep(s),
    });
    // Trimming starts at the end of the warm-up (step 6); the loss after it keeps falling.
    const mid = r.losses.slice(6, 12).reduce((a, b) => a + b) / 6;
    const end = r.losses.slice(-6).reduce((a, b) => a + b) / 6;
    expect(end).toBeLessThan(mid);
    expect(recipe.pruner!.report().layers.some((l) => l.trimmedTotal > 0)).toBe(true);
    expect(recipe.qat!.lambda).toBe(1);
  });
});

describe("standardize", () => {
  it("maps pixels to (x − mean)/std in a new array and keeps labels", () => {
    const ds = head(train, 3);
    const st = standardize(ds);
    expect(st.images).not.toBe(ds.images);
    expect(st.labels).toBe(ds.labels);
    for (const i of [0, 100, 500, 2000])
      expect(st.images[i]).toBeCloseTo((ds.images[i]! - MNIST_MEAN) / MNIST_STD, 5);
  });
});

describe("calibration samples", () => {
  it("sample draws n distinct training images reproducibly; head takes the prefix", () => {
    const a = sample(train, 256, new Rng(5));
    expect(a.count).toBe(256);
    expect(Array.from(sample(train, 256, new Rng(5)).images)).toEqual(Array.from(a.images));
    const rows = new Set(
      Array.from({ length: 256 }, (_, i) => a.images.subarray(i * 784, (i + 1) * 784).join(",")),
    );
    expect(rows.size).toBe(256);
    expect(head(train, 3).labels).toEqual(train.labels.subarray(0, 3));
  });
});

describe("checkpoints", () => {
  it("a model round-trips through a checkpoint bit-exactly, and the wrong architecture is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "qt-"));
    const model = buildModel("cnn-bn", 3);
    trainClassifier(model, head(train, 64), { epochs: 1, batchSize: 32, lr: 1e-3, seed: 0 });
    const path = join(dir, "m.safetensors");
    saveCheckpoint(path, model, { architecture: "cnn-bn", seed: "3" });
    const other = buildModel("cnn-bn", 4);
    const meta = loadCheckpointInto(path, other, "cnn-bn");
    expect(meta.seed).toBe("3");
    for (const [k, t] of Object.entries(model.stateDict())) {
      expect(Buffer.from(other.stateDict()[k]!.toFloat32Array().buffer)).toEqual(
        Buffer.from(t.toFloat32Array().buffer),
      );
    }
    expect(() => loadCheckpointInto(path, buildModel("cnn", 0), "cnn")).toThrow(
      /architecture 'cnn-bn', the model is 'cnn'/,
    );
    expect(loadCheckpoint(path).metadata.format_version).toBe("1");
  });
});

describe("recipe state in checkpoint metadata", () => {
  it("observer ranges and reverse-pruning state are saved with the checkpoint, restore into new objects, and eval reads it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qt-"));
    const out = join(dir, "qt.safetensors");
    const c = capture();
    const code = await runCli(
      [
        "train",
        "--arch",
        "mlp",
        "--recipe",
        "quant-trim",
        "--bits",
        "4",
        "--epochs",
        "1",
        "--out",
        out,
        "--json",
      ],
      c.io,
    );
    expect(code).toBe(0);
    const { metadata } = loadCheckpoint(out);
    const ranges = JSON.parse(metadata.activation_ranges!) as Record<string, ObserverState>;
    expect(Object.keys(ranges)).toEqual(["input", "2.output", "3.output"]);
    const input = restoreObserver(ranges.input!);
    // Standardised pixels span [(0 − mean)/std, (1 − mean)/std]: the restored observer reports about that
    // range (an EMA of batch extremes) and is frozen (λ reached 1).
    expect(input.range().min[0]).toBeCloseTo((0 - MNIST_MEAN) / MNIST_STD, 2);
    expect(input.range().max[0]).toBeCloseTo((1 - MNIST_MEAN) / MNIST_STD, 1);
    expect(input.frozen).toBe(true);
    const rp = JSON.parse(metadata.reverse_pruning!) as ReversePrunerState;
    const model = buildModel("mlp", 0);
    const pruner = new ReversePruner(
      model.namedParameters().map(([name, param]) => ({ name, param })),
      { grid: gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" }) },
    );
    pruner.loadState(rp);
    expect(pruner.state()).toEqual(rp);
    expect(rp.layers["1.weight"]!.p).toBeCloseTo(0.99, 10);
    expect(JSON.parse(metadata.recipe!)).toMatchObject({ recipe: "quant-trim", bits: 4 });
    // The eval command reads it back: FP32 and every quantized grid, as JSON on stdout.
    const e = capture();
    expect(await runCli(["eval", "--checkpoint", out, "--json"], e.io)).toBe(0);
    const report = JSON.parse(e.out()) as { fpAccuracy: number; quantized: Record<string, number> };
    expect(Object.keys(report.quantized)).toEqual([
      "int8-per-channel",
      "int8-per-tensor",
      "int4-per-channel",
      "int4-per-tensor",
    ]);
    expect(report.fpAccuracy).toBeGreaterThan(0.85);
    for (const a of Object.values(report.quantized))
      expect(Math.abs(a - report.fpAccuracy)).toBeLessThan(0.03);
  }, 60_000);
});

describe("quant-trim CLI", () => {
  it("prints help and exits 0; exits 2 with one line on unknown commands and options", async () => {
    const a = capture();
    expect(await runCli(["--help"], a.io)).toBe(0);
    expect(a.out()).toMatch(/Commands:/);
    for (const cmd of ["train", "eval", "experiment"]) {
      const h = capture();
      expect(await runCli([cmd, "--help"], h.io)).toBe(0);
      expect(h.out()).toMatch(/Usage: quant-trim/);
    }
    const b = capture();
    expect(await runCli(["frobnicate"], b.io)).toBe(2);
    expect(b.err()).toMatch(/unknown command 'frobnicate'/);
    const c = capture();
    expect(await runCli(["train", "--bogus"], c.io)).toBe(2);
    expect(c.err().trim().split("\n")).toHaveLength(1);
    expect(c.err()).toMatch(/bogus/);
  });

  it("rejects bad option values before doing any work, and writes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qt-"));
    const cases: Array<[string[], RegExp]> = [
      [["train", "--arch", "resnet"], /--arch must be one of mlp, cnn, cnn-bn/],
      [["train", "--bits", "3"], /--bits must be 4 or 8/],
      [["train", "--epochs", "0"], /--epochs must be a decimal integer/],
      [["train", "--lr", "NaN"], /--lr must be a positive number/],
      [["train", "--recipe", "magic"], /--recipe must be one of/],
      [["experiment", "--recipes", "fp,nope"], /unknown recipe 'nope'/],
      [["eval"], /--checkpoint PATH is required/],
    ];
    for (const [args, msg] of cases) {
      const c = capture();
      expect(
        await runCli(
          [...args, "--out", join(dir, "x.safetensors")].slice(0, args[0] === "eval" ? 1 : undefined),
          c.io,
        ),
      ).toBe(2);
      expect(c.err()).toMatch(msg);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("eval refuses a malformed checkpoint with exit code 2 and a reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qt-"));
    const bad = join(dir, "bad.safetensors");
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    const c = capture();
    expect(await runCli(["eval", "--checkpoint", bad], c.io)).toBe(2);
    expect(c.err()).toMatch(/^quant-trim eval: checkpoint: /);
    const missing = capture();
    expect(await runCli(["eval", "--checkpoint", join(dir, "none.safetensors")], missing.io)).toBe(2);
  });
});
