import { join } from "node:path";
import { saveCheckpoint } from "@quant-trim/autograd/node";
import { parseProfile, profileNames } from "@quant-trim/npu-sim";
import { buildModel } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE } from "@quant-trim/recipes/node";
import { runCli } from "quant-trim";
import { formatProfilesEvaluation } from "quant-trim/internal";
import { describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDir } from "./temp-dir.js";

async function cli(args: string[]) {
  const c = capture();
  const code = await runCli(args, c.io);
  return { code, out: c.out(), err: c.err() };
}

describe("quant-trim profiles", () => {
  it("lists every profile with its grids, arithmetic, ops and sources", async () => {
    const r = await cli(["profiles"]);
    expect(r.code).toBe(0);
    for (const n of profileNames) expect(r.out).toContain(`${n} — `);
    expect(r.out).toMatch(
      /ethos-u — .*\n.*\n.*\n.*\n {2}ops {10}conv2d \(stride 1\.\.4, dilated height ≤ 64, dilated area ≤ 4096\)/,
    );
    expect(r.out).toMatch(/edgetpu[\s\S]*single-cut partitioning/);
  });

  it("--json gives the profiles as data parseProfile reads back; --op filters", async () => {
    const r = await cli(["profiles", "--json"]);
    const list = JSON.parse(r.out) as unknown[];
    expect(list.map((p) => parseProfile(p).name)).toEqual([...profileNames]);
    const conv = JSON.parse((await cli(["profiles", "--op", "mul", "--json"])).out) as { name: string }[];
    expect(conv.length).toBe(profileNames.length);
  });

  it("an unknown op or profile exits 2, naming it and listing the valid ones", async () => {
    const op = await cli(["profiles", "--op", "softmax"]);
    expect(op.code).toBe(2);
    expect(op.out).toBe("");
    expect(op.err.trim()).toBe(
      "quant-trim profiles: unknown op 'softmax'; valid ops: conv2d, depthwise-conv2d, linear, add, mul, max-pool, avg-pool, clamp, reshape",
    );
    const p = await cli([
      "eval",
      "--checkpoint",
      "/nonexistent.safetensors",
      "--profiles",
      "tflite-int8,npu9000",
    ]);
    expect(p.code).toBe(2);
    expect(p.err.trim()).toBe(
      `quant-trim eval: unknown profile 'npu9000'; valid profiles: all, ${profileNames.join(", ")}`,
    );
  });
});

describe("quant-trim eval --profiles", () => {
  it("reports integer accuracy, agreement, cosine, worst layer SQNR, cost figures, worst gap and spread", async () => {
    const dir = tempDir("qt-profiles-");
    const path = join(dir, "mlp.safetensors");
    const model = buildModel("mlp", { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES, seed: 3 });
    saveCheckpoint(path, model, { architecture: "mlp", recipe: "fp" } as never);
    const r = await cli([
      "eval",
      "--checkpoint",
      path,
      "--profiles",
      "tflite-int8,w4a4-per-tensor",
      "--json",
    ]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    const integer = json.integer;
    expect(integer.profiles.map((p: { profile: string }) => p.profile)).toEqual([
      "tflite-int8",
      "w4a4-per-tensor",
    ]);
    expect(integer.fpAccuracy).toBe(json.fpAccuracy);
    for (const p of integer.profiles) {
      expect(p.accuracy).toBeGreaterThanOrEqual(0);
      expect(p.top1Agreement).toBeGreaterThan(0);
      expect(p.logitCosine).toBeGreaterThan(0);
      expect(Number.isFinite(p.worstLayer.sqnrDb)).toBe(true);
      expect(p.cost.latencySeconds).toBeGreaterThan(0);
    }
    expect(integer.profiles[1].cost.weightBytes).toBeLessThan(integer.profiles[0].cost.weightBytes);
    const accs = integer.profiles.map((p: { accuracy: number }) => p.accuracy);
    expect(integer.spread.spread).toBeCloseTo(Math.max(...accs) - Math.min(...accs), 12);
    expect(integer.worstGap.gap).toBeCloseTo(json.fpAccuracy - Math.min(...accs), 12);
    const text = formatProfilesEvaluation(integer);
    expect(text).toMatch(/^ {2}profile\s+int acc\s+top-1 agr\.\s+cosine\s+worst layer SQNR\s+latency\*/);
    expect(text).toMatch(
      /worst FP→integer gap -?\d+\.\d\d pts \((tflite-int8|w4a4-per-tensor)\); spread \d+\.\d\d pts/,
    );
    expect(text).toContain("cost-model estimates per inference, not measurements");
  });
});
