import { nn, Variable } from "@quant-trim/autograd";
import { LambdaSchedule } from "@quant-trim/quant";
import { describe, expect, it } from "vitest";
import { batches, mnistSplit } from "../../packages/cli/src/data/mnist.js";
import { buildModel } from "../../packages/cli/src/models.js";
import { head } from "../../packages/cli/src/quantized-eval.js";
import { applyRecipe, type RecipeName } from "../../packages/cli/src/recipes.js";
import { untrimmableWarning } from "../../packages/cli/src/trim-warning.js";

const { train } = mnistSplit(0);
const [batch] = [...batches(head(train, 4), 4)];

function recipeOn(arch: "mlp" | "cnn-bn", recipe: RecipeName, totalSteps: number, bits: 4 | 8 = 8) {
  const model = buildModel(arch, 0);
  const applied = applyRecipe(model, {
    recipe,
    bits,
    granularity: "per-channel",
    totalSteps,
    inputShape: [1, 1, 28, 28],
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

describe("the warning when reverse pruning cannot trim anything", () => {
  it("is given for INT8 per-channel on the mlp, whose groups (784 and 256 weights) are below 1000", () => {
    for (const recipe of ["rp", "quant-trim"] as const) {
      const w = untrimmableWarning(recipeOn("mlp", recipe, 10).applied);
      expect(w).toBe(
        "warning: reverse pruning will trim nothing at pFinal 0.999: a weight group needs at least 1000 weights to lose one, and the largest per-channel group has 784; try --bits 4 or --granularity per-tensor",
      );
    }
  });

  it("tells the truth: at λ = 1 the INT8 per-channel pruner moves no weight, the INT4 one does", () => {
    const int8 = recipeOn("mlp", "rp", 10, 8).applied;
    int8.pruner!.step(9);
    expect(int8.pruner!.report().layers.map((l) => l.trimmed)).toEqual([0, 0]);
    const int4 = recipeOn("mlp", "rp", 10, 4).applied;
    expect(untrimmableWarning(int4)).toBeNull();
    int4.pruner!.step(9);
    expect(int4.pruner!.report().layers.every((l) => l.trimmed > 0)).toBe(true);
  });

  it("is not given per-tensor, nor for recipes without reverse pruning", () => {
    const model = buildModel("mlp", 0);
    const perTensor = applyRecipe(model, {
      recipe: "rp",
      bits: 8,
      granularity: "per-tensor",
      totalSteps: 10,
      inputShape: [1, 1, 28, 28],
    });
    expect(untrimmableWarning(perTensor)).toBeNull();
    for (const recipe of ["fp", "qat", "pfq"] as const)
      expect(untrimmableWarning(recipeOn("mlp", recipe, 10).applied)).toBeNull();
  });
});
