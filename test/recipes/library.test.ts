import { type Module, nn, noGrad, Variable } from "@quant-trim/autograd";
import { int4SymmetricPerChannel, int8AsymmetricPerTensor, prepareQat } from "@quant-trim/quant";
import {
  batches,
  buildModel,
  type Dataset,
  dataset,
  evaluate,
  gather,
  head,
  ptqAccuracy,
  ptqGrids,
  quantTrim,
  recipeNames,
  splitValidation,
  standardize,
  TrainingDivergedError,
  trainClassifier,
  trainingSteps,
} from "@quant-trim/recipes";
import { Rng } from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

/** Three classes of 6-value samples: a class's value sits at its own two positions, plus noise. */
function threeClasses(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const inputs = new Float32Array(count * 6);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let f = 0; f < 6; f++) inputs[i * 6 + f] = (Math.floor(f / 2) === c ? 2 : 0) + rng.normal(0, 0.4);
  }
  return dataset(inputs, [6], labels);
}

const small = (seed = 0) => buildModel("mlp", { inputShape: [6], classes: 3, seed });

describe("datasets", () => {
  it("dataset() checks its arrays; gather keeps the label type; head and splitValidation are views", () => {
    expect(() => dataset(new Float32Array(5), [2], new Uint8Array(3))).toThrow(
      /dataset: a dataset of 3 samples of shape \[2\] needs 6 input values and 3 labels, got 5 and 3/,
    );
    expect(() => dataset(new Float32Array(4), [2, 0], new Uint8Array(2))).toThrow(
      /sampleShape must list positive/,
    );
    const ds = threeClasses(10, 1);
    const g = gather(ds, Int32Array.of(4, 1));
    expect(g.labels).toBeInstanceOf(Int32Array);
    expect(Array.from(g.labels)).toEqual([ds.labels[4], ds.labels[1]]);
    expect(Array.from(g.inputs)).toEqual(
      Array.from(ds.inputs.subarray(24, 30)).concat(Array.from(ds.inputs.subarray(6, 12))),
    );
    const { train, validation } = splitValidation(ds, 0.3);
    expect([train.count, validation.count]).toEqual([7, 3]);
    expect(validation.inputs[0]).toBe(ds.inputs[7 * 6]);
    expect(head(ds, 4).inputs.buffer).toBe(ds.inputs.buffer);
    expect(() => splitValidation(ds, 1)).toThrow(/splitValidation: fraction must be a number in \(0, 1\)/);
    expect(() => splitValidation(ds, 0.05)).toThrow(/leaves 0 for validation/);
    expect(() => standardize(ds, 0, 0)).toThrow(/standardize: std must be a finite number > 0/);
    expect([...batches(ds, 4)].map((b) => b.x.shape)).toEqual([
      [4, 6],
      [4, 6],
      [2, 6],
    ]);
  });
});

describe("trainClassifier", () => {
  it("takes the class count from the logits, reports validation accuracy per epoch, and calls onStep every step", () => {
    const { train, validation } = splitValidation(threeClasses(300, 2), 0.2);
    const model = small();
    const steps: number[] = [];
    const r = trainClassifier(model, train, {
      epochs: 3,
      batchSize: 32,
      lr: 1e-2,
      validation,
      onStep: (s) => steps.push(s.step),
    });
    expect(steps).toEqual(Array.from({ length: trainingSteps(240, 32, 3) }, (_, i) => i));
    expect(r.epochs).toHaveLength(3);
    // The last epoch's figure is the model's accuracy on the validation set after training.
    expect(r.epochs[2]!.validationAccuracy).toBe(evaluate(model, validation));
    expect(r.epochs[2]!.validationAccuracy).toBeGreaterThan(0.9);
    expect(r.epochs[2]!.trainAccuracy).toBeGreaterThan(0.9);
  });

  it("refuses hooks built for another run length, unknown options and bad numbers", () => {
    const data = threeClasses(64, 3);
    const model = small();
    const run = quantTrim(model, { totalSteps: 10, inputShape: [1, 6], onWarning: () => {} });
    expect(() => trainClassifier(model, data, { epochs: 1, batchSize: 16, hooks: run })).toThrow(
      "trainClassifier: hooks[0] were built for 10 steps, but 64 samples in batches of 16 for 1 epochs make 4",
    );
    expect(() => trainClassifier(model, data, { epochs: 1, batchSize: 16, lr: 0 })).toThrow(
      /trainClassifier: lr must be a finite number > 0, got 0/,
    );
    expect(() => trainClassifier(model, data, { epochs: 1, batchSize: 16, lR: 1 } as never)).toThrow(
      /trainClassifier: unknown option 'lR'/,
    );
    expect(() => trainClassifier(model, data, { epochs: 0, batchSize: 16 })).toThrow(
      /trainingSteps: epochs must be an integer ≥ 1, got 0/,
    );
  });

  it("stops with TrainingDivergedError at the first non-finite loss, naming epoch, step and learning rate", () => {
    const model = small();
    let caught: unknown;
    try {
      trainClassifier(model, threeClasses(64, 4), { epochs: 2, batchSize: 16, lr: 1e30 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TrainingDivergedError);
    const e = caught as TrainingDivergedError;
    expect(Number.isFinite(e.loss)).toBe(false);
    expect(e.lr).toBe(1e30);
    expect(e.message).toMatch(
      /^training diverged: the loss is .* at epoch \d of 2, step \d+ of 8; try a lower learning rate than 1e\+30$/,
    );
  });
});

describe("quantTrim", () => {
  it("runs every recipe through the same options, with the handles each one implies", () => {
    for (const recipe of recipeNames) {
      const run = quantTrim(small(), { recipe, totalSteps: 20, inputShape: [1, 6], onWarning: () => {} });
      const fakeQuant = recipe === "qat" || recipe === "pfq" || recipe === "quant-trim";
      const pruning = recipe === "rp" || recipe === "quant-trim";
      expect([run.recipe, run.qat !== null, run.pruner !== null, run.lambda !== null]).toEqual([
        recipe,
        fakeQuant,
        pruning,
        recipe !== "fp",
      ]);
      expect(run.settings).toMatchObject({ recipe, bits: 4, granularity: "per-tensor" });
    }
  });

  it("a custom λ curve drives fake quantization and the pruner's clock, and sets the freeze step", () => {
    const model = small();
    const curve = { at: (t: number) => Math.min(1, t / 5), firstFullStep: 5 };
    const run = quantTrim(model, { totalSteps: 8, inputShape: [1, 6], lambda: curve, onWarning: () => {} });
    expect(run.freezeStep).toBe(5);
    expect(run.settings.lambda).toEqual({ kind: "custom" });
    run.beforeStep(2);
    expect(run.qat!.lambda).toBe(0.4);
    expect(run.pruner!.pAt(2)).toBeCloseTo(1 - 0.4 * (1 - 0.99), 12);
    const linear = quantTrim(small(), {
      totalSteps: 8,
      inputShape: [1, 6],
      lambda: { kind: "linear", totalSteps: 8, end: 0.5 },
      onWarning: () => {},
    });
    expect(linear.freezeStep).toBe(4);
    expect(linear.settings.lambda).toEqual({ kind: "linear", totalSteps: 8, start: 0, end: 0.5 });
  });

  it("passes the pruner's warning to onWarning and refuses contradictory or unknown options", () => {
    const warnings: string[] = [];
    // The mlp's second layer holds 256·3 = 768 weights, fewer than the 1000 pFinal 0.999 needs.
    quantTrim(small(), {
      totalSteps: 5,
      inputShape: [1, 6],
      bits: 8,
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([
      expect.stringContaining("'3.weight' (per-tensor groups of 768 weights at p 0.999"),
    ]);
    const base = { totalSteps: 5, inputShape: [1, 6] };
    expect(() => quantTrim(small(), { ...base, recipe: "magic" as never })).toThrow(
      /quantTrim: recipe must be one of fp, qat, pfq, rp, quant-trim, got 'magic'/,
    );
    expect(() => quantTrim(small(), { ...base, weightGrid: int4SymmetricPerChannel, bits: 4 })).toThrow(
      /quantTrim: give either weightGrid or bits\/granularity, not both/,
    );
    expect(() =>
      quantTrim(small(), { ...base, lambda: { kind: "constant", value: 1 }, warmup: 0.1 }),
    ).toThrow(/quantTrim: warmup shape the default curriculum/);
    expect(() => quantTrim(small(), { ...base, totalStep: 5 } as never)).toThrow(
      /quantTrim: unknown option 'totalStep'/,
    );
    expect(() => quantTrim(small(), { ...base, totalSteps: 0 })).toThrow(
      /totalSteps must be a positive integer/,
    );
  });
});

describe("ptqAccuracy", () => {
  /** What the CLI did before the library existed: a fresh model, instrumented, calibrated, evaluated. */
  function freshModelAccuracy(
    trained: Module,
    grids: (typeof ptqGrids)[string],
    calibration: Dataset,
    test: Dataset,
  ) {
    const fresh = small(7);
    fresh.loadStateDict(trained.stateDict());
    fresh.eval();
    const qat = prepareQat(fresh, { inputShape: [1, 6], weight: grids.weight, activation: grids.activation });
    qat.setLambda(1);
    qat.calibrate(() =>
      noGrad(() => {
        for (const b of batches(calibration, 256)) fresh.call(new Variable(b.x));
      }),
    );
    return evaluate(fresh, test);
  }

  it("equals instrumenting a fresh copy of the model, grid by grid, and leaves the model as it was", () => {
    const data = threeClasses(400, 5);
    const { train, validation: test } = splitValidation(data, 0.25);
    const model = small(1);
    trainClassifier(model, train, { epochs: 2, batchSize: 32, lr: 1e-2 });
    model.train();
    const probe = new Variable(firstBatch(test));
    const before = noGrad(() => model.call(probe)).data.toFloat32Array();
    const calibration = head(train, 64);
    for (const grids of Object.values(ptqGrids)) {
      expect(ptqAccuracy(model, { grids, calibration, test })).toBe(
        freshModelAccuracy(model, grids, calibration, test),
      );
    }
    expect(model.training).toBe(true);
    expect(noGrad(() => model.call(probe)).data.toFloat32Array()).toEqual(before);
    expect(() =>
      ptqAccuracy(model, {
        grids: { weight: int4SymmetricPerChannel, activation: int8AsymmetricPerTensor },
        calibration: head(train, 0),
        test,
      }),
    ).toThrow(/ptqAccuracy: the calibration set is empty/);
    const grids = ptqGrids["int4-per-tensor"]!;
    const run = quantTrim(model, { totalSteps: 1, inputShape: [1, 6], onWarning: () => {} });
    expect(() => ptqAccuracy(model, { grids, calibration, test })).toThrow(
      /ptqAccuracy: the model is still instrumented \(module '' has hooks\); call run.qat.detach\(\)/,
    );
    run.qat!.detach();
    expect(ptqAccuracy(model, { grids, calibration, test })).toBe(
      freshModelAccuracy(model, grids, calibration, test),
    );
  });
});

/** Every sample of a dataset as one input tensor. */
function firstBatch(ds: Dataset) {
  return [...batches(ds, ds.count)][0]!.x;
}

describe("the zoo models train on non-MNIST shapes", () => {
  it("cnn-bn on 3×8×8 inputs with 4 classes: logits [batch, 4]", () => {
    const model = buildModel("cnn-bn", { inputShape: [3, 8, 8], classes: 4 });
    const x = new Variable(firstBatch(dataset(new Float32Array(2 * 192), [3, 8, 8], new Uint8Array(2))));
    expect(noGrad(() => model.call(x)).shape).toEqual([2, 4]);
    expect(model).toBeInstanceOf(nn.Sequential);
  });
});
