import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compile, estimateCost, getProfile } from "@quant-trim/npu-sim";
import { computeQParams, int4SymmetricPerChannel, int4SymmetricPerTensor } from "@quant-trim/quant";
import { buildModel } from "@quant-trim/recipes";
import { fromData } from "@quant-trim/tensor";
import fc from "fast-check";
import {
  findGitDir,
  fraction,
  groupFigures,
  layerLabel,
  type ProfileEvaluation,
  type ProfileInfo,
  profileInfo,
  programCost,
  RECIPE_OPTIONS,
  type RunResult,
  readHeadCommit,
  readRecipeOptions,
  sharedHistograms,
  summarizeRuns,
  trimmedLayerRecord,
  UsageError,
} from "quant-trim/internal";
import { afterAll, describe, expect, it } from "vitest";
import { tempDirs } from "./experiment-fixtures.js";

const dirs = tempDirs();
afterAll(() => dirs.removeAll());

describe("weight histograms", () => {
  it("count every weight once, on shared symmetric edges that cover both arrays (property)", () => {
    const weights = fc.float32Array({ minLength: 1, maxLength: 200, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(weights, weights, fc.integer({ min: 1, max: 80 }), (a, b, bins) => {
        const { before, after } = sharedHistograms(a, b, bins);
        expect(before.edges).toBe(after.edges);
        expect(before.edges).toHaveLength(bins + 1);
        for (let i = 1; i <= bins; i++) expect(before.edges[i]!).toBeGreaterThan(before.edges[i - 1]!);
        const extent = Math.max(...[...a, ...b].map(Math.abs));
        if (extent > 0) {
          expect(before.edges[0]).toBe(-extent);
          expect(before.edges[bins]).toBeCloseTo(extent, 12);
        }
        for (const [xs, h] of [
          [a, before],
          [b, after],
        ] as const) {
          expect(h.counts.reduce((s, c) => s + c, 0)).toBe(xs.length);
          // Below every edge lie exactly the weights of the bins before it (up to rounding at the edge itself).
          const tol = 1e-9 * Math.max(extent, 1);
          let cumulative = 0;
          for (let i = 0; i < bins; i++) {
            const edge = h.edges[i]!;
            expect(cumulative).toBeGreaterThanOrEqual(xs.filter((w) => w < edge - tol).length);
            expect(cumulative).toBeLessThanOrEqual(xs.filter((w) => w <= edge + tol).length);
            cumulative += h.counts[i]!;
          }
        }
      }),
    );
  });

  it("record the grid step of the final weights (the median channel's), τ and the pruner's fraction", () => {
    // Three output channels whose largest weights are 1, 4 and 2: the median channel is the one of 2.
    const after = new Float32Array([0.5, -1, 0.25, 4, -3, 1, 2, 0, -0.5]);
    const before = new Float32Array(after.map((w) => w * 1.5));
    const r = trimmedLayerRecord(
      "fc",
      [3, 3],
      before,
      after,
      { thresholds: [1, 4, 2], fractionTrimmed: 2 / 9 },
      int4SymmetricPerChannel,
    );
    expect(r.gridStep).toBe(computeQParams(-2, 2, int4SymmetricPerTensor).scale[0]);
    expect([r.qmax, r.threshold, r.trimmedFraction]).toEqual([7, 2, 2 / 9]);
    const flat = trimmedLayerRecord(
      "fc",
      [3, 3],
      before,
      after,
      { thresholds: [3], fractionTrimmed: 0 },
      int4SymmetricPerTensor,
    );
    expect(flat.gridStep).toBe(computeQParams(-4, 4, int4SymmetricPerTensor).scale[0]);
    // Nothing trimmed: no threshold to show, the largest weight sets the grid.
    expect(flat.threshold).toBeNull();
    expect(() =>
      trimmedLayerRecord(
        "fc",
        [2, 3],
        before,
        after,
        { thresholds: [], fractionTrimmed: 0 },
        int4SymmetricPerTensor,
      ),
    ).toThrow(/shape \[2, 3\] holds 6 weights, got 9/);
  });
});

const PROFILES: ProfileInfo[] = ["tflite-int8", "pow2-int8", "w4a8", "w4a4-per-tensor"].map((p) =>
  profileInfo(getProfile(p)),
);

function evaluation(accuracy: number, top1Agreement: number): ProfileEvaluation {
  return {
    accuracy,
    top1Agreement,
    logitCosine: null,
    layerSqnr: null,
    overflows: null,
    warnings: [],
    seconds: 0,
  };
}

const accuracy = fc.integer({ min: 0, max: 2000 }).map((k) => k / 2000);

describe("summaries over seeds", () => {
  it("groups profiles by weight bits and takes the worst gap and spread within each", () => {
    expect(PROFILES.map((p) => p.group)).toEqual(["int8", "int8", "int4", "int4"]);
    fc.assert(
      fc.property(accuracy, fc.array(accuracy, { minLength: 4, maxLength: 4 }), (fp, accs) => {
        const e = Object.fromEntries(PROFILES.map((p, i) => [p.name, evaluation(accs[i]!, 1)]));
        for (const [group, idx] of [
          ["int4", [2, 3]],
          ["int8", [0, 1]],
        ] as const) {
          const g = groupFigures(fp, PROFILES, e, group)!;
          const mine = idx.map((i) => accs[i]!);
          expect(g.worstGap).toBeCloseTo(fp - Math.min(...mine), 12);
          expect(g.spread).toBeCloseTo(Math.max(...mine) - Math.min(...mine), 12);
          expect(e[g.worstProfile]!.accuracy).toBe(Math.min(...mine));
          expect(e[g.bestProfile]!.accuracy).toBe(Math.max(...mine));
        }
        expect(groupFigures(fp, PROFILES.slice(0, 2), e, "int4")).toBeNull();
      }),
    );
  });

  it("report mean and sample std over seeds, and a null std (never 0) for one seed (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(accuracy, accuracy, accuracy), { minLength: 1, maxLength: 6 }),
        (seeds) => {
          const runs: RunResult[] = seeds.map(([fp, a, b], seed) => {
            const profiles = Object.fromEntries(
              PROFILES.map((p, i) => [p.name, evaluation(i % 2 ? a : b, a)]),
            );
            return {
              recipe: "qat",
              seed,
              checkpoint: null,
              fpAccuracy: fp,
              profiles,
              int8: groupFigures(fp, PROFILES, profiles, "int8"),
              int4: groupFigures(fp, PROFILES, profiles, "int4"),
              curves: [],
              steps: null,
              trimmedLayers: null,
              timings: { trainSeconds: 0, evalSeconds: 0 },
            };
          });
          const [s] = summarizeRuns(["qat"], PROFILES, runs);
          const fps = seeds.map((x) => x[0]);
          const mean = fps.reduce((x, y) => x + y, 0) / fps.length;
          expect(s!.fpAccuracy.mean).toBeCloseTo(mean, 12);
          expect(s!.fpAccuracy.n).toBe(fps.length);
          if (fps.length === 1) expect(s!.fpAccuracy.std).toBeNull();
          else
            expect(s!.fpAccuracy.std).toBeCloseTo(
              Math.sqrt(fps.reduce((x, v) => x + (v - mean) ** 2, 0) / (fps.length - 1)),
              12,
            );
          const spreads = runs.map((r) => r.int4!.spread);
          expect(s!.int4!.spread.mean).toBeCloseTo(spreads.reduce((x, y) => x + y, 0) / spreads.length, 12);
          expect(s!.profiles.w4a8!.top1Agreement.mean).toBeCloseTo(
            seeds.reduce((x, t) => x + t[1], 0) / seeds.length,
            12,
          );
        },
      ),
    );
  });

  it("refuse a recipe without runs and a run without a profile, naming them", () => {
    expect(() => summarizeRuns(["rp"], PROFILES, [])).toThrow(/recipe 'rp' has no runs/);
    const partial: RunResult = {
      recipe: "fp",
      seed: 3,
      checkpoint: null,
      fpAccuracy: 0.9,
      profiles: { "tflite-int8": evaluation(0.9, 1) },
      int8: null,
      int4: null,
      curves: [],
      steps: null,
      trimmedLayers: null,
      timings: { trainSeconds: 0, evalSeconds: 0 },
    };
    expect(() => summarizeRuns(["fp"], PROFILES, [partial])).toThrow(
      /fp seed 3 has no result for profile 'pow2-int8'/,
    );
  });
});

describe("integer programs as the report names and costs them", () => {
  const model = buildModel("cnn-bn", { inputShape: [1, 8, 8], classes: 3, seed: 1 });
  model.eval();
  const x = fromData(
    new Float32Array(4 * 64).map((_, i) => Math.sin(i)),
    [4, 1, 8, 8],
  );

  it("names layers by op and first module, and classes MACs by the wider operand as the cost model charges", () => {
    const w4a8 = compile(model, getProfile("w4a8"), x);
    const labels = w4a8.steps
      .filter((s) => s.op === "conv2d" || s.op === "linear")
      .map((s) => layerLabel(w4a8, s.output, "?"));
    expect(labels).toEqual(["conv 0", "conv 4", "linear 9"]);
    for (const [name, cls] of [
      ["w4a8", "int8"],
      ["w4a4-per-tensor", "int4"],
      ["tflite-int8", "int8"],
    ] as const) {
      const program = name === "w4a8" ? w4a8 : compile(model, getProfile(name), x);
      const cost = programCost(program);
      const total = Object.values(estimateCost(program).macs).reduce((a, b) => a + b, 0);
      expect(cost.macs[cls], name).toBe(total);
      expect(cost.macs.int4 + cost.macs.int8 + cost.macs.float).toBe(total);
      expect([cost.fallbackOps, cost.partitions]).toEqual([0, 1]);
    }
  });
});

describe("the git commit, read from .git without running git", () => {
  const sha = "0123456789abcdef0123456789abcdef01234567";
  const other = "fedcba9876543210fedcba9876543210fedcba98";

  function repo(files: Record<string, string>): string {
    const root = dirs.make("qt-git-");
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  it("follows a detached HEAD, a loose ref, packed-refs, and a worktree's .git file", () => {
    expect(readHeadCommit(join(repo({ ".git/HEAD": `${sha}\n` }), ".git"))).toBe(sha);
    const loose = repo({ ".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": `${sha}\n` });
    expect(readHeadCommit(join(loose, ".git"))).toBe(sha);
    const packed = repo({
      ".git/HEAD": "ref: refs/heads/dev\n",
      ".git/packed-refs": `# pack-refs with: peeled\n${other} refs/heads/main\n${sha} refs/heads/dev\n`,
    });
    expect(readHeadCommit(join(packed, ".git"))).toBe(sha);
    const main = repo({ ".git/refs/heads/topic": `${other}\n`, ".git/HEAD": "ref: refs/heads/main\n" });
    mkdirSync(join(main, ".git", "worktrees", "wt"), { recursive: true });
    writeFileSync(join(main, ".git", "worktrees", "wt", "HEAD"), "ref: refs/heads/topic\n");
    writeFileSync(join(main, ".git", "worktrees", "wt", "commondir"), "../..\n");
    const wt = dirs.make("qt-wt-");
    writeFileSync(join(wt, ".git"), `gitdir: ${join(main, ".git", "worktrees", "wt")}\n`);
    mkdirSync(join(wt, "packages", "cli"), { recursive: true });
    const found = findGitDir(join(wt, "packages", "cli"))!;
    expect(found.root).toBe(wt);
    expect(readHeadCommit(found.gitDir)).toBe(other);
  });

  it("gives null for anything missing or malformed, never throwing", () => {
    expect(readHeadCommit(join(repo({ ".git/HEAD": "ref: refs/heads/none\n" }), ".git"))).toBeNull();
    expect(readHeadCommit(join(repo({ ".git/HEAD": "not a ref\n" }), ".git"))).toBeNull();
    expect(readHeadCommit(join(repo({ ".git/HEAD": "ref: refs/../../etc\n" }), ".git"))).toBeNull();
    expect(
      readHeadCommit(
        join(repo({ ".git/HEAD": "ref: refs/heads/x\n", ".git/refs/heads/x": "abc\n" }), ".git"),
      ),
    ).toBeNull();
    expect(readHeadCommit(join(dirs.make("qt-git-"), ".git"))).toBeNull();
  });
});

describe("recipe options", () => {
  it("map each flag to its quantTrim option, and refuse values out of range naming the flag", () => {
    const parsed = Object.fromEntries(
      RECIPE_OPTIONS.filter((o) => o.value === fraction).map((o) => [o.flag, "0.25"]),
    );
    const read = readRecipeOptions(parsed);
    for (const o of RECIPE_OPTIONS.filter((x) => x.value === fraction))
      expect(read[o.key], o.flag).toBe(0.25);
    for (const bad of ["1.5", "-0.1", "abc", "", "0x1", "Infinity"])
      expect(() => fraction("warmup", bad)).toThrow(
        new UsageError(`--warmup must be a number in [0, 1], got '${bad}'`),
      );
    expect(new Set(RECIPE_OPTIONS.map((o) => o.flag)).size).toBe(RECIPE_OPTIONS.length);
  });
});
