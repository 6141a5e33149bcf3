import { nn } from "@quant-trim/autograd";
import { buildModel, zoo, zooNames } from "@quant-trim/recipes";
import { describe, expect, it } from "vitest";

const mnistLike = { inputShape: [1, 28, 28], classes: 10 } as const;

describe("the model zoo", () => {
  it("lists every registered builder by name", () => {
    expect(zooNames).toEqual(Object.keys(zoo));
    expect(zooNames.slice(0, 3)).toEqual(["mlp", "cnn", "cnn-bn"]);
  });

  it("builds the documented MNIST layer shapes from the options, not from built-in sizes", () => {
    const shapes = (name: string, o: { inputShape: readonly number[]; classes: number }) =>
      Object.fromEntries(
        buildModel(name, o)
          .namedParameters()
          .map(([k, p]) => [k, p.shape]),
      );
    expect(shapes("mlp", mnistLike)).toEqual({
      "1.weight": [256, 784],
      "1.bias": [256],
      "3.weight": [10, 256],
      "3.bias": [10],
    });
    expect(shapes("cnn", mnistLike)["7.weight"]).toEqual([10, 784]);
    expect(shapes("cnn-bn", mnistLike)["9.weight"]).toEqual([10, 784]);
    // 3 channels of 32×32 and 5 classes: 16 channels of 8×8 reach the classifier.
    const other = shapes("cnn", { inputShape: [3, 32, 32], classes: 5 });
    expect(other["0.weight"]).toEqual([8, 3, 3, 3]);
    expect(other["7.weight"]).toEqual([5, 16 * 8 * 8]);
    expect(shapes("mlp", { inputShape: [7], classes: 3 })["1.weight"]).toEqual([256, 7]);
  });

  it("same seed, same weights; the cnn and cnn-bn draw the same convolution weights", () => {
    const a = buildModel("cnn", { ...mnistLike, seed: 3 }).stateDict();
    const b = buildModel("cnn", { ...mnistLike, seed: 3 }).stateDict();
    const c = buildModel("cnn", { ...mnistLike, seed: 4 }).stateDict();
    expect(Array.from(a["0.weight"]!.values())).toEqual(Array.from(b["0.weight"]!.values()));
    expect(Array.from(a["0.weight"]!.values())).not.toEqual(Array.from(c["0.weight"]!.values()));
    const bn = buildModel("cnn-bn", { ...mnistLike, seed: 3 });
    expect(bn.namedModules().some(([, m]) => m instanceof nn.BatchNorm2d)).toBe(true);
    expect(Array.from(bn.stateDict()["4.weight"]!.values())).toEqual(Array.from(a["3.weight"]!.values()));
  });

  it("refuses bad options, naming the builder and the option", () => {
    expect(() => buildModel("resnet", mnistLike)).toThrow(/buildModel: unknown model 'resnet'/);
    expect(() => buildModel("mlp", { ...mnistLike, classes: 1 })).toThrow(/mlp: classes must be/);
    expect(() => buildModel("cnn", { inputShape: [28, 28], classes: 10 })).toThrow(
      /cnn: inputShape must have 3 dimensions/,
    );
    expect(() => buildModel("cnn", { inputShape: [1, 3, 3], classes: 10 })).toThrow(/cnn: .*too small/);
    expect(() => buildModel("mlp", { ...mnistLike, seed: 1.5 })).toThrow(/mlp: seed must be/);
    expect(() => buildModel("mlp", { ...mnistLike, clases: 10 } as never)).toThrow(
      /mlp: unknown option 'clases'/,
    );
  });
});
