/**
 * A λ curriculum of your own. Quant-Trim blends every weight and activation as x + λ·(x̂ − x), and the
 * reverse pruner trims on the same clock (p = 1 − λ·(1 − pFinal)). Here λ follows a cosine ramp from
 * 10 % to 60 % of the run instead of the default quartic/quadratic curriculum; the recipe freezes the
 * activation observers and BatchNorm statistics at the curve's `firstFullStep`.
 *
 *   npx tsx --conditions=source examples/custom-lambda.ts
 */
import {
  buildModel,
  dataset,
  type LambdaCurve,
  quantTrim,
  trainClassifier,
  trainingSteps,
} from "@quant-trim/recipes";
import { Rng } from "@quant-trim/tensor";

/** λ = 0 until `start·T`, then ½ − ½·cos(π·u) up to `end·T`, then 1. */
function cosineRamp(totalSteps: number, start: number, end: number): LambdaCurve {
  const t0 = start * totalSteps;
  const t1 = end * totalSteps;
  return {
    at: (step) =>
      step < t0 ? 0 : step >= t1 ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * (step - t0)) / (t1 - t0)),
    firstFullStep: Math.ceil(t1),
  };
}

// Two classes of 8×8 single-channel "images": a bright row or a bright column, with noise.
const rng = new Rng(7);
const count = 512;
const inputs = new Float32Array(count * 64);
const labels = new Uint8Array(count);
for (let i = 0; i < count; i++) {
  labels[i] = i % 2;
  const line = rng.int(8);
  for (let p = 0; p < 64; p++) {
    const onLine = labels[i] ? p % 8 === line : Math.floor(p / 8) === line;
    inputs[i * 64 + p] = (onLine ? 1 : 0) + rng.normal(0, 0.3);
  }
}
const data = dataset(inputs, [1, 8, 8], labels);

const epochs = 4;
const batchSize = 32;
const totalSteps = trainingSteps(data.count, batchSize, epochs);
const lambda = cosineRamp(totalSteps, 0.1, 0.6);
const model = buildModel("cnn-bn", { inputShape: data.sampleShape, classes: 2, seed: 0 });
const run = quantTrim(model, {
  totalSteps,
  inputShape: [1, ...data.sampleShape],
  bits: 4,
  granularity: "per-tensor",
  lambda,
  onWarning: (message) => console.log(`note: ${message}`),
});

console.log(`step   λ       pruning p (layer ${run.pruner!.layerNames.at(-1)})`);
for (const step of [0, 6, 7, 16, 24, 32, 38, 39, totalSteps - 1])
  console.log(
    `${String(step).padStart(4)}   ${lambda.at(step).toFixed(4)}  ${run.pruner!.pAt(step, run.pruner!.layerNames.at(-1)).toFixed(5)}`,
  );

const frozenAt: number[] = [];
trainClassifier(model, data, {
  epochs,
  batchSize,
  lr: 3e-3,
  hooks: run,
  onStep: ({ step }) => {
    if (frozenAt.length === 0 && run.qat!.activationPoints.every((p) => p.observer.frozen))
      frozenAt.push(step);
  },
  onEpoch: (e) =>
    console.log(
      `epoch ${e.epoch + 1}: loss ${e.meanLoss.toFixed(3)}, train accuracy ${(100 * e.trainAccuracy).toFixed(1)} %`,
    ),
});
console.log(
  `observers frozen from step ${frozenAt[0]} (firstFullStep ${lambda.firstFullStep}); final λ ${run.qat!.lambda}`,
);
