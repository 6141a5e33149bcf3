import { nn, noGrad, ops, Variable } from "@quant-trim/autograd";
import {
  compile,
  floatLogits,
  profiles,
  qatActivationQParams,
  qatConfigForProfile,
  run,
} from "@quant-trim/npu-sim";
import {
  fakeQuantize,
  MinMaxObserver,
  prepareQat,
  type QatModel,
  type QParams,
  type QuantPointInfo,
} from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/*
 * A residual sum written as a functional `ops.add` in a custom forward gets an activation point in QAT,
 * as the `Add` module does and as the NPU compiler quantizes it.
 */

/** h = fc1(x); h + fc2(h), optionally through a functional ReLU. */
class FunctionalResidual extends nn.Module {
  readonly fc1: nn.Linear;
  readonly fc2: nn.Linear;
  constructor(
    width: number,
    private readonly withRelu: boolean,
    seed: number,
  ) {
    super();
    const rng = new T.Rng(seed);
    this.fc1 = this.registerModule("fc1", new nn.Linear(width, width, { rng }));
    this.fc2 = this.registerModule("fc2", new nn.Linear(width, width, { rng }));
  }
  forward(x: Variable): Variable {
    const h = this.fc1.call(x);
    const sum = ops.add(h, this.fc2.call(h));
    return this.withRelu ? ops.relu(sum) : sum;
  }
}

/** Input → linear → residual block with ReLU → residual block without → linear. */
function residualNet(seed = 0): nn.Sequential {
  return new nn.Sequential(
    new nn.Linear(5, 6, { rng: new T.Rng(seed) }),
    new FunctionalResidual(6, true, seed + 1),
    new FunctionalResidual(6, false, seed + 2),
    new nn.Linear(6, 3, { rng: new T.Rng(seed + 3) }),
  );
}

const batch = (seed: number, rows = 7, width = 5) => T.randn([rows, width], new T.Rng(seed));

/** Prepared with min/max observers, calibrated on one batch, λ = 1, eval mode. */
function calibrated(model: nn.Module, inputShape: number[], x: T.Tensor): QatModel {
  model.eval();
  const qat = prepareQat(model, { inputShape, activationObserver: () => new MinMaxObserver() });
  qat.setLambda(1);
  qat.calibrate(() => noGrad(() => void model.call(new Variable(x))));
  return qat;
}

const point = (qat: QatModel, name: string): QuantPointInfo => {
  const p = qat.describe().find((q) => q.name === name);
  if (!p) throw new Error(`no point '${name}' in ${qat.describe().map((q) => q.name)}`);
  return p;
};

const fq = (v: Variable, p: QuantPointInfo): Float32Array =>
  fakeQuantize(v.data.toFloat32Array(), p.qparams as QParams, p.grid, v.shape);

describe("prepareQat: functional residual adds", () => {
  it("gives each functional add an activation point named by its trace handle, a following ReLU fused", () => {
    const model = residualNet();
    const qat = prepareQat(model, { inputShape: [1, 5] });
    const names = qat.describe().map((p) => p.name);
    expect(names).toEqual([
      "0.weight",
      "1.fc1.weight",
      "1.fc2.weight",
      "2.fc1.weight",
      "2.fc2.weight",
      "3.weight",
      "input",
      "0.output",
      "1.fc1.output",
      "1.fc2.output",
      "1.relu#0.output",
      "2.fc1.output",
      "2.fc2.output",
      "2.add#0.output",
      "3.output",
    ]);
    // The handles are the tracer's.
    const traced = nn.trace(residualNet(), T.zeros([1, 5])).nodes.filter((n) => n.kind === "op");
    expect(traced.map((n) => n.name)).toEqual(["1.add#0", "1.relu#0", "2.add#0"]);
    expect(point(qat, "2.add#0.output").module).toBe("2.add#0");
  });

  it("computes the fake quantization of the sum, exactly as composed by hand", () => {
    const model = new FunctionalResidual(4, true, 3);
    const x = batch(1, 9, 4);
    const qat = calibrated(model, [1, 4], x);
    const sumPoint = point(qat, "relu#0.output");
    const inputPoint = point(qat, "input");
    expect(sumPoint.qparams).not.toBeNull();
    const got = noGrad(() => model.call(new Variable(x))).data.toFloat32Array();
    // The leaves keep their own (module) points; the sum and its ReLU are composed here, outside the
    // model's forward, so no rewriter touches them.
    const xq = new Variable(T.fromData(fq(new Variable(x), inputPoint), x.shape));
    const h = noGrad(() => model.fc1.call(xq));
    const relu = noGrad(() => ops.relu(ops.add(h, model.fc2.call(h))));
    const want = fq(relu, sumPoint);
    expect(Array.from(got)).toEqual(Array.from(want));
    // The point does something: the plain ReLU of the sum is off the grid somewhere.
    expect(Array.from(relu.data.toFloat32Array())).not.toEqual(Array.from(want));
  });

  it("with λ = 0 the model computes exactly its float function", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        const ref = residualNet(seed);
        const m = residualNet(seed);
        const x = batch(seed + 7);
        const qat = calibrated(m, [1, 5], x);
        qat.setLambda(0);
        ref.eval();
        const a = noGrad(() => ref.call(new Variable(x))).data.toFloat32Array();
        const b = noGrad(() => m.call(new Variable(x))).data.toFloat32Array();
        expect(Array.from(b)).toEqual(Array.from(a));
      }),
      { numRuns: 15 },
    );
  });

  it("passes the gradient straight through the sum's point (STE), into both branches", () => {
    const model = new FunctionalResidual(4, false, 5);
    const x = batch(2, 6, 4);
    const qat = calibrated(model, [1, 4], x);
    model.train();
    // Observers are frozen after calibration, so a training-mode pass changes no qparams.
    const r = T.randn([6, 4], new T.Rng(4));
    const xv = new Variable(x, { requiresGrad: true });
    ops.sum(ops.mul(model.call(xv), new Variable(r))).backward();
    const gx = xv.grad!.toFloat32Array();
    const gW2 = model.fc2.weight.grad!.toFloat32Array();
    // By hand: out = fq(h + fc2(h)), h = fc1(fq(x)); with the STE every fake quantizer passes its
    // gradient unchanged, so d/dh = r + Wq2ᵀ r and d/dx = Wq1ᵀ (r + Wq2ᵀ r), Wq the quantized weights;
    // d/dW2 = r hᵀ.
    const wq = (name: string, w: T.Tensor) =>
      T.fromData(
        fakeQuantize(w.toFloat32Array(), point(qat, name).qparams!, point(qat, name).grid, w.shape),
        w.shape,
      );
    const w1 = wq("fc1.weight", model.fc1.weight.data);
    const w2 = wq("fc2.weight", model.fc2.weight.data);
    const dh = T.add(r, T.matmul(r, w2));
    const wantGx = T.matmul(dh, w1).toFloat32Array();
    const xq = new Variable(T.fromData(fq(new Variable(x), point(qat, "input")), x.shape));
    const h = noGrad(() => model.fc1.call(xq)).data;
    const wantGW2 = T.matmul(T.transpose(r), h).toFloat32Array();
    gx.forEach((v, i) => {
      expect(v).toBeCloseTo(wantGx[i]!, 4);
    });
    gW2.forEach((v, i) => {
      expect(v).toBeCloseTo(wantGW2[i]!, 4);
    });
    expect(gx.some((v) => v !== 0)).toBe(true);
  });

  it("leaves a model without functional ops as it was: no wrapper, the same points, the leaves' chain", () => {
    const rng = new T.Rng(0);
    const model = new nn.Sequential(
      new nn.Linear(5, 4, { rng }),
      new nn.ReLU(),
      new nn.Linear(4, 2, { rng }),
    );
    const x = batch(3);
    const qat = calibrated(model, [1, 5], x);
    expect(Object.hasOwn(model, "call")).toBe(false);
    expect(qat.describe().map((p) => p.name)).toEqual([
      "0.weight",
      "2.weight",
      "input",
      "1.output",
      "2.output",
    ]);
    const got = noGrad(() => model.call(new Variable(x))).data.toFloat32Array();
    const xq = new Variable(T.fromData(fq(new Variable(x), point(qat, "input")), x.shape));
    const chain = noGrad(() => model.layers[2]!.call(model.layers[1]!.call(model.layers[0]!.call(xq))));
    expect(Array.from(got)).toEqual(Array.from(chain.data.toFloat32Array()));
  });

  it("detach takes the wrapper out again and the model computes its float function", () => {
    const ref = residualNet(4);
    const m = residualNet(4);
    const x = batch(5);
    const qat = calibrated(m, [1, 5], x);
    expect(Object.hasOwn(m, "call")).toBe(true);
    qat.detach();
    expect(Object.hasOwn(m, "call")).toBe(false);
    ref.eval();
    const a = noGrad(() => ref.call(new Variable(x))).data.toFloat32Array();
    const b = noGrad(() => m.call(new Variable(x))).data.toFloat32Array();
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it("an add of a constant gets no point", () => {
    class Shift extends nn.Module {
      readonly fc = this.registerModule("fc", new nn.Linear(3, 3, { rng: new T.Rng(0) }));
      forward(x: Variable): Variable {
        return ops.add(this.fc.call(x), new Variable(T.full([1, 3], 0.5)));
      }
    }
    const qat = prepareQat(new Shift(), { inputShape: [1, 3] });
    expect(qat.describe().map((p) => p.name)).toEqual(["fc.weight", "input", "fc.output"]);
  });

  it("the compiled integer program reproduces the fake-quantized residual model", () => {
    const profile = profiles["tflite-int8"]!;
    const model = residualNet(6);
    const calib = batch(8, 64);
    const test = batch(9, 64);
    const float = residualNet(6);
    float.eval();
    model.eval();
    const qat = prepareQat(
      model,
      qatConfigForProfile(model, profile, [5], { activationObserver: () => new MinMaxObserver() }),
    );
    qat.setLambda(1);
    qat.calibrate(() => noGrad(() => void model.call(new Variable(calib))));
    const qparams = qatActivationQParams(qat);
    expect(Object.keys(qparams)).toContain("2.add#0.output");
    const program = compile(float, profile, { inputShape: [5], activationQParams: qparams });
    const want = floatLogits(model, test).toFloat32Array();
    const got = run(program, test).output.toFloat32Array();
    const outStep = qparams["3.output"]!.scale[0]!;
    let worst = 0;
    want.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - got[i]!));
    });
    expect(worst).toBeLessThanOrEqual(3 * outStep + 1e-6);
  });
});
