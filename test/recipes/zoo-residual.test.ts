import { nn, noGrad, Variable } from "@quant-trim/autograd";
import { buildModel, zooNames } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

const mnist = { inputShape: [1, 28, 28], classes: 10 } as const;

describe("zoo: residual and depthwise-separable models", () => {
  it("are registered and map MNIST digits to 10 logits", () => {
    expect(zooNames).toContain("residual");
    expect(zooNames).toContain("depthwise-separable");
    for (const name of ["residual", "depthwise-separable"]) {
      const m = buildModel(name, mnist);
      m.eval();
      const y = noGrad(() => m.call(new Variable(T.randn([3, 1, 28, 28], new T.Rng(1)))));
      expect(y.shape).toEqual([3, 10]);
      expect(y.data.toArray().every(Number.isFinite)).toBe(true);
    }
  });

  it("residual: a BatchNorm block whose sum is an Add module with a ReLU after it", () => {
    const g = nn.trace(buildModel("residual", mnist), T.zeros([1, 1, 28, 28]));
    const add = g.nodes.find((n) => n.type === "Add")!;
    expect(add.name).toBe("block.add");
    // The shortcut is the block input (the stem's pooled output), the branch ends in the second BatchNorm.
    const producer = (id: string) => g.nodes.find((n) => n.output === id)!;
    expect(producer(add.inputs[0]!).name).toBe("stem.3");
    expect(producer(add.inputs[1]!).name).toBe("block.bn2");
    expect(g.nodes.find((n) => n.inputs.includes(add.output))!.type).toBe("ReLU");
    expect(g.nodes.at(-1)!.inputShapes[0]).toEqual([1, 8 * 7 * 7]);
  });

  it("depthwise-separable: depthwise 3×3 + BN + ReLU6, pointwise 1×1 + BN + ReLU6, a residual add", () => {
    const m = buildModel("depthwise-separable", mnist);
    const dw = m.namedModules().find(([n]) => n === "block1.depthwise")![1] as nn.Conv2d;
    expect(dw.options.groups).toBe(16);
    expect(dw.weight.shape).toEqual([16, 1, 3, 3]);
    const pw = m.namedModules().find(([n]) => n === "block2.pointwise")![1] as nn.Conv2d;
    expect(pw.weight.shape).toEqual([32, 16, 1, 1]);
    const types = nn.trace(m, T.zeros([1, 1, 28, 28])).nodes.map((n) => `${n.name}:${n.type}`);
    expect(types).toEqual([
      "stem.0:Conv2d",
      "stem.1:BatchNorm2d",
      "stem.2:ReLU6",
      "block1.depthwise:Conv2d",
      "block1.bn1:BatchNorm2d",
      "block1.relu1:ReLU6",
      "block1.pointwise:Conv2d",
      "block1.bn2:BatchNorm2d",
      "block1.relu2:ReLU6",
      "block1.add:Add",
      "block2.depthwise:Conv2d",
      "block2.bn1:BatchNorm2d",
      "block2.relu1:ReLU6",
      "block2.pointwise:Conv2d",
      "block2.bn2:BatchNorm2d",
      "block2.relu2:ReLU6",
      "head.0:Flatten",
      "head.1:Linear",
    ]);
  });

  it("take other input shapes and refuse bad options by name", () => {
    expect(
      buildModel("residual", { inputShape: [3, 16, 16], classes: 5 })
        .namedParameters()
        .at(-2)![1].shape,
    ).toEqual([5, 8 * 4 * 4]);
    const dw = buildModel("depthwise-separable", { inputShape: [3, 9, 9], classes: 4 });
    expect(noGrad(() => dw.eval().call(new Variable(T.zeros([2, 3, 9, 9])))).shape).toEqual([2, 4]);
    expect(() => buildModel("residual", { inputShape: [1, 3, 3], classes: 10 })).toThrow(
      /residual: .*too small/,
    );
    expect(() => buildModel("depthwise-separable", { inputShape: [28, 28], classes: 10 })).toThrow(
      /depthwise-separable: inputShape must have 3 dimensions/,
    );
    expect(() => buildModel("residual", { ...mnist, seed: -1 })).toThrow(/residual: seed must be/);
  });
});
