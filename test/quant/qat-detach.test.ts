import { nn, noGrad, Variable } from "@quant-trim/autograd";
import { FUSION_PATTERNS, int4SymmetricPerTensor, prepareQat } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

/** conv-BN-ReLU, pool, a stand-alone ReLU6 after a linear layer: every fusion pattern that applies here. */
function model(seed = 0): nn.Sequential {
  const rng = new T.Rng(seed);
  return new nn.Sequential(
    new nn.Conv2d(2, 4, 3, { padding: 1, rng }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d({ kernel: 2 }),
    new nn.Flatten(),
    new nn.Linear(4 * 3 * 3, 5, { rng }),
    new nn.ReLU6(),
  );
}

const input = () => T.rand([3, 2, 6, 6], new T.Rng(9), -2, 2);
const forward = (m: nn.Module) => noGrad(() => m.call(new Variable(input()))).data.toFloat32Array();

describe("QatModel.detach", () => {
  it("gives back the float model bit for bit: hooks, weight hooks and BatchNorm's statistics setting", () => {
    const m = model();
    m.eval();
    const before = forward(m);
    const qat = prepareQat(m, { inputShape: [1, 2, 6, 6], weight: int4SymmetricPerTensor });
    qat.setLambda(1);
    qat.calibrate(() => forward(m));
    qat.freezeBatchNormStats();
    const quantized = forward(m);
    expect(quantized).not.toEqual(before);
    qat.detach();
    expect(forward(m)).toEqual(before);
    const bn = m.namedModules().find(([, x]) => x instanceof nn.BatchNorm2d)![1] as nn.BatchNorm2d;
    expect(bn.frozenStats).toBe(false);
    for (const [, x] of m.namedModules()) {
      expect(x.hooks.input).toBeUndefined();
      expect(x.hooks.output).toBeUndefined();
      if (x instanceof nn.Linear || x instanceof nn.Conv2d) expect(x.weightHook).toBeNull();
    }
    qat.detach(); // a second call changes nothing
    expect(forward(m)).toEqual(before);
  });

  it("keeps hooks that were there before, and a second preparation detaches back to the first", () => {
    const m = model(1);
    m.eval();
    const marker = (y: Variable) => y;
    m.hooks.output = marker;
    const first = prepareQat(m, { inputShape: [1, 2, 6, 6] });
    first.setLambda(1);
    first.calibrate(() => forward(m));
    const withFirst = forward(m);
    const second = prepareQat(m, { inputShape: [1, 2, 6, 6], weight: int4SymmetricPerTensor });
    second.setLambda(1);
    second.calibrate(() => forward(m));
    second.detach();
    expect(forward(m)).toEqual(withFirst);
    first.detach();
    expect(m.hooks.output).toBe(marker);
  });

  it("the fusion table places the documented points: conv+BN+ReLU and linear+ReLU6 blocks", () => {
    expect(FUSION_PATTERNS.find((p) => p.anchor === "Conv2d")).toMatchObject({ fold: "BatchNorm2d" });
    const qat = prepareQat(model(), { inputShape: [1, 2, 6, 6] });
    expect(qat.describe().map((p) => p.name)).toEqual([
      "0.weight",
      "5.weight",
      "input",
      "2.output",
      "6.output",
    ]);
  });
});
