import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCheckpoint, saveCheckpoint } from "@quant-trim/autograd/node";
import { type ObserverState, restoreObserver } from "@quant-trim/quant";
import { buildModel, dataset, quantTrim, trainClassifier, trainingSteps } from "@quant-trim/recipes";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";

/**
 * The scripts in examples/ run as a researcher runs them: through tsx on the sources, and the plain
 * JavaScript one also through `node` on the built dist/ (what a fresh clone gets from `npm ci`).
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

function run(args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0)
    throw new Error(`${args.join(" ")} exited with ${r.status ?? r.signal}:\n${r.stderr}${r.stdout}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const tsx = (script: string, ...args: string[]) =>
  run(["--conditions=source", "--import", "tsx", `examples/${script}`, ...args]);

/** The packages the plain-node example loads, in build order. */
const BUILT = ["tensor", "autograd", "quant", "prune", "recipes"];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true })) {
    const t = statSync(join(dir, String(f))).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

/**
 * dist/ is stale when a package's sources or build settings changed after its last build (the build
 * info file is rewritten by every build). Then `tsc -b` brings it up to date, as `npm ci` would.
 */
function ensureBuilt(): void {
  const stale = BUILT.filter((p) => {
    const info = join(repoRoot, "packages", p, "dist", ".tsbuildinfo");
    if (!existsSync(info)) return true;
    const built = statSync(info).mtimeMs;
    const inputs = ["package.json", "tsconfig.build.json"].map(
      (f) => statSync(join(repoRoot, "packages", p, f)).mtimeMs,
    );
    return Math.max(newestMtime(join(repoRoot, "packages", p, "src")), ...inputs) > built;
  });
  if (stale.length === 0) return;
  const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
  run([tsc, "-b", "packages/recipes/tsconfig.build.json"]);
}

describe("examples/custom-model.ts (Quant-Trim on a custom model with its own data)", () => {
  it("trains fp and quant-trim, reports float and INT4 accuracy, and saves a checkpoint with its metadata", () => {
    const dir = mkdtempSync(join(tmpdir(), "qt-example-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "sensor.safetensors");
    const { stdout, stderr } = tsx("custom-model.ts", out);
    expect(stderr).toBe("");
    for (const recipe of ["fp", "quant-trim"]) {
      const line = stdout.split("\n").find((l) => l.startsWith(`${recipe} `));
      const m = line?.match(/float32 ([\d.]+) %, INT4 after training ([\d.]+) %/);
      expect(m, `no result line for ${recipe} in:\n${stdout}`).toBeTruthy();
      // Four classes: chance is 25 %; the prototypes are easy to separate, quantized or not.
      expect(Number(m![1])).toBeGreaterThan(80);
      expect(Number(m![2])).toBeGreaterThan(80);
    }
    const { metadata, tensors } = loadCheckpoint(out);
    expect(metadata.architecture).toBe("sensor-net");
    expect(JSON.parse(metadata.recipe!)).toMatchObject({
      recipe: "quant-trim",
      bits: 4,
      granularity: "per-tensor",
    });
    expect(Object.keys(JSON.parse(metadata.activation_ranges!))).toEqual([
      "input",
      "1.output",
      "3.output",
      "4.output",
    ]);
    expect(tensors["0.weight"]!.shape).toEqual([64, 16]);
  }, 120_000);
});

describe("examples/custom-lambda.ts (a custom λ schedule)", () => {
  it("drives fake quantization and the pruner's p with the cosine ramp, and freezes at its firstFullStep", () => {
    const { stdout, stderr } = tsx("custom-lambda.ts");
    expect(stderr).toBe("");
    const rows = [...stdout.matchAll(/^\s*(\d+)\s+([\d.]+)\s+([\d.]+)$/gm)].map((m) =>
      m.slice(1).map(Number),
    );
    expect(rows.length).toBe(9);
    // 512 samples in batches of 32 for 4 epochs: T = 64; the ramp runs from 6.4 to 38.4.
    for (const [step, lambda, p] of rows) {
      const u = (step! - 6.4) / 32;
      const expected = step! < 6.4 ? 0 : step! >= 38.4 ? 1 : 0.5 - 0.5 * Math.cos(Math.PI * u);
      expect(lambda).toBeCloseTo(expected, 4);
      // The pruner runs on the same clock: p = 1 − λ·(1 − pFinal), pFinal 0.99 at INT4.
      expect(p).toBeCloseTo(1 - expected * 0.01, 5);
    }
    expect(stdout).toContain("observers frozen from step 39 (firstFullStep 39); final λ 1");
    expect(stdout.match(/^epoch \d+:/gm)).toHaveLength(4);
    const last = stdout.match(/epoch 4: loss [\d.]+, train accuracy ([\d.]+) %/);
    expect(Number(last![1])).toBeGreaterThan(90);
  }, 120_000);
});

describe("examples/checkpoint-metadata.mjs (reading a checkpoint's metadata)", () => {
  let path = "";
  let ranges: Record<string, ObserverState> = {};
  const dir = mkdtempSync(join(tmpdir(), "qt-example-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(() => {
    // A small zoo model trained with quant-trim and saved with the metadata the CLI writes.
    const inputs = Float32Array.from({ length: 64 * 4 }, (_, i) => ((i >> 2) % 2 ? 1 : -1) * (1 + (i % 4)));
    const labels = Uint8Array.from({ length: 64 }, (_, i) => i % 2);
    const data = dataset(inputs, [4], labels);
    const model = buildModel("mlp", { inputShape: [4], classes: 2, seed: 3 });
    const run = quantTrim(model, {
      totalSteps: trainingSteps(64, 16, 2),
      inputShape: [1, 4],
      onWarning: () => {},
    });
    trainClassifier(model, data, { epochs: 2, batchSize: 16, hooks: run });
    path = join(dir, "mlp.safetensors");
    ranges = run.qat!.observerState() as Record<string, ObserverState>;
    saveCheckpoint(path, model, {
      architecture: "mlp",
      seed: "3",
      recipe: JSON.stringify(run.settings),
      activation_ranges: JSON.stringify(ranges),
      reverse_pruning: JSON.stringify(run.pruner!.state()),
    });
  });

  const expectations = (stdout: string) => {
    expect(stdout).toContain(`${path}: architecture mlp (a zoo model), seed 3`);
    expect(stdout).toContain("recipe quant-trim: INT4 per-tensor weights, λ quant-trim");
    expect(stdout).toContain("  1.weight [256, 4]\n");
    const grid = (JSON.parse(loadCheckpoint(path).metadata.recipe!) as { activationGrid: never })
      .activationGrid;
    for (const [point, state] of Object.entries(ranges)) {
      const o = restoreObserver(state);
      const qp = o.qparams(grid);
      expect(stdout).toContain(
        `  ${point}: [${o.range().min[0]}, ${o.range().max[0]}] → scale ${qp.scale[0]}, zero point ${qp.zeroPoint[0]}`,
      );
    }
    expect(stdout).toMatch(/reverse pruning, last step 7:\n {2}1\.weight: p 0\.99, \d+ weight moves in all/);
  };

  it("prints the recipe, tensors, activation qparams and pruning state (tsx, sources)", () => {
    const { stdout, stderr } = tsx("checkpoint-metadata.mjs", path);
    expect(stderr).toBe("");
    expectations(stdout);
  }, 60_000);

  it("runs with plain node against the built dist/ and prints the same", () => {
    ensureBuilt();
    const viaNode = run(["examples/checkpoint-metadata.mjs", path]);
    expect(viaNode.stderr).toBe("");
    expectations(viaNode.stdout);
    expect(viaNode.stdout).toBe(tsx("checkpoint-metadata.mjs", path).stdout);
  }, 300_000);
});
