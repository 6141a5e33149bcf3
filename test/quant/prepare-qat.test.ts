import { Adam, nn, noGrad, ops, Variable } from "@quant-trim/autograd";
import { computeQParams, fakeQuantize, gridSpec, minMax, prepareQat } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

function cnnBn(seed = 0): nn.Sequential {
  const rng = new T.Rng(seed);
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1, rng }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d({ kernel: 2 }),
    new nn.Flatten(),
    new nn.Linear(4 * 4 * 4, 3, { rng }),
  );
}

class ResBlock extends nn.Module {
  readonly conv = this.registerModule("conv", new nn.Conv2d(2, 2, 3, { padding: 1, rng: new T.Rng(1) }));
  readonly add = this.registerModule("add", new nn.Add());
  readonly relu = this.registerModule("relu", new nn.ReLU());
  forward(x: Variable): Variable {
    return this.relu.call(this.add.call(x, this.conv.call(x)));
  }
}

const input = () => T.rand([6, 1, 8, 8], new T.Rng(9), 0, 1);

describe("prepareQat", () => {
  it("lists a weight point per Conv/Linear and an activation point per block output and the input", () => {
    const qat = prepareQat(cnnBn(), { inputShape: [1, 1, 8, 8] });
    const pts = qat.describe().map((p) => `${p.kind}:${p.name}:${p.grid.bits}:${p.grid.granularity}`);
    expect(pts).toEqual([
      "weight:0.weight:8:per-channel",
      "weight:5.weight:8:per-channel",
      "activation:input:8:per-tensor",
      // conv + bn + relu is one block: a single point after the ReLU
      "activation:2.output:8:per-tensor",
      "activation:5.output:8:per-tensor",
    ]);
  });

  it("floatOutput: no point on the block that gives the model's output; the logits are its float sums", () => {
    const floatOut = cnnBn(4);
    const gridded = cnnBn(4);
    const a = prepareQat(floatOut, { inputShape: [1, 1, 8, 8], floatOutput: true });
    const b = prepareQat(gridded, { inputShape: [1, 1, 8, 8] });
    expect(a.describe().map((p) => p.name)).toEqual(["0.weight", "5.weight", "input", "2.output"]);
    const x = input();
    for (const [qat, m] of [
      [a, floatOut],
      [b, gridded],
    ] as const) {
      qat.setLambda(1);
      m.eval();
      qat.calibrate(() => noGrad(() => void m.call(new Variable(x))));
    }
    const ya = noGrad(() => floatOut.call(new Variable(x))).data.toFloat32Array();
    const yb = noGrad(() => gridded.call(new Variable(x))).data.toFloat32Array();
    // Everything before the output is the same computation, so the gridded model's logits are exactly
    // the float-output model's logits put on its output point's grid — and differ from them.
    const last = b.describe().at(-1)!;
    expect(last.name).toBe("5.output");
    expect(Array.from(yb)).toEqual(Array.from(fakeQuantize(ya, last.qparams!, last.grid)));
    expect(Array.from(ya)).not.toEqual(Array.from(yb));
  });

  it("puts residual adds (with their ReLU fused) on the list", () => {
    const qat = prepareQat(new ResBlock(), { inputShape: [1, 2, 4, 4] });
    expect(qat.describe().map((p) => p.name)).toEqual(["conv.weight", "input", "conv.output", "relu.output"]);
  });

  it("with λ = 0 the instrumented model computes exactly what the float model computes", () => {
    const ref = cnnBn(3);
    const m = cnnBn(3);
    const qat = prepareQat(m, { inputShape: [1, 1, 8, 8] });
    qat.setLambda(0);
    const x = input();
    ref.eval();
    m.eval();
    const a = noGrad(() => ref.call(new Variable(x))).data.toArray();
    const b = noGrad(() => m.call(new Variable(x))).data.toArray();
    b.forEach((v, i) => {
      expect(v).toBeCloseTo(a[i]!, 5);
    });
  });

  it("folds BatchNorm into the conv weight before fake quantization (equals the deployed folded conv)", () => {
    const m = cnnBn(4);
    const bn = m.layers[1] as nn.BatchNorm2d;
    bn.runningMean.data.set([0.1, -0.2, 0.3, 0]);
    bn.runningVar.data.set([0.5, 2, 1, 0.25]);
    bn.weight.data.data.set([1.5, -0.5, 1, 2]);
    bn.bias.data.data.set([0.1, 0.2, -0.3, 0]);
    const conv = m.layers[0] as nn.Conv2d;
    const wGrid = gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" });
    const qat = prepareQat(m, { inputShape: [1, 1, 8, 8], weight: wGrid });
    qat.setLambda(1);
    qat.freezeBatchNormStats();
    qat.freezeObservers();
    m.eval();
    // Deployment reference: W' = W·γ/σ (fake-quantized), b' = (b − μ)·γ/σ + β, conv, relu.
    const sf = [0, 1, 2, 3].map((c) => bn.weight.data.get(c) / Math.sqrt(bn.runningVar.get(c) + bn.eps));
    const wf = conv.weight.data.toFloat32Array().map((w, i) => w * sf[Math.floor(i / 9)]!);
    const r = minMax(wf, wGrid, [4, 1, 3, 3]);
    const wq = fakeQuantize(wf, computeQParams(r.min, r.max, wGrid), wGrid, [4, 1, 3, 3]);
    const bf = [0, 1, 2, 3].map(
      (c) => (conv.bias!.data.get(c) - bn.runningMean.get(c)) * sf[c]! + bn.bias.data.get(c),
    );
    const x = input();
    const ref = T.relu(T.conv2d(x, T.fromData(wq, [4, 1, 3, 3]), T.tensor(bf), { padding: 1 }));
    // Run the instrumented conv+bn (+ its weight hook) and compare before the activation fake-quant.
    const y = noGrad(() => ops.relu(bn.forward(conv.call(new Variable(x))))).data.toArray();
    const yr = ref.toArray();
    y.forEach((v, i) => {
      expect(v).toBeCloseTo(yr[i]!, 4);
    });
  });

  it("setLambda drives every point; the observers freeze when the ramp reaches 1", () => {
    const m = cnnBn(5);
    const qat = prepareQat(m, { inputShape: [1, 1, 8, 8] });
    qat.setLambda(0.5);
    m.call(new Variable(input()));
    expect(qat.activationPoints.every((p) => !p.observer.frozen)).toBe(true);
    const before = qat.activationPoints[1]!.qparams!.scale[0];
    qat.setLambda(1);
    expect(qat.activationPoints.every((p) => p.observer.frozen)).toBe(true);
    m.call(new Variable(T.mul(input(), 10)));
    expect(qat.activationPoints[1]!.qparams!.scale[0]).toBe(before);
    expect(() => qat.setLambda(-0.1)).toThrow(/lambda must be in \[0, 1\]/);
  });

  it("a schedule that starts at λ = 1 does not freeze observers before they have seen data", () => {
    const qat = prepareQat(cnnBn(), { inputShape: [1, 1, 8, 8] });
    qat.setLambda(1);
    expect(qat.activationPoints.some((p) => p.observer.frozen)).toBe(false);
  });

  it("per-layer overrides (by name and @first/@last) and clear errors for unknown names", () => {
    const int4 = gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" });
    const int8 = gridSpec({ bits: 8, signed: true, symmetric: true, granularity: "per-channel" });
    const qat = prepareQat(cnnBn(), {
      inputShape: [1, 1, 8, 8],
      weight: int4,
      overrides: { "@first": { weight: int8 }, "@last": { weight: int8 } },
    });
    expect(qat.weightPoints.map((p) => p.grid.bits)).toEqual([8, 8]);
    const q2 = prepareQat(cnnBn(), {
      inputShape: [1, 1, 8, 8],
      weight: int4,
      overrides: { "5": { weight: int8 } },
    });
    expect(q2.weightPoints.map((p) => p.grid.bits)).toEqual([4, 8]);
    expect(() => prepareQat(cnnBn(), { inputShape: [1, 1, 8, 8], overrides: { fc9: {} } })).toThrow(
      /override 'fc9' names no module; modules are 0, 1, 2/,
    );
  });

  it("multi-grid mode samples each point's grid per step from its set, reproducibly", () => {
    const grids = [
      gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" }),
      gridSpec({ bits: 4, signed: true, symmetric: false, granularity: "per-tensor" }),
      gridSpec({
        bits: 4,
        signed: true,
        symmetric: true,
        granularity: "per-tensor",
        scaleConstraint: "power-of-two",
      }),
    ];
    const run = () => {
      const qat = prepareQat(cnnBn(), { inputShape: [1, 1, 8, 8], weight: grids, rng: new T.Rng(3) });
      const seen: string[] = [];
      for (let i = 0; i < 12; i++) {
        qat.sampleGrids();
        seen.push(
          `${qat.weightPoints[0]!.grid.symmetric}/${qat.weightPoints[0]!.grid.granularity}/${qat.weightPoints[0]!.grid.scaleConstraint}`,
        );
      }
      return seen;
    };
    const a = run();
    expect(new Set(a).size).toBe(3);
    expect(run()).toEqual(a);
    const noRng = prepareQat(cnnBn(), { inputShape: [1, 1, 8, 8], weight: grids });
    expect(() => noRng.sampleGrids()).toThrow(/multi-grid training needs config.rng/);
  });

  it("stochastic-rounding grids draw from the QAT generator, reproducibly", () => {
    const grid = gridSpec({
      bits: 4,
      signed: true,
      symmetric: true,
      granularity: "per-channel",
      rounding: "stochastic",
    });
    const run = () => {
      const m = cnnBn(7);
      prepareQat(m, { inputShape: [1, 1, 8, 8], weight: grid, rng: new T.Rng(11) }).setLambda(1);
      m.eval();
      return noGrad(() => m.call(new Variable(input()))).data.toArray();
    };
    expect(run()).toEqual(run());
    expect(() => prepareQat(cnnBn(7), { inputShape: [1, 1, 8, 8], weight: grid }).setLambda(1)).not.toThrow();
    const m = cnnBn(7);
    prepareQat(m, { inputShape: [1, 1, 8, 8], weight: grid }).setLambda(1);
    expect(() => m.call(new Variable(input()))).toThrow(/stochastic rounding needs a seeded Rng/);
  });

  it("trains: QAT at INT4 on a toy problem still lowers the loss", () => {
    const m = new nn.Sequential(
      new nn.Linear(4, 16, { rng: new T.Rng(1) }),
      new nn.ReLU(),
      new nn.Linear(16, 2, { rng: new T.Rng(2) }),
    );
    const qat = prepareQat(m, {
      inputShape: [1, 4],
      weight: gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" }),
    });
    qat.setLambda(1);
    const rng = new T.Rng(0);
    const x = T.randn([64, 4], rng);
    const labels = Array.from({ length: 64 }, (_, i) => (x.get(i, 0) + x.get(i, 1) > 0 ? 1 : 0));
    const opt = new Adam(qat.parameters(), { lr: 0.01 });
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) {
      opt.zeroGrad();
      const loss = ops.crossEntropy(m.call(new Variable(x)), labels);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    expect(losses[59]!).toBeLessThan(0.5 * losses[0]!);
  });
});

describe("prepareQat with LSQ", () => {
  it("learns weight and activation scales: they start from the observed ranges and receive gradients", () => {
    const m = cnnBn(6);
    const x = input();
    const qat = prepareQat(m, {
      inputShape: [1, 1, 8, 8],
      lsq: { weights: true, activations: true },
      lsqInitBatch: x,
    });
    const learned = qat.describe().filter((p) => p.learned);
    expect(learned.map((p) => p.name)).toEqual(["0.weight", "5.weight", "input", "2.output", "5.output"]);
    // The input is in [0, 1): its initial INT8 asymmetric scale is about 1/255.
    const inputPoint = qat.activationPoints[0]!;
    expect(inputPoint.scale!.data.item() * 255).toBeGreaterThan(0.95);
    expect(inputPoint.scale!.data.item() * 255).toBeLessThanOrEqual(1);
    expect(qat.parameters().length).toBe(m.parameters().length + 2 + 2 * 3);
    qat.setLambda(1);
    const opt = new Adam(qat.parameters(), { lr: 1e-3 });
    opt.zeroGrad();
    ops.crossEntropy(m.call(new Variable(x)), [0, 1, 2, 0, 1, 2]).backward();
    for (const p of qat.points()) {
      expect(p.scale!.grad).not.toBeNull();
      expect(p.scale!.grad!.toArray().every(Number.isFinite)).toBe(true);
      expect(p.scale!.grad!.toArray().some((g) => g !== 0)).toBe(true);
    }
    const before = inputPoint.scale!.data.item();
    opt.step();
    expect(inputPoint.scale!.data.item()).not.toBe(before);
  });

  it("describes learned points with their current quantization parameters", () => {
    const qat = prepareQat(cnnBn(6), { inputShape: [1, 1, 8, 8], lsq: { weights: true } });
    const w = qat.describe().find((p) => p.name === "0.weight")!;
    expect(w.learned).toBe(true);
    expect(Array.from(w.qparams!.scale)).toEqual(Array.from(qat.weightPoints[0]!.scale!.data.values()));
    expect(Array.from(w.qparams!.zeroPoint)).toEqual([0, 0, 0, 0]);
  });

  it("refuses to describe a learned scale or zero point that has become NaN or Inf, naming point and channel", () => {
    const qat = prepareQat(cnnBn(6), {
      inputShape: [1, 1, 8, 8],
      lsq: { weights: true, activations: true },
      lsqInitBatch: input(),
    });
    expect(() => qat.describe()).not.toThrow();
    const zp = qat.activationPoints[1]!.zeroPoint!;
    zp.data.data[0] = Number.NaN;
    expect(() => qat.describe()).toThrow(/learned parameters of '.*': zeroPoint\[0\] is NaN/);
    zp.data.data[0] = 0;
    qat.weightPoints[0]!.scale!.data.data[2] = Number.POSITIVE_INFINITY;
    expect(() => qat.describe()).toThrow("learned parameters of '0.weight': scale[2] is Infinity");
  });

  it("starts a BN-folded conv's weight scale from the folded weight W·γ/√(var + eps)", () => {
    const m = cnnBn(6);
    const conv = m.layers[0] as nn.Conv2d;
    const bn = m.layers[1] as nn.BatchNorm2d;
    // trained-looking statistics, so the fold factor is far from 1 (≈ 10 · γ)
    bn.runningVar.data.fill(0.01);
    bn.weight.data.data.set([1, 2, 0.5, 3]);
    const qat = prepareQat(m, { inputShape: [1, 1, 8, 8], lsq: { weights: true } });
    const grid = qat.weightPoints[0]!.grid;
    const folded = T.mul(
      conv.weight.data,
      T.reshape(T.div(bn.weight.data, T.sqrt(T.add(bn.runningVar, bn.eps))), [4, 1, 1, 1]),
    );
    const r = minMax(folded.toFloat32Array(), grid, folded.shape);
    const expected = computeQParams(r.min, r.max, grid).scale;
    expect(Array.from(qat.weightPoints[0]!.scale!.data.values())).toEqual(Array.from(expected));
  });

  it("leaves BatchNorm's running statistics as they were after the initialisation pass", () => {
    const m = cnnBn(6);
    const before = Object.fromEntries(m.namedBuffers().map(([n, b]) => [n, b.toArray()]));
    prepareQat(m, { inputShape: [1, 1, 8, 8], lsq: { activations: true }, lsqInitBatch: input() });
    const after = Object.fromEntries(m.namedBuffers().map(([n, b]) => [n, b.toArray()]));
    expect(after).toEqual(before);
    expect(Object.keys(before)).toContain("1.running_var");
  });

  it("asks for an initialisation batch when activations are learned", () => {
    expect(() => prepareQat(cnnBn(), { inputShape: [1, 1, 8, 8], lsq: { activations: true } })).toThrow(
      /lsq.activations needs lsqInitBatch/,
    );
  });
});
