import { nn, Variable } from "@quant-trim/autograd";
import { LambdaSchedule } from "@quant-trim/quant";
import { batches, buildModel, head, quantTrim, type RecipeName } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, mnistSplit } from "@quant-trim/recipes/node";
import { describe, expect, it } from "vitest";

const { train } = mnistSplit(0);
const [batch] = [...batches(head(train, 4), 4)];

const mnist = { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES };

function recipeOn(arch: "mlp" | "cnn-bn", recipe: RecipeName, totalSteps: number, bits: 4 | 8 = 8) {
  const model = buildModel(arch, mnist);
  const applied = quantTrim(model, {
    recipe,
    bits,
    granularity: "per-channel",
    totalSteps,
    inputShape: [1, ...MNIST_SAMPLE_SHAPE],
    onWarning: () => {},
  });
  /** One training step as trainClassifier runs it: the recipe's hook, then a forward pass. */
  const step = (s: number) => {
    applied.beforeStep(s);
    model.call(new Variable(batch!.x));
  };
  const frozen = () => applied.qat!.activationPoints.map((p) => p.observer.frozen);
  return { model, applied, step, frozen };
}

describe("when the fake-quant recipes freeze observers and BN statistics", () => {
  it("qat freezes at the curriculum's first step with λ = 1 (⌈0.8·T⌉), not a step early", () => {
    // T = 9: 0.8·T = 7.2, so the quant-trim λ is below 1 at step 7 and first 1 at step 8.
    const curriculum = new LambdaSchedule({ kind: "quant-trim", totalSteps: 9 });
    expect(curriculum.at(7)).toBeLessThan(1);
    expect(curriculum.at(8)).toBe(1);
    for (const recipe of ["qat", "quant-trim"] as const) {
      const { applied, step, frozen, model } = recipeOn("cnn-bn", recipe, 9);
      for (let s = 0; s <= 7; s++) step(s);
      expect(frozen().every((f) => !f)).toBe(true);
      const bns = model.namedModules().flatMap(([, m]) => (m instanceof nn.BatchNorm2d ? [m] : []));
      expect(bns.length).toBe(2);
      expect(bns.every((b) => !b.frozenStats)).toBe(true);
      step(8);
      expect(frozen().every((f) => f)).toBe(true);
      expect(bns.every((b) => b.frozenStats)).toBe(true);
      expect(applied.freezeStep).toBe(8);
    }
  });

  it("never freezes before one step was observed: with T = 1 the observers record step 0", () => {
    for (const recipe of ["qat", "pfq", "quant-trim"] as const) {
      const { applied, step, frozen } = recipeOn("mlp", recipe, 1);
      step(0);
      expect(frozen().every((f) => !f)).toBe(true);
      const ranges = Object.values(applied.qat!.observerState()) as { min: (number | null)[] }[];
      expect(ranges.length).toBeGreaterThan(0);
      for (const r of ranges) expect(r.min.every((v) => v !== null)).toBe(true);
    }
  });
});
