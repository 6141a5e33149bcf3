import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "@quant-trim/autograd/node";
import { buildModel } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE } from "@quant-trim/recipes/node";
import { runCli } from "quant-trim";
import { describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDir } from "./temp-dir.js";

/** Run the CLI; every failure here must be one line on stderr and nothing on stdout. */
async function fails(args: string[], code: 1 | 2) {
  const c = capture();
  expect(await runCli(args, c.io)).toBe(code);
  expect(c.out()).toBe("");
  const lines = c.err().trimEnd().split("\n");
  return { err: c.err(), last: lines[lines.length - 1]!, lines };
}

const tmp = () => tempDir();

describe("usage errors", () => {
  it("no command: one line on stderr (not the help on stdout), exit 2", async () => {
    const r = await fails([], 2);
    expect(r.lines).toEqual([
      "quant-trim: no command given (expected train, eval, experiment, export, profiles, report); run quant-trim --help for usage",
    ]);
  });

  it("number options take decimal text only, naming option and value", async () => {
    const cases: Array<[string[], string]> = [
      [["train", "--seed", ""], "--seed must be a decimal integer in [0, 4294967295], got ''"],
      [["train", "--seed", "0x3"], "got '0x3'"],
      [["train", "--seed", " "], "got ' '"],
      [["train", "--seed", "1e3"], "got '1e3'"],
      [["train", "--epochs", "0x1"], "--epochs must be a decimal integer in [1, 1000], got '0x1'"],
      [["train", "--lr", "0x1"], "--lr must be a positive number such as 0.001 or 1e-3, got '0x1'"],
      [["experiment", "--seeds", "1e1"], "--seeds must be a decimal integer in [1, 100], got '1e1'"],
      [["eval", "--checkpoint", "x", "--seed", "0b1"], "--seed must be a decimal integer"],
    ];
    for (const [args, msg] of cases) {
      const r = await fails(args, 2);
      expect(r.lines).toHaveLength(1);
      expect(r.err).toContain(msg);
    }
  });

  it("an option given twice is refused", async () => {
    const r = await fails(["eval", "--checkpoint", "a", "--checkpoint", "b"], 2);
    expect(r.lines).toEqual(["quant-trim eval: --checkpoint given twice"]);
  });

  it("a negative number after its flag gets a complete message with the --flag=value form", async () => {
    const r = await fails(["experiment", "--seeds", "-1"], 2);
    expect(r.lines).toEqual([
      "quant-trim experiment: --seeds -1: a value starting with '-' reads as an option; write --seeds=-1",
    ]);
    expect((await fails(["experiment", "--seeds=-1"], 2)).err).toContain(
      "--seeds must be a decimal integer in [1, 100], got '-1'",
    );
  });

  it("experiment refuses a recipe listed twice, before training anything", async () => {
    const dir = tmp();
    const r = await fails(["experiment", "--recipes", "fp,qat,fp", "--out", dir], 2);
    expect(r.lines).toEqual(["quant-trim experiment: --recipes: 'fp' is listed twice"]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("experiment refuses a seed range beyond the largest seed", async () => {
    const r = await fails(["experiment", "--seed", "4294967295", "--seeds", "2"], 2);
    expect(r.err).toContain("--seed 4294967295 with --seeds 2 runs seeds up to 4294967296, above 4294967295");
  });
});

describe("output paths are checked before training", () => {
  it("a file as parent, an empty path, a directory as checkpoint, a file as experiment directory: exit 2, nothing written", async () => {
    const dir = tmp();
    const file = join(dir, "some-file.safetensors");
    writeFileSync(file, "keep");
    mkdirSync(join(dir, "existing"));
    const cases: Array<[string[], string]> = [
      [
        ["train", "--epochs", "1", "--out", join(file, "x.safetensors")],
        `--out: cannot create '${join(file, "x.safetensors")}': '${file}' is a file, not a directory`,
      ],
      [["train", "--epochs", "1", "--out", ""], "--out: the path is empty; give a file path"],
      [
        ["train", "--epochs", "1", "--out", join(dir, "existing")],
        `--out: '${join(dir, "existing")}' is a directory; give a file path`,
      ],
      [
        ["experiment", "--arch", "mlp", "--recipes", "fp", "--epochs", "1", "--out", file],
        `--out: '${file}' is a file, not a directory`,
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await fails(args, 2);
      expect(r.lines).toHaveLength(1);
      expect(r.err).toContain(msg);
    }
    expect(readdirSync(dir).sort()).toEqual(["existing", "some-file.safetensors"]);
    expect(readdirSync(join(dir, "existing"))).toEqual([]);
    expect(readFileSync(file, "utf8")).toBe("keep");
  });

  it("an experiment whose results.json would land on a directory is refused up front", async () => {
    const dir = tmp();
    mkdirSync(join(dir, "results.json"));
    const r = await fails(
      ["experiment", "--arch", "mlp", "--recipes", "fp", "--epochs", "1", "--out", dir],
      2,
    );
    expect(r.err).toContain(`--out: '${join(dir, "results.json")}' is a directory; give a file path`);
    expect(readdirSync(dir)).toEqual(["results.json"]);
  });
});

describe("eval refuses a checkpoint that is not finite", () => {
  it("names the tensor and the first bad element, exit 2, and evaluates nothing", async () => {
    const dir = tmp();
    for (const [tensor, index, value] of [
      ["1.weight", 5, Number.NaN],
      ["3.bias", 2, Number.NEGATIVE_INFINITY],
      ["3.weight", 0, Number.POSITIVE_INFINITY],
    ] as const) {
      const model = buildModel("mlp", { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES });
      const data = model.stateDict()[tensor]!.data;
      data[index] = value;
      data[index + 1] = Number.NaN; // a later bad element: the message names the first
      const path = join(dir, `${tensor}.safetensors`);
      saveCheckpoint(path, model, { architecture: "mlp" });
      expect(Number.isFinite(loadCheckpoint(path).tensors[tensor]!.values()[index]!)).toBe(false);
      const r = await fails(["eval", "--checkpoint", path, "--json"], 2);
      expect(r.lines).toEqual([
        `quant-trim eval: checkpoint: ${path}: tensor '${tensor}' holds ${value} at element ${index}; a checkpoint must be finite`,
      ]);
    }
  });
});

describe("training that diverges", () => {
  it("stops at the first non-finite loss naming epoch and step, suggests a lower --lr, writes nothing, exit 1", async () => {
    const dir = tmp();
    const out = join(dir, "runs", "m.safetensors");
    const r = await fails(
      ["train", "--arch", "mlp", "--recipe", "fp", "--epochs", "1", "--lr", "1e37", "--out", out],
      1,
    );
    expect(r.lines).toHaveLength(1);
    expect(r.last).toMatch(
      /^quant-trim train: training diverged: the loss is (NaN|-?Infinity) at epoch 1 of 1, step \d+ of 125; try a lower learning rate than --lr 1e\+37$/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it("reverse pruning at INT8 per-channel warns once at the start that it trims nothing", async () => {
    // The huge --lr makes the run stop after a step or two: this test is about the first line only.
    const dir = tmp();
    const r = await fails(
      [
        "train",
        "--arch",
        "mlp",
        "--recipe",
        "rp",
        "--epochs",
        "1",
        "--lr",
        "1e37",
        "--out",
        join(dir, "m.safetensors"),
      ],
      1,
    );
    expect(r.lines).toHaveLength(2);
    expect(r.lines[0]).toBe(
      "warning: reverse pruning will trim nothing at pFinal 0.999: a weight group needs at least 1000 weights to lose one, and the largest per-channel group has 784; try --bits 4 or --granularity per-tensor",
    );
    expect(r.lines[1]).toMatch(/training diverged/);
  });
});

describe("experiment --seed", () => {
  it("is the first seed: --seed 7 --seeds 1 trains, saves and reports seed 7 (missing --out parents are created)", async () => {
    const dir = join(tmp(), "new", "run");
    const c = capture();
    const code = await runCli(
      [
        "experiment",
        "--arch",
        "mlp",
        "--recipes",
        "fp",
        "--epochs",
        "1",
        "--seed",
        "7",
        "--profiles",
        "tflite-int8",
        "--threads",
        "1",
        "--out",
        dir,
        "--json",
      ],
      c.io,
    );
    expect(code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(["mlp-fp-s7.safetensors", "report.html", "results.json"]);
    const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
    expect(results.config.seeds).toEqual([7]);
    expect(results.runs.map((r: { seed: number }) => r.seed)).toEqual([7]);
    expect(JSON.parse(c.out())).toEqual(results);
    expect(loadCheckpoint(join(dir, "mlp-fp-s7.safetensors")).metadata.seed).toBe("7");
  });
});
