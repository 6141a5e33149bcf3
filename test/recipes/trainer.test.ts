import {
  buildModel,
  evaluate,
  head,
  quantTrim,
  sample,
  standardize,
  trainClassifier,
} from "@quant-trim/recipes";
import {
  MNIST_CLASSES,
  MNIST_MEAN,
  MNIST_SAMPLE_SHAPE,
  MNIST_STD,
  mnistSplit,
} from "@quant-trim/recipes/node";
import { Rng } from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

const { train, test } = mnistSplit(0);
const mnist = { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES };

describe("MNIST training (small, seeded)", () => {
  it("the mlp's loss falls and it beats chance by a wide margin after one epoch on 512 digits", () => {
    const model = buildModel("mlp", mnist);
    const r = trainClassifier(model, head(train, 512), { epochs: 1, batchSize: 16, lr: 1e-3, seed: 0 });
    const first = r.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = r.losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(last).toBeLessThan(0.6 * first);
    expect(evaluate(model, head(test, 500))).toBeGreaterThan(0.6);
  });

  it("the cnn-bn trains with the quant-trim recipe (INT4 fake quant + reverse pruning) and keeps learning after trimming starts", () => {
    const model = buildModel("cnn-bn", { ...mnist, seed: 1 });
    const steps = 32;
    const recipe = quantTrim(model, {
      recipe: "quant-trim",
      bits: 4,
      granularity: "per-tensor",
      totalSteps: steps,
      inputShape: [1, ...MNIST_SAMPLE_SHAPE],
    });
    const r = trainClassifier(model, head(train, 512), {
      epochs: 1,
      batchSize: 16,
      lr: 3e-3,
      seed: 1,
      hooks: recipe,
    });
    // Trimming starts at the end of the warm-up (step 6); the loss after it keeps falling.
    const mid = r.losses.slice(6, 12).reduce((a, b) => a + b) / 6;
    const end = r.losses.slice(-6).reduce((a, b) => a + b) / 6;
    expect(end).toBeLessThan(mid);
    expect(recipe.pruner!.report().layers.some((l) => l.trimmedTotal > 0)).toBe(true);
    expect(recipe.qat!.lambda).toBe(1);
  });
});

describe("standardize", () => {
  it("maps pixels to (x − mean)/std in a new array and keeps labels", () => {
    const ds = head(train, 3);
    const st = standardize(ds, MNIST_MEAN, MNIST_STD);
    expect(st.inputs).not.toBe(ds.inputs);
    expect(st.labels).toBe(ds.labels);
    for (const i of [0, 100, 500, 2000])
      expect(st.inputs[i]).toBeCloseTo((ds.inputs[i]! - MNIST_MEAN) / MNIST_STD, 5);
  });
});

describe("calibration samples", () => {
  it("sample draws n distinct training images reproducibly; head takes the prefix", () => {
    const a = sample(train, 256, new Rng(5));
    expect(a.count).toBe(256);
    expect(Array.from(sample(train, 256, new Rng(5)).inputs)).toEqual(Array.from(a.inputs));
    const rows = new Set(
      Array.from({ length: 256 }, (_, i) => a.inputs.subarray(i * 784, (i + 1) * 784).join(",")),
    );
    expect(rows.size).toBe(256);
    expect(head(train, 3).labels).toEqual(train.labels.subarray(0, 3));
  });
});
