import { buildModel, quantTrim, type RecipeName } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE } from "@quant-trim/recipes/node";
import { untrimmableWarning } from "quant-trim/internal";
import { describe, expect, it } from "vitest";

const mnist = { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES };

function recipeOn(arch: "mlp" | "cnn", recipe: RecipeName, totalSteps: number, bits: 4 | 8 = 8) {
  return quantTrim(buildModel(arch, mnist), {
    recipe,
    bits,
    granularity: "per-channel",
    totalSteps,
    inputShape: [1, ...MNIST_SAMPLE_SHAPE],
    onWarning: () => {},
  });
}

describe("the warning when reverse pruning cannot trim anything", () => {
  it("is given for INT8 per-channel on the mlp, whose groups (784 and 256 weights) are below 1000", () => {
    for (const recipe of ["rp", "quant-trim"] as const) {
      const w = untrimmableWarning(recipeOn("mlp", recipe, 10));
      expect(w).toBe(
        "warning: reverse pruning will trim nothing at pFinal 0.999: a weight group needs at least 1000 weights to lose one, and the largest per-channel group has 784; try --bits 4 or --granularity per-tensor",
      );
    }
  });

  it("tells the truth: at λ = 1 the INT8 per-channel pruner moves no weight, the INT4 one does", () => {
    const int8 = recipeOn("mlp", "rp", 10, 8);
    int8.pruner!.step(9);
    expect(int8.pruner!.report().layers.map((l) => l.trimmed)).toEqual([0, 0]);
    const int4 = recipeOn("mlp", "rp", 10, 4);
    expect(untrimmableWarning(int4)).toBeNull();
    int4.pruner!.step(9);
    expect(int4.pruner!.report().layers.every((l) => l.trimmed > 0)).toBe(true);
  });

  it("is not given per-tensor, nor for recipes without reverse pruning", () => {
    const model = buildModel("mlp", mnist);
    const perTensor = quantTrim(model, {
      recipe: "rp",
      bits: 8,
      granularity: "per-tensor",
      totalSteps: 10,
      inputShape: [1, ...MNIST_SAMPLE_SHAPE],
    });
    expect(untrimmableWarning(perTensor)).toBeNull();
    for (const recipe of ["fp", "qat", "pfq"] as const)
      expect(untrimmableWarning(recipeOn("mlp", recipe, 10))).toBeNull();
  });
});
