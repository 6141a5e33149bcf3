/**
 * Training steps as the recipes run them, on the two tensor backends, in one process. A step is what
 * `trainClassifier` does for one batch with a `quantTrim` run as its hooks: `beforeStep` (λ), forward,
 * cross-entropy, backward, Adam, `afterStep` (reverse pruning). Three recipes per model:
 * - fp: plain FP32 training;
 * - qat: INT8 per-channel weights, INT8 activations, λ = 1 with the masked straight-through gradient,
 *   observers running (before their freeze step, as for the first 80 % of a run);
 * - quant-trim: INT8 PFQ + reverse pruning at a step inside the λ ramp (0 < λ < 1, observers on,
 *   pruning active): the full method;
 * - fp-unfused (cnn only): fp with `nn.setSequentialFusion(false)`, so each Conv2d → ReLU → MaxPool2d
 *   runs as three ops instead of the fused `convReluMaxPool` the fp step uses (QAT steps never fuse);
 *   `fusionSpeedup` is the median per-round ratio unfused / fused.
 * Each case owns its model and optimizer and steps through different shuffled MNIST batches of 64.
 * Cases run interleaved (see interleave.ts): every round times a block of steps of each case, so load
 * from other processes hits all cases of a round alike; speed-ups are medians of per-round ratios.
 *
 * Targets: issue 14 (wasm backend) — cnn step ≥ 4× the js backend's samples/s, mlp ≥ 2×, measured in one
 * run; earlier issues — mlp ≥ 1,500 and cnn ≥ 500 samples/s (FP32), a QAT step ≤ 1.3× the FP step,
 * reverse pruning < 5 % of a cnn step.
 *
 * Run: `npx tsx --conditions=source bench/train.bench.ts` (or `npm run bench -- train`).
 */
import { loadavg } from "node:os";
import { Adam, type Module, nn, ops, Variable } from "@quant-trim/autograd";
import { batches, buildModel, type QuantTrimRun, quantTrim } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";
import { type BackendName, Rng, setBackend } from "@quant-trim/tensor";
import { emit, round } from "./harness.js";
import { interleaved, median, roundRatio } from "./interleave.js";

const BATCH = 64;
/** Run length the λ clock assumes (10 epochs of 8,000 samples) and the step the timed steps start at. */
const TOTAL_STEPS = 1250;
const FIRST_STEP = Math.round(0.6 * TOTAL_STEPS);

const { train } = standardizedSplit(0);
const data = [...batches(train, BATCH, new Rng(1), { dropLast: true })];

type Arch = "mlp" | "cnn";
type Recipe = "fp" | "qat" | "quant-trim" | "fp-unfused";

interface Stepper {
  step: () => number;
  /** Seconds spent in afterStep (reverse pruning) so far, and steps taken. */
  pruneSeconds: () => number;
  steps: () => number;
}

function stepper(arch: Arch, recipe: Recipe, backend: BackendName): Stepper {
  setBackend(backend);
  const model: Module = buildModel(arch, { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES, seed: 0 });
  const run: QuantTrimRun | null =
    recipe === "fp" || recipe === "fp-unfused"
      ? null
      : quantTrim(model, {
          recipe,
          totalSteps: TOTAL_STEPS,
          inputShape: [1, ...MNIST_SAMPLE_SHAPE],
          bits: 8,
          granularity: "per-channel",
          onWarning: () => undefined,
        });
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  let count = 0;
  let prune = 0;
  const fuse = recipe !== "fp-unfused";
  return {
    step: () => {
      setBackend(backend);
      nn.setSequentialFusion(fuse);
      // Stay inside the timed window of the λ clock (no freeze step, no end of the ramp).
      const step = FIRST_STEP + (count % 200);
      const b = data[count % data.length]!;
      count++;
      run?.beforeStep(step);
      opt.zeroGrad();
      const loss = ops.crossEntropy(model.call(new Variable(b.x)), b.y);
      loss.backward();
      opt.step();
      const t0 = performance.now();
      run?.afterStep(step);
      prune += (performance.now() - t0) / 1e3;
      return loss.item();
    },
    pruneSeconds: () => prune,
    steps: () => count,
  };
}

const out: Record<string, unknown> = {};
const sanity: Record<string, unknown> = {};
for (const arch of ["mlp", "cnn"] as const) {
  const recipes: Recipe[] =
    arch === "cnn" ? ["fp", "qat", "quant-trim", "fp-unfused"] : ["fp", "qat", "quant-trim"];
  const steppers = new Map<string, Stepper>();
  for (const recipe of recipes) {
    for (const backend of ["js", "wasm"] as const)
      steppers.set(`${recipe} ${backend}`, stepper(arch, recipe, backend));
  }
  // Same model, same first batch: the backends' first losses agree to float32 accumulation error.
  const first = (r: Recipe) => [steppers.get(`${r} js`)!.step(), steppers.get(`${r} wasm`)!.step()];
  sanity[arch] = Object.fromEntries(recipes.map((r) => [r, first(r).map((l) => round(l, 6))]));

  const cases = [...steppers].map(([name, s]) => ({
    name,
    fn: s.step,
    calls: name.endsWith("js") ? (arch === "cnn" ? 2 : 4) : arch === "cnn" ? 6 : 12,
  }));
  const r = interleaved(cases, { rounds: 8, warmupMs: arch === "cnn" ? 2500 : 1500 });
  const perRecipe: Record<string, unknown> = {};
  for (const recipe of recipes) {
    const js = `${recipe} js`;
    const wasm = `${recipe} wasm`;
    perRecipe[recipe] = {
      jsMs: round(r.wall[js]! * 1e3),
      wasmMs: round(r.wall[wasm]! * 1e3),
      samplesPerSecond: { js: round(BATCH / r.wall[js]!), wasm: round(BATCH / r.wall[wasm]!) },
      samplesPerSecondFromCpuTime: { js: round(BATCH / r.cpu[js]!), wasm: round(BATCH / r.cpu[wasm]!) },
      wasmSpeedup: round(roundRatio(r, js, wasm)),
      wasmSpeedupCpuTime: round(roundRatio(r, js, wasm, "cpu")),
    };
  }
  const pruneShare = (backend: BackendName) => {
    const s = steppers.get(`quant-trim ${backend}`)!;
    return round(s.pruneSeconds() / s.steps() / r.wall[`quant-trim ${backend}`]!);
  };
  out[arch] = {
    ...perRecipe,
    qatOverFp: {
      js: round(roundRatio(r, "qat js", "fp js")),
      wasm: round(roundRatio(r, "qat wasm", "fp wasm")),
    },
    quantTrimOverFp: {
      js: round(roundRatio(r, "quant-trim js", "fp js")),
      wasm: round(roundRatio(r, "quant-trim wasm", "fp wasm")),
    },
    reversePruningShareOfQuantTrimStep: { js: pruneShare("js"), wasm: pruneShare("wasm") },
    ...(arch === "cnn"
      ? {
          fusionSpeedup: {
            js: round(roundRatio(r, "fp-unfused js", "fp js")),
            wasm: round(roundRatio(r, "fp-unfused wasm", "fp wasm")),
            jsCpuTime: round(roundRatio(r, "fp-unfused js", "fp js", "cpu")),
            wasmCpuTime: round(roundRatio(r, "fp-unfused wasm", "fp wasm", "cpu")),
          },
        }
      : {}),
    rounds: r.samples["fp wasm"]!.wall.length,
    wasmFpStepMsSpread: [
      round(Math.min(...r.samples["fp wasm"]!.wall) * 1e3),
      round(median(r.samples["fp wasm"]!.wall) * 1e3),
      round(Math.max(...r.samples["fp wasm"]!.wall) * 1e3),
    ],
  };
}
setBackend("wasm");
nn.setSequentialFusion(true);

const speedup = (arch: Arch) => (out[arch] as Record<Recipe, { wasmSpeedup: number }>).fp.wasmSpeedup;
emit("train", {
  batch: BATCH,
  firstLosses: sanity,
  ...out,
  targets: {
    "cnn fp wasm/js >= 4": speedup("cnn") >= 4,
    "mlp fp wasm/js >= 2": speedup("mlp") >= 2,
  },
  loadAverage: loadavg().map((x) => round(x, 2)),
});
