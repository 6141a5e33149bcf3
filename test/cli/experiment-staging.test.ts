import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ptqGrids } from "@quant-trim/recipes";
import { experimentCommand, type RunOptions, type TrainRun } from "quant-trim/internal";
import { describe, expect, it } from "vitest";
import { capture } from "./capture.js";

const tmp = () => mkdtempSync(join(tmpdir(), "qt-exp-"));

/**
 * A stand-in for trainOne: writes a small file where the checkpoint goes and reports fixed accuracies, or
 * throws on call number `failOn` (1-based), as a diverged run would. Records the paths it was given.
 */
function fakeTrainer(failOn?: number) {
  const outs: string[] = [];
  const train = (_io: unknown, o: RunOptions): TrainRun => {
    outs.push(o.out);
    if (outs.length === failOn) throw new Error(`run ${failOn} failed`);
    mkdirSync(dirname(o.out), { recursive: true }); // as trainOne does
    writeFileSync(o.out, `weights of ${o.recipe} seed ${o.seed}`);
    return {
      arch: o.arch,
      recipe: o.recipe,
      seed: o.seed,
      fpAccuracy: 0.9,
      samplesPerSecond: 1,
      checkpoint: o.out,
      quantized: Object.fromEntries(Object.keys(ptqGrids).map((g, i) => [g, 0.9 - 0.05 * i])),
    };
  };
  return { train, outs };
}

const args = (dir: string) => [
  "--arch",
  "mlp",
  "--recipes",
  "fp,qat",
  "--seeds",
  "2",
  "--epochs",
  "1",
  "--out",
  dir,
];

describe("experiment: checkpoints appear only with results.json", () => {
  it("a run that fails part-way removes the checkpoints of the runs before it and the directories it made", async () => {
    const root = tmp();
    const dir = join(root, "new", "run");
    const { train, outs } = fakeTrainer(3);
    await expect(experimentCommand(args(dir), capture().io, train)).rejects.toThrow("run 3 failed");
    expect(outs).toHaveLength(3);
    // Runs 1 and 2 had written their (staged) files; none is left, nor the two directories created for them.
    expect(readdirSync(root)).toEqual([]);
  });

  it("older files of the same names in an existing directory survive a failed run untouched", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "mlp-fp-s0.safetensors"), "an earlier experiment's checkpoint");
    writeFileSync(join(dir, "notes.txt"), "the user's own file");
    await expect(experimentCommand(args(dir), capture().io, fakeTrainer(2).train)).rejects.toThrow(
      "run 2 failed",
    );
    expect(readdirSync(dir).sort()).toEqual(["mlp-fp-s0.safetensors", "notes.txt"]);
    expect(readFileSync(join(dir, "mlp-fp-s0.safetensors"), "utf8")).toBe(
      "an earlier experiment's checkpoint",
    );
  });

  it("a finished experiment renames every staged checkpoint to its name and lists those names in results.json", async () => {
    const dir = join(tmp(), "made");
    mkdirSync(dir);
    const { train, outs } = fakeTrainer();
    await experimentCommand(args(dir), capture().io, train);
    const names = ["mlp-fp-s0", "mlp-fp-s1", "mlp-qat-s0", "mlp-qat-s1"].map((n) => `${n}.safetensors`);
    // Training wrote to staged names, not to the final ones.
    expect(outs.map((p) => p.replace(/\.partial-\d+$/, ""))).toEqual(names.map((n) => join(dir, n)));
    expect(outs.every((p) => /\.partial-\d+$/.test(p))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([...names, "results.json"]);
    expect(readFileSync(join(dir, "mlp-qat-s1.safetensors"), "utf8")).toBe("weights of qat seed 1");
    const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"));
    expect(results.runs.map((r: TrainRun) => r.checkpoint)).toEqual(names.map((n) => join(dir, n)));
  });
});
