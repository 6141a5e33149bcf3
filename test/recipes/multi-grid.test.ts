import { type Module, nn } from "@quant-trim/autograd";
import { profiles } from "@quant-trim/npu-sim";
import { ReversePruner } from "@quant-trim/prune";
import {
  type GridSpec,
  int4SymmetricPerTensor,
  int8AsymmetricPerTensor,
  int8SymmetricPerTensor,
  LambdaSchedule,
  prepareQat,
} from "@quant-trim/quant";
import {
  buildModel,
  head,
  parseWeightGridSet,
  type QuantTrimOptions,
  quantTrim,
  trainClassifier,
  weightGridNames,
  weightGridSet,
} from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const { train } = standardizedSplit(0);
const data = head(train, 64);
const mnist = { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES };
const inputShape = [1, ...MNIST_SAMPLE_SHAPE];
const EPOCHS = 2;
const BATCH = 16;
const STEPS = (EPOCHS * data.count) / BATCH;

/** The fields that make two weight grids quantize differently in kind (not in arithmetic detail). */
const layoutKey = (g: GridSpec) =>
  [g.bits, g.signed, g.symmetric, g.narrowRange, g.granularity, g.rounding, g.scaleConstraint].join("/");

/** A small perceptron, so that four short trainings stay within a second or two on a loaded machine. */
function tiny(seed: number): Module {
  const rng = new Rng(seed);
  return new nn.Sequential(
    new nn.Flatten(),
    new nn.Linear(784, 16, { rng }),
    new nn.ReLU(),
    new nn.Linear(16, 10, { rng }),
  );
}

function weightsOf(model: Module): Float32Array[] {
  return model.namedParameters().map(([, p]) => p.data.toFloat32Array());
}

function trainWith(options: Partial<QuantTrimOptions>, seed = 1): Module {
  const model = tiny(seed);
  const hooks = quantTrim(model, { totalSteps: STEPS, inputShape, onWarning: () => {}, ...options });
  trainClassifier(model, data, { epochs: EPOCHS, batchSize: BATCH, lr: 3e-3, seed, hooks });
  return model;
}

/** Each step's weight grid per layer, as beforeStep leaves it. */
function drawnGrids(options: Partial<QuantTrimOptions>, steps: number): GridSpec[][] {
  const model = tiny(0);
  const run = quantTrim(model, { totalSteps: steps, inputShape, onWarning: () => {}, ...options });
  const out: GridSpec[][] = [];
  for (let s = 0; s < steps; s++) {
    run.beforeStep(s);
    out.push(run.qat!.weightPoints.map((p) => p.grid));
  }
  return out;
}

describe("the multi-grid set", () => {
  it('"profiles" spans the weight grid of every npu-sim profile (and their per-op weight grids) at its bits', () => {
    for (const bits of [4, 8]) {
      const set = new Set(weightGridSet("profiles", bits).map(layoutKey));
      expect(set.size).toBe(weightGridNames.length);
      for (const p of Object.values(profiles)) {
        const grids = [p.weight, ...Object.values(p.ops ?? {}).flatMap((o) => (o?.weight ? [o.weight] : []))];
        for (const g of grids.filter((w) => w.bits === bits))
          expect(set.has(layoutKey(g)), `${p.name}: ${layoutKey(g)}`).toBe(true);
      }
    }
  });

  it("takes names at the recipe's bits, GridSpecs as they are, and refuses what it cannot use", () => {
    const [a, b] = weightGridSet(["power-of-two-per-tensor", int4SymmetricPerTensor], 4);
    expect(a!.bits).toBe(4);
    expect(a!.scaleConstraint).toBe("power-of-two");
    expect(b).toEqual(int4SymmetricPerTensor);
    expect(() => weightGridSet([], 4, "quantTrim")).toThrow(/quantTrim: grids must list at least one grid/);
    expect(() => weightGridSet(["nope" as never], 4, "quantTrim")).toThrow(/quantTrim: grids\[0\] is 'nope'/);
    expect(() => weightGridSet(["symmetric-per-tensor", "symmetric-per-tensor"], 4)).toThrow(/twice/);
    expect(() => weightGridSet([int8SymmetricPerTensor], 4)).toThrow(
      /grids\[0\] has 8 bits, but the recipe trains at 4/,
    );
    expect(() => weightGridSet("all" as never, 4)).toThrow(/grids must be "profiles" or a list/);
    expect(parseWeightGridSet("profiles")).toBe("profiles");
    expect(parseWeightGridSet("symmetric-per-tensor, asymmetric-per-tensor")).toEqual([
      "symmetric-per-tensor",
      "asymmetric-per-tensor",
    ]);
    expect(() => parseWeightGridSet("symmetric-per-tensor,bogus")).toThrow(
      /parseWeightGridSet: unknown grid 'bogus'/,
    );
  });
});

describe("multi-grid PFQ in quantTrim", () => {
  it("draws are seeded: the same seed repeats the sequence, another seed changes it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        const a = drawnGrids({ grids: "profiles", seed }, 40).map((g) => layoutKey(g[0]!));
        const b = drawnGrids({ grids: "profiles", seed }, 40).map((g) => layoutKey(g[0]!));
        const c = drawnGrids({ grids: "profiles", seed: seed + 1 }, 40).map((g) => layoutKey(g[0]!));
        expect(b).toEqual(a);
        expect(c).not.toEqual(a);
      }),
      { numRuns: 8 },
    );
  });

  it('every grid of the set is used, and "model" sampling gives every layer the same grid each step', () => {
    const steps = drawnGrids({ grids: "profiles", seed: 3 }, 200);
    const used = new Set(steps.map((g) => layoutKey(g[0]!)));
    expect(used).toEqual(new Set(weightGridSet("profiles", 4).map(layoutKey)));
    for (const layers of steps) expect(new Set(layers.map(layoutKey)).size).toBe(1);
  });

  it('"layer" sampling draws per layer: layers disagree on some step, and each still uses every grid', () => {
    const steps = drawnGrids({ grids: "profiles", gridSampling: "layer", seed: 3 }, 200);
    expect(steps.some((layers) => new Set(layers.map(layoutKey)).size > 1)).toBe(true);
    const layerCount = steps[0]!.length;
    for (let l = 0; l < layerCount; l++)
      expect(new Set(steps.map((g) => layoutKey(g[l]!))).size).toBe(weightGridNames.length);
  });

  it("the single-grid default is bit-identical to the method composed by hand, and a one-grid set changes nothing", () => {
    // The reference: prepareQat + the default curriculum + the reverse pruner, driven as the recipe documents.
    const ref = tiny(1);
    const lambda = new LambdaSchedule({ kind: "quant-trim", totalSteps: STEPS });
    const qat = prepareQat(ref, {
      inputShape,
      weight: int4SymmetricPerTensor,
      activation: int8AsymmetricPerTensor,
      clipMask: false,
    });
    const rp = new ReversePruner(
      ref.namedParameters().map(([name, param]) => ({ name, param })),
      { grid: int4SymmetricPerTensor, schedule: lambda, pFinal: 0.99, onWarning: () => {} },
    );
    const freeze = Math.max(1, lambda.firstFullStep);
    trainClassifier(ref, data, {
      epochs: EPOCHS,
      batchSize: BATCH,
      lr: 3e-3,
      seed: 1,
      hooks: {
        beforeStep(step) {
          qat.setLambda(lambda.at(step));
          if (step === freeze) {
            qat.freezeObservers();
            qat.freezeBatchNormStats();
          }
        },
        afterStep(step) {
          rp.step(step);
        },
      },
    });
    const expected = weightsOf(ref);
    expect(weightsOf(trainWith({}))).toEqual(expected);
    expect(weightsOf(trainWith({ grids: [int4SymmetricPerTensor], seed: 9 }))).toEqual(expected);
    // And the option does act: the whole set trains a different model.
    expect(weightsOf(trainWith({ grids: "profiles" }))).not.toEqual(expected);
  });

  it("records the set in settings only when it is used", () => {
    const plain = quantTrim(buildModel("mlp", mnist), { totalSteps: 4, inputShape, onWarning: () => {} });
    expect(plain.settings).not.toHaveProperty("multiGrid");
    const mg = quantTrim(buildModel("mlp", mnist), {
      totalSteps: 4,
      inputShape,
      grids: ["symmetric-per-channel", "asymmetric-per-tensor"],
      seed: 2,
      onWarning: () => {},
    });
    expect(mg.settings.multiGrid).toMatchObject({ sampling: "model", seed: 2 });
    expect((mg.settings.multiGrid as { grids: GridSpec[] }).grids.map((g) => g.granularity)).toEqual([
      "per-channel",
      "per-tensor",
    ]);
  });

  it("fp, qat and rp ignore grids (as they ignore pFinal): they train bit-identically with and without it", () => {
    for (const recipe of ["fp", "qat", "rp"] as const) {
      const plain = weightsOf(trainWith({ recipe }));
      expect(weightsOf(trainWith({ recipe, grids: "profiles", seed: 4 }))).toEqual(plain);
    }
    // They still check it: a bad set is refused whatever the recipe.
    expect(() =>
      quantTrim(tiny(0), { recipe: "fp", totalSteps: 4, inputShape, grids: ["bogus" as never] }),
    ).toThrow(/quantTrim: grids\[0\] is 'bogus'/);
  });

  it("refuses gridSampling without grids and bad values, naming the option", () => {
    const make = (o: Partial<QuantTrimOptions>) =>
      quantTrim(buildModel("mlp", mnist), { totalSteps: 4, inputShape, onWarning: () => {}, ...o });
    expect(() => make({ recipe: "pfq", grids: "profiles" })).not.toThrow();
    expect(() => make({ gridSampling: "layer" })).toThrow(/quantTrim: gridSampling needs grids/);
    expect(() => make({ grids: "profiles", gridSampling: "step" as never })).toThrow(
      /quantTrim: gridSampling must be "model" or "layer"/,
    );
    for (const seed of [-1, 1.5, Number.NaN])
      expect(() => make({ grids: "profiles", seed })).toThrow(/quantTrim: seed must be an integer ≥ 0/);
  });
});

describe("pow2-aligned trimming in quantTrim", () => {
  it("passes alignPow2 to the pruner: τ/qmax is a power of two once trimming runs", () => {
    const model = buildModel("mlp", mnist);
    const run = quantTrim(model, {
      recipe: "rp",
      totalSteps: 10,
      inputShape,
      lambda: { kind: "constant", value: 1 },
      alignPow2: 127,
      onWarning: () => {},
    });
    run.afterStep(0);
    const taus = run.pruner!.report().layers.flatMap((l) => l.thresholds);
    expect(taus.length).toBeGreaterThan(0);
    for (const t of taus) expect(Number.isInteger(Math.log2(t / 127))).toBe(true);
    expect(run.settings.alignPow2).toBe(127);
  });

  it("recipes without reverse pruning ignore alignPow2 (nothing recorded), and a bad value is refused", () => {
    for (const recipe of ["fp", "qat", "pfq"] as const) {
      const run = quantTrim(tiny(0), {
        recipe,
        totalSteps: 4,
        inputShape,
        alignPow2: true,
        onWarning: () => {},
      });
      expect(run.pruner).toBeNull();
      expect(run.settings).not.toHaveProperty("alignPow2");
    }
    expect(() =>
      quantTrim(tiny(0), { recipe: "fp", totalSteps: 4, inputShape, alignPow2: "on" as never }),
    ).toThrow(/quantTrim: alignPow2 must be a boolean or a qmax number/);
    expect(() =>
      quantTrim(tiny(0), { totalSteps: 4, inputShape, alignPow2: 0, onWarning: () => {} }),
    ).toThrow(/ReversePruner: layer '1.weight': alignPow2 qmax must be an integer/);
  });
});
