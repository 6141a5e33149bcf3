import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { experimentCommand, parseResults } from "quant-trim/internal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { fixedEvaluator, standInTrainer, tempDirs, writeIdxDataset } from "./experiment-fixtures.js";

const dirs = tempDirs();
afterAll(() => dirs.removeAll());

let data: string;
beforeAll(() => {
  data = dirs.make("qt-exp-data-");
  writeIdxDataset(data, { train: 40, test: 20, side: 8, classes: 3 });
});

const args = (out: string) => [
  "--arch",
  "mlp",
  "--recipes",
  "fp,qat",
  "--seeds",
  "2",
  "--epochs",
  "1",
  "--profiles",
  "tflite-int8,w4a8",
  "--data-dir",
  data,
  "--out",
  out,
];

const deps = (failOn?: number) => {
  const t = standInTrainer(failOn);
  return { deps: { train: t.train, evaluator: () => fixedEvaluator() }, calls: t.calls };
};

describe("experiment: checkpoints, results.json and report.html appear together", () => {
  it("a run that fails part-way removes the checkpoints of the runs before it and the directories it made", async () => {
    const root = dirs.make();
    const { deps: d, calls } = deps(3);
    await expect(experimentCommand(args(join(root, "new", "run")), capture().io, d)).rejects.toThrow(
      "run 3 failed",
    );
    expect(calls).toEqual(["fp/0", "fp/1", "qat/0"]);
    // Runs 1 and 2 had written their (staged) checkpoints; none is left, nor the two directories made for them.
    expect(readdirSync(root)).toEqual([]);
  });

  it("refuses a folder that holds results unless --force, and then a failed run leaves older files untouched", async () => {
    const out = dirs.make();
    writeFileSync(join(out, "mlp-fp-s0.safetensors"), "an earlier experiment's checkpoint");
    writeFileSync(join(out, "notes.txt"), "the user's own file");
    const refused = deps();
    await expect(experimentCommand(args(out), capture().io, refused.deps)).rejects.toThrow(
      /already holds results \(mlp-fp-s0\.safetensors\).*--force/,
    );
    expect(refused.calls).toEqual([]);
    await expect(experimentCommand([...args(out), "--force"], capture().io, deps(2).deps)).rejects.toThrow(
      "run 2 failed",
    );
    expect(readdirSync(out).sort()).toEqual(["mlp-fp-s0.safetensors", "notes.txt"]);
    expect(readFileSync(join(out, "mlp-fp-s0.safetensors"), "utf8")).toBe(
      "an earlier experiment's checkpoint",
    );
  });

  it("a finished experiment leaves one checkpoint per run, results.json and report.html, nothing staged", async () => {
    const out = join(dirs.make(), "made");
    mkdirSync(out);
    const c = capture();
    await experimentCommand(args(out), c.io, deps().deps);
    const names = ["mlp-fp-s0", "mlp-fp-s1", "mlp-qat-s0", "mlp-qat-s1"].map((n) => `${n}.safetensors`);
    expect(readdirSync(out).sort()).toEqual([...names, "report.html", "results.json"]);
    const results = parseResults(JSON.parse(readFileSync(join(out, "results.json"), "utf8")));
    // Checkpoints are listed relative to the output folder, in the order the runs ran.
    expect(results.runs.map((r) => r.checkpoint)).toEqual(names);
    expect(readFileSync(join(out, "report.html"), "utf8")).toMatch(/^<!DOCTYPE html>/);
    expect(c.out()).toContain(`Results: ${join(out, "results.json")}`);
  });
});
