import { nn, ops, type Variable } from "@quant-trim/autograd";
import {
  AttributeType,
  checkOnnxModel,
  decodeModel,
  exportOnnx,
  exportOnnxModel,
  type ModelProto,
} from "@quant-trim/onnx";
import { buildModel, zooNames } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";
import {
  forward,
  initializer,
  ortOutputs,
  randomInput,
  randomizeBatchNorms,
  relativeError,
} from "./export-helpers.js";
import { KITCHEN_SINK_INPUT, KitchenSink } from "./export-models.js";

const MNIST_SAMPLE = [1, 28, 28];
const BATCHES = [1, 7];
const TOLERANCE = 1e-5;

/** Export, run in ONNX Runtime at batch 1 and 7, compare with the TypeScript forward pass. */
async function expectOrtMatches(
  model: nn.Module,
  bytes: Uint8Array,
  sampleShape: readonly number[],
  seed: number,
): Promise<number> {
  const rng = new T.Rng(seed);
  const inputs = BATCHES.map((b) => randomInput(rng, b, sampleShape));
  const ort = await ortOutputs(bytes, inputs);
  let worst = 0;
  inputs.forEach((x, i) => {
    const ours = forward(model, x);
    expect(ort[i]!.dims[0]).toBe(x.shape[0]);
    const err = relativeError(ort[i]!.data, ours);
    worst = Math.max(worst, err);
    expect(err, `batch ${x.shape[0]}`).toBeLessThanOrEqual(TOLERANCE);
  });
  return worst;
}

function opTypes(model: ModelProto): string[] {
  return model.graph.node.map((n) => n.opType);
}

describe("float export: every zoo model in ONNX Runtime", () => {
  for (const name of zooNames) {
    it(`${name}: ORT within 1e-5 relative of the forward pass at batch 1 and 7 (BatchNorm kept and folded)`, async () => {
      const model = buildModel(name, { inputShape: MNIST_SAMPLE, classes: 10, seed: 3 });
      randomizeBatchNorms(model, new T.Rng(4));
      const hasBn = model
        .namedModules()
        .some(([, m]) => m instanceof nn.BatchNorm2d || m instanceof nn.BatchNorm1d);
      for (const foldBatchNorm of hasBn ? [false, true] : [false]) {
        const proto = exportOnnxModel(model, { inputShape: MNIST_SAMPLE, foldBatchNorm });
        expect(opTypes(proto).includes("BatchNormalization")).toBe(hasBn && !foldBatchNorm);
        await expectOrtMatches(
          model,
          exportOnnx(model, { inputShape: MNIST_SAMPLE, foldBatchNorm }),
          MNIST_SAMPLE,
          11,
        );
      }
    });
  }
});

describe("float export: layout", () => {
  it("names the input and output, makes the batch dynamic and declares opset 13 with its IR version", () => {
    const model = buildModel("cnn", { inputShape: MNIST_SAMPLE, classes: 10 });
    const proto = decodeModel(exportOnnx(model, { inputShape: MNIST_SAMPLE, metadata: { recipe: "qat" } }));
    expect(proto.opsetImport).toEqual([{ domain: "", version: 13 }]);
    expect(proto.irVersion).toBe(7);
    const [input] = proto.graph.input;
    const [output] = proto.graph.output;
    expect(input!.name).toBe("input");
    expect(input!.type!.tensorType!.shape!.dim).toEqual([
      { dimParam: "batch" },
      { dimValue: 1 },
      { dimValue: 28 },
      { dimValue: 28 },
    ]);
    expect(output!.name).toBe("output");
    expect(output!.type!.tensorType!.shape!.dim).toEqual([{ dimParam: "batch" }, { dimValue: 10 }]);
    expect(proto.producerName).toBe("quant-trim");
    expect(Object.fromEntries(proto.metadataProps.map((e) => [e.key, e.value]))).toEqual({
      producer: "quant-trim",
      producer_version: "0.1.0",
      recipe: "qat",
    });
    expect(opTypes(proto)).toEqual(["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm"]);
  });

  it("stores weights under their state-dict names with their values, Gemm with transB = 1 as PyTorch does", () => {
    const model = buildModel("mlp", { inputShape: MNIST_SAMPLE, classes: 10, seed: 5 });
    const proto = exportOnnxModel(model, { inputShape: MNIST_SAMPLE });
    const state = model.stateDict();
    expect(proto.graph.initializer.map((t) => t.name).sort()).toEqual(Object.keys(state).sort());
    for (const [name, t] of Object.entries(state)) {
      const stored = initializer(proto, name);
      const expected = t.toFloat32Array();
      expect(stored.length, name).toBe(expected.length);
      const differing = expected.findIndex((v, i) => !Object.is(v, stored[i]));
      expect(differing, `${name}: first differing element`).toBe(-1);
    }
    const gemms = proto.graph.node.filter((n) => n.opType === "Gemm");
    expect(gemms.map((n) => n.name)).toEqual(["1", "3"]);
    for (const g of gemms)
      expect(g.attribute).toEqual([
        expect.objectContaining({ name: "transB", type: AttributeType.INT, i: 1 }),
      ]);
  });

  it("maps grouped/depthwise/dilated convs, BN on rank 2-4, ReLU6, padded pools and a functional residual", async () => {
    const model = new KitchenSink();
    randomizeBatchNorms(model, new T.Rng(7));
    const proto = exportOnnxModel(model, { inputShape: KITCHEN_SINK_INPUT });
    expect(opTypes(proto)).toEqual([
      "Conv",
      "BatchNormalization",
      "Relu",
      "Conv",
      "Clip",
      "MaxPool",
      "Identity",
      "Conv",
      "BatchNormalization",
      "Clip",
      "Conv",
      "Add",
      "Relu",
      "AveragePool",
      "AveragePool",
      "Reshape",
      "BatchNormalization",
      "Identity",
      "Flatten",
      "Gemm",
      "BatchNormalization",
      "Relu",
      "Gemm",
    ]);
    const byName = new Map(proto.graph.node.map((n) => [n.name, n]));
    const ints = (node: string, attr: string) =>
      byName.get(node)!.attribute.find((a) => a.name === attr)?.ints;
    expect(ints("stem.0", "strides")).toEqual([2, 2]);
    expect(ints("stem.0", "dilations")).toEqual([2, 2]);
    expect(ints("stem.0", "pads")).toEqual([2, 2, 2, 2]);
    expect(ints("stem.3", "kernel_shape")).toEqual([3, 2]);
    expect(ints("stem.3", "pads")).toEqual([1, 0, 1, 0]);
    expect(byName.get("stem.3")!.attribute.find((a) => a.name === "group")!.i).toBe(2);
    expect(byName.get("block.depthwise")!.attribute.find((a) => a.name === "group")!.i).toBe(6);
    // The residual sum and its relu keep the tracer's handles as node names.
    expect(byName.get("block.add#0")!.input).toEqual(["stem.6.output", "block.pointwise.output"]);
    expect(byName.get("block.relu#0")!.input).toEqual(["block.add#0.output"]);
    expect(byName.get("head.0")!.attribute.find((a) => a.name === "count_include_pad")!.i).toBe(0);
    expect(byName.get("head.1")!.attribute.find((a) => a.name === "count_include_pad")!.i).toBe(1);
    expect(Array.from(initializer(proto, "stem.4.max"))).toEqual([6]);
    expect(Array.from(initializer(proto, "head.2.shape"), Number)).toEqual([0, 6, 12]);
    const worst = await expectOrtMatches(
      model,
      exportOnnx(model, { inputShape: KITCHEN_SINK_INPUT }),
      KITCHEN_SINK_INPUT,
      12,
    );
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });

  it("folds every BatchNorm that follows a Conv or Linear, and the folded graph still matches", async () => {
    const model = new KitchenSink(2);
    randomizeBatchNorms(model, new T.Rng(8));
    const proto = exportOnnxModel(model, { inputShape: KITCHEN_SINK_INPUT, foldBatchNorm: true });
    // The BatchNorm1d after the Reshape has no layer to fold into and stays.
    expect(opTypes(proto).filter((t) => t === "BatchNormalization")).toEqual(["BatchNormalization"]);
    const conv = model.stem.layers[0] as nn.Conv2d;
    const bn = model.stem.layers[1] as nn.BatchNorm2d;
    const factor = bn.weight.data.get(1) / Math.sqrt(bn.runningVar.get(1) + bn.eps);
    const folded = initializer(proto, "stem.0.weight");
    const perChannel = 2 * 3 * 3;
    expect(folded[perChannel + 4]).toBeCloseTo(conv.weight.data.values()[perChannel + 4]! * factor, 6);
    await expectOrtMatches(
      model,
      exportOnnx(model, { inputShape: KITCHEN_SINK_INPUT, foldBatchNorm: true }),
      KITCHEN_SINK_INPUT,
      13,
    );
  });

  it("writes opset 21 when asked, and ONNX Runtime runs it", async () => {
    const model = new KitchenSink(3);
    const proto = exportOnnxModel(model, { inputShape: KITCHEN_SINK_INPUT, opset: 21 });
    expect(proto.opsetImport).toEqual([{ domain: "", version: 21 }]);
    expect(proto.irVersion).toBe(10);
    checkOnnxModel(proto);
    await expectOrtMatches(
      model,
      exportOnnx(model, { inputShape: KITCHEN_SINK_INPUT, opset: 21 }),
      KITCHEN_SINK_INPUT,
      14,
    );
  });

  it("exports a module called twice as two nodes sharing one set of weights", async () => {
    class Twice extends nn.Module {
      readonly fc = new nn.Linear(4, 4, { rng: new T.Rng(2) });
      constructor() {
        super();
        this.registerModule("fc", this.fc);
      }
      forward(x: Variable): Variable {
        return this.fc.call(this.fc.call(x));
      }
    }
    const model = new Twice();
    const proto = exportOnnxModel(model, { inputShape: [4] });
    expect(proto.graph.node.map((n) => n.name)).toEqual(["fc", "fc#call1"]);
    expect(proto.graph.initializer.map((t) => t.name)).toEqual(["fc.weight", "fc.bias"]);
    await expectOrtMatches(model, exportOnnx(model, { inputShape: [4] }), [4], 15);
  });

  it("maps functional pools and clamps called in a custom forward", async () => {
    class Functional extends nn.Module {
      forward(x: Variable): Variable {
        const pooled = ops.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 });
        return ops.clamp(
          ops.avgPool2d(pooled, { kernel: 2, padding: 1, countIncludePad: false }),
          -0.75,
          1.5,
        );
      }
    }
    const model = new Functional();
    const proto = exportOnnxModel(model, { inputShape: [2, 7, 7] });
    expect(opTypes(proto)).toEqual(["MaxPool", "AveragePool", "Clip"]);
    expect(proto.graph.node.map((n) => n.name)).toEqual(["maxPool2d#0", "avgPool2d#0", "clamp#0"]);
    await expectOrtMatches(model, exportOnnx(model, { inputShape: [2, 7, 7] }), [2, 7, 7], 17);
  });

  it("writes an Identity for a model that returns its input", async () => {
    const model = new nn.Sequential();
    const proto = exportOnnxModel(model, { inputShape: [3] });
    expect(opTypes(proto)).toEqual(["Identity"]);
    await expectOrtMatches(model, exportOnnx(model, { inputShape: [3] }), [3], 16);
  });
});
