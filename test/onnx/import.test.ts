import { nn, ops, SGD, Variable } from "@quant-trim/autograd";
import { compile, type PlainQParams, profiles, run } from "@quant-trim/npu-sim";
import { exportOnnx, exportQdqOnnx, ImportedOnnxModel, importOnnx } from "@quant-trim/onnx";
import { buildModel } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";
import { forward, ortOutputs, randomInput, randomizeBatchNorms, relativeError } from "./export-helpers.js";
import { torchStyleModelBytes, torchStyleReference, torchStyleWeights } from "./pytorch-style-model.js";

const SAMPLE = [1, 8, 8];

function seeded(seed: number): () => number {
  const rng = new T.Rng(seed);
  return () => rng.next();
}

describe("importOnnx: a model written by another producer (PyTorch's layout)", () => {
  const weights = torchStyleWeights(seeded(21));
  const bytes = torchStyleModelBytes(weights);

  it("imports into named nn layers holding the file's weights", () => {
    const model = importOnnx(bytes);
    expect(model).toBeInstanceOf(ImportedOnnxModel);
    expect(model.namedModules().map(([path, m]) => `${path}:${m.constructor.name}`)).toEqual([
      ":ImportedOnnxModel",
      "conv1:Conv2d",
      "bn1:BatchNorm2d",
      "relu:ReLU",
      "pool:MaxPool2d",
      "avg:AvgPool2d",
      "reshape_0:ReshapeSamples",
      "fc1:Linear",
      "relu_1:ReLU",
      "fc2:Linear",
    ]);
    const fc1 = model.namedModules().find(([p]) => p === "fc1")![1] as nn.Linear;
    expect(fc1.weight.shape).toEqual([16, 36]);
    expect(fc1.weight.data.get(3, 7)).toBe(weights.fc1Weight[3 * 36 + 7]);
    // The MatMul's weight is stored transposed ([in, out]); the Linear gets it back as [out, in].
    const fc2 = model.namedModules().find(([p]) => p === "fc2")![1] as nn.Linear;
    expect(fc2.weight.data.get(2, 5)).toBe(weights.fc2Weight[2 * 16 + 5]);
    expect(Array.from(fc2.bias!.data.values())).toEqual(Array.from(weights.fc2Bias));
    const bn = model.namedModules().find(([p]) => p === "bn1")![1] as nn.BatchNorm2d;
    expect([bn.eps, bn.momentum]).toEqual([1e-5, 0.1]);
    expect(Array.from(bn.runningVar.values())).toEqual(Array.from(weights.bn.variance));
    expect(model.info).toMatchObject({
      inputName: "x",
      outputName: "logits",
      inputShape: SAMPLE,
      batchDim: "batch_size",
      opset: 17,
      producerName: "pytorch",
    });
    expect(model.training).toBe(false);
  });

  it("matches ONNX Runtime and a float64 reference on the same file within 1e-5, at batch 1 and 7", async () => {
    const model = importOnnx(bytes);
    const rng = new T.Rng(22);
    const inputs = [1, 7].map((b) => randomInput(rng, b, SAMPLE));
    const ort = await ortOutputs(bytes, inputs, "x", "logits");
    inputs.forEach((x, i) => {
      const ours = forward(model, x);
      expect(relativeError(ours, ort[i]!.data)).toBeLessThanOrEqual(1e-5);
      expect(
        relativeError(ours, torchStyleReference(weights, x.toFloat32Array(), x.shape[0]!)),
      ).toBeLessThanOrEqual(1e-5);
    });
  });

  it("reads initializers that are also listed as graph inputs (IR < 4 style) the same way", () => {
    const legacy = importOnnx(torchStyleModelBytes(weights, { initializersAsInputs: true }));
    const x = randomInput(new T.Rng(23), 3, SAMPLE);
    expect(forward(legacy, x)).toEqual(forward(importOnnx(bytes), x));
  });

  it("exports again as this package's layout, which ONNX Runtime runs to the same outputs and which then round-trips byte for byte", async () => {
    const model = importOnnx(bytes);
    const again = exportOnnx(model);
    const x = randomInput(new T.Rng(24), 7, SAMPLE);
    const [fromFile] = await ortOutputs(bytes, [x], "x", "logits");
    const [reExported] = await ortOutputs(again, [x], "x", "logits");
    expect(relativeError(reExported!.data, fromFile!.data)).toBeLessThanOrEqual(1e-6);
    expect(Buffer.from(exportOnnx(importOnnx(again))).equals(Buffer.from(again))).toBe(true);
  });

  it("gives a trainable model: every parameter gets a gradient and an SGD step lowers the loss", () => {
    const model = importOnnx(bytes);
    model.train();
    const x = new Variable(randomInput(new T.Rng(25), 16, SAMPLE));
    const labels = Array.from({ length: 16 }, (_, i) => i % 3);
    const params = model.parameters();
    expect(params.length).toBe(2 + 2 + 2 + 2);
    const opt = new SGD(params, { lr: 0.05 });
    const lossOf = () => ops.crossEntropy(model.call(x), labels);
    model.eval();
    const before = lossOf().data.get();
    model.train();
    opt.zeroGrad();
    lossOf().backward();
    for (const p of params) expect(p.grad, "every parameter has a gradient").not.toBeNull();
    opt.step();
    model.eval();
    expect(lossOf().data.get()).toBeLessThan(before);
  });
});

describe("importOnnx: the simulator applies to imported models", () => {
  it("npu-sim compiles an imported zoo model to the program of the original (same outputs, bit for bit)", () => {
    const original = buildModel("cnn-bn", { inputShape: [1, 28, 28], classes: 10, seed: 2 });
    randomizeBatchNorms(original, new T.Rng(26));
    const imported = importOnnx(exportOnnx(original, { inputShape: [1, 28, 28] }));
    const batch = randomInput(new T.Rng(27), 16, [1, 28, 28]);
    const profile = profiles["tflite-int8"]!;
    const a = run(compile(original, profile, batch), batch).output.toFloat32Array();
    const b = run(compile(imported, profile, batch), batch).output.toFloat32Array();
    expect(b).toEqual(a);
  });

  it("a PyTorch-layout model compiles with every op on the accelerator, and its QDQ export runs in ONNX Runtime as the program does", async () => {
    const model = importOnnx(torchStyleModelBytes(torchStyleWeights(seeded(28))));
    const batch = randomInput(new T.Rng(29), 32, SAMPLE);
    const program = compile(model, profiles["ort-cpu-u8s8"]!, batch);
    expect(program.steps.map((s) => `${s.op}@${s.device}`)).toEqual([
      "quantize@npu",
      "conv2d@npu",
      "max-pool@npu",
      "avg-pool@npu",
      "reshape@npu",
      "linear@npu",
      "linear@npu",
      "dequantize@npu",
    ]);
    const qdq = exportQdqOnnx(program, { inputName: "x", outputName: "logits" });
    const [ort] = await ortOutputs(qdq, [batch], "x", "logits");
    const ours = run(program, batch).output.toFloat32Array();
    // Not bit for bit: npu-sim's integer average pool rounds a 2×2 mean's ties half away from zero
    // (TFLite), onnxruntime half to even, and a 2×2 mean ties often. The logits stay within two output
    // steps and every arg-max agrees.
    const outputStep = (program.values[program.steps.at(-2)!.output]!.qparams as PlainQParams).scale[0]!;
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ort!.data[i]!));
    expect(worst).toBeLessThanOrEqual(2 * outputStep + 1e-7);
    for (let n = 0; n < 32; n++) {
      const row = (a: Float32Array) => Array.from(a.subarray(n * 3, n * 3 + 3));
      const argmax = (r: number[]) => r.indexOf(Math.max(...r));
      expect(argmax(row(ort!.data))).toBe(argmax(row(ours)));
    }
  });
});

describe("importOnnx: odd but valid layouts", () => {
  it("maps Clip bounds to ReLU6, ReLU or a clamp, and Identity to Identity", async () => {
    class Clips extends nn.Module {
      readonly a = new nn.ReLU6();
      constructor() {
        super();
        this.registerModule("a", this.a);
      }
      forward(x: Variable): Variable {
        return ops.clamp(ops.relu(this.a.call(x)), -0.5, 4.25);
      }
    }
    const model = new Clips();
    const bytes = exportOnnx(model, { inputShape: [5] });
    const imported = importOnnx(bytes);
    expect(imported.namedModules().map(([, m]) => m.constructor.name)).toEqual([
      "ImportedOnnxModel",
      "ReLU6",
      "ReLU",
      "ClampRange",
    ]);
    const x = T.fromData(Float32Array.from([-3, -0.25, 1, 5, 7]), [1, 5]);
    expect(Array.from(forward(imported, x))).toEqual([0, 0, 1, 4.25, 4.25]);
    const [ort] = await ortOutputs(bytes, [x]);
    expect(Array.from(ort!.data)).toEqual([0, 0, 1, 4.25, 4.25]);
    expect(Buffer.from(exportOnnx(imported)).equals(Buffer.from(bytes))).toBe(true);
  });
});
