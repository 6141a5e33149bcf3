import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, loadCheckpointInto, saveCheckpoint } from "@quant-trim/autograd/node";
import { ReversePruner, type ReversePrunerState } from "@quant-trim/prune";
import { gridSpec, type ObserverState, restoreObserver } from "@quant-trim/quant";
import { buildModel, head, trainClassifier } from "@quant-trim/recipes";
import {
  MNIST_CLASSES,
  MNIST_MEAN,
  MNIST_SAMPLE_SHAPE,
  MNIST_STD,
  mnistSplit,
} from "@quant-trim/recipes/node";
import { runCli } from "quant-trim";
import { describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDir } from "./temp-dir.js";

const { train } = mnistSplit(0);
const mnist = { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES };

describe("checkpoints", () => {
  it("a model round-trips through a checkpoint bit-exactly, and the wrong architecture is refused", () => {
    const dir = tempDir();
    const model = buildModel("cnn-bn", { ...mnist, seed: 3 });
    trainClassifier(model, head(train, 64), { epochs: 1, batchSize: 32, lr: 1e-3, seed: 0 });
    const path = join(dir, "m.safetensors");
    saveCheckpoint(path, model, { architecture: "cnn-bn", seed: "3" });
    const other = buildModel("cnn-bn", { ...mnist, seed: 4 });
    const meta = loadCheckpointInto(path, other, "cnn-bn");
    expect(meta.seed).toBe("3");
    for (const [k, t] of Object.entries(model.stateDict())) {
      expect(Buffer.from(other.stateDict()[k]!.toFloat32Array().buffer)).toEqual(
        Buffer.from(t.toFloat32Array().buffer),
      );
    }
    expect(() => loadCheckpointInto(path, buildModel("cnn", mnist), "cnn")).toThrow(
      /architecture 'cnn-bn', the model is 'cnn'/,
    );
    expect(loadCheckpoint(path).metadata.format_version).toBe("1");
  });
});

describe("recipe state in checkpoint metadata", () => {
  it("observer ranges and reverse-pruning state are saved with the checkpoint, restore into new objects, and eval reads it", async () => {
    const dir = tempDir();
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
    const model = buildModel("mlp", mnist);
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
    const dir = tempDir();
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
    const dir = tempDir();
    const bad = join(dir, "bad.safetensors");
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    const c = capture();
    expect(await runCli(["eval", "--checkpoint", bad], c.io)).toBe(2);
    expect(c.err()).toBe(
      `quant-trim eval: --checkpoint: '${bad}' is not a safetensors file (3 bytes; one holds an 8-byte header length and a JSON header)\n`,
    );
    const missing = capture();
    expect(await runCli(["eval", "--checkpoint", join(dir, "none.safetensors")], missing.io)).toBe(2);
  });
});
