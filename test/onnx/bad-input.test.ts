import { constant, nn, ops, type Variable } from "@quant-trim/autograd";
import {
  attr,
  checkOnnxModel,
  DataType,
  encodeModel,
  exportOnnx,
  exportOnnxModel,
  graph,
  importOnnx,
  type ModelProto,
  tensorProto,
} from "@quant-trim/onnx";
import { buildModel } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const MNIST_SAMPLE = [1, 28, 28];

/** A model whose forward applies `f` inside a module called "act". */
function withFunctional(f: (x: Variable) => Variable): nn.Module {
  class Act extends nn.Module {
    forward(x: Variable): Variable {
      return f(x);
    }
  }
  class Net extends nn.Module {
    readonly fc = new nn.Linear(4, 4);
    readonly act = new Act();
    constructor() {
      super();
      this.registerModule("fc", this.fc);
      this.registerModule("act", this.act);
    }
    forward(x: Variable): Variable {
      return this.act.call(this.fc.call(x));
    }
  }
  return new Net();
}

describe("exportOnnx refuses what it cannot write, naming it", () => {
  it("an op with no ONNX mapping", () => {
    expect(() =>
      exportOnnx(
        withFunctional((x) => ops.tanh(x)),
        { inputShape: [4] },
      ),
    ).toThrow(/^exportOnnx: op 'act\.tanh#0' has no ONNX mapping \(exported functional ops: add, relu/);
  });

  it("an op with a constant operand", () => {
    expect(() =>
      exportOnnx(
        withFunctional((x) => ops.add(x, constant(T.ones([1, 4])))),
        { inputShape: [4] },
      ),
    ).toThrow(/^exportOnnx: op 'act\.add#0' takes a constant as input 1/);
  });

  it("a reshape that folds the batch into another axis (no dynamic batch possible)", () => {
    expect(() =>
      exportOnnx(
        withFunctional((x) => ops.reshape(x, [-1])),
        { inputShape: [4] },
      ),
    ).toThrow(
      /^exportOnnx: op 'act\.reshape#0' has a value of shape \[8\] that does not keep the batch axis first/,
    );
  });

  it("a model prepared for QAT (forward hooks the exported weights would silently drop)", () => {
    const model = buildModel("mlp", { inputShape: MNIST_SAMPLE, classes: 10 });
    (model as nn.Sequential).layers[1]!.hooks = { output: (y) => y };
    expect(() => exportOnnx(model, { inputShape: MNIST_SAMPLE })).toThrow(
      /^exportOnnx: module '1' \(Linear\) carries forward hooks/,
    );
  });

  it("bad options: opset outside 13–21, unknown keys, missing or wrong input shape, non-string metadata", () => {
    const model = buildModel("cnn", { inputShape: MNIST_SAMPLE, classes: 10 });
    for (const opset of [12, 22, 13.5, "13"]) {
      expect(() => exportOnnx(model, { inputShape: MNIST_SAMPLE, opset: opset as number })).toThrow(
        new RegExp(
          `^exportOnnx: opset ${opset} is not supported \\(options.opset must be an integer from 13 to 21\\)`,
        ),
      );
    }
    expect(() => exportOnnx(model, { inputShape: MNIST_SAMPLE, opSet: 13 } as never)).toThrow(
      /^exportOnnx: unknown option 'opSet' \(known: inputShape, opset/,
    );
    expect(() => exportOnnx(model)).toThrow(
      /^exportOnnx: options.inputShape must list one sample's positive dimensions/,
    );
    expect(() => exportOnnx(model, { inputShape: [0, 28, 28] })).toThrow(/options.inputShape must list/);
    expect(() => exportOnnx(model, { inputShape: [3, 28, 28] })).toThrow(
      /^exportOnnx: the model does not run on inputShape \[3, 28, 28\]: /,
    );
    expect(() => exportOnnx(model, { inputShape: MNIST_SAMPLE, metadata: { seed: 3 as never } })).toThrow(
      /^exportOnnx: options.metadata\['seed'\] must be a string, got number/,
    );
    expect(() => exportOnnx(model, { inputShape: MNIST_SAMPLE, inputName: "x", outputName: "x" })).toThrow(
      /^exportOnnx: options.inputName and options.outputName are both 'x'/,
    );
    expect(() => exportOnnx({} as never, { inputShape: MNIST_SAMPLE })).toThrow(
      /^exportOnnx: model must be an nn.Module/,
    );
  });
});

/** A one-node float model around `op` on x [batch, 2, 4, 4]. */
function oneNode(
  op: string,
  attributes: Record<string, ReturnType<typeof attr.int> | number | number[] | string> = {},
  inputs: (b: ReturnType<typeof graph>) => string[] = () => ["x"],
): Uint8Array {
  const b = graph("g").input("x", "float32", ["batch", 2, 4, 4]);
  const names = inputs(b);
  return encodeModel(b.node(op, names, ["y"], attributes).output("y", "float32").model({ opset: 13 }));
}

const convWeight = (b: ReturnType<typeof graph>): string[] => {
  b.initializer("w", new Float32Array(2 * 2 * 3 * 3).fill(0.1), [2, 2, 3, 3]);
  return ["x", "w"];
};

describe("importOnnx refuses what it cannot represent, naming it", () => {
  it("an op with no layer, and ops of another domain", () => {
    expect(() => importOnnx(oneNode("Tanh"))).toThrow(
      /^importOnnx: node 0 'Tanh_0' \(Tanh\): op Tanh has no layer to import into \(supported: Gemm, MatMul, Conv/,
    );
    const quantized = graph("q")
      .input("x", "float32", ["batch", 4])
      .initializer("s", new Float32Array([0.1]), [])
      .initializer("z", new Uint8Array([128]), [])
      .node("QuantizeLinear", ["x", "s", "z"], ["q"])
      .node("DequantizeLinear", ["q", "s", "z"], ["y"])
      .output("y", "float32")
      .model({ opset: 13 });
    expect(() => importOnnx(encodeModel(quantized))).toThrow(
      /\(QuantizeLinear\): op QuantizeLinear has no layer/,
    );
    const contrib = graph("c")
      .input("x", "float32", ["batch", 4])
      .node("Gelu", ["x"], ["y"], {}, "com.microsoft")
      .output("y", "float32")
      .model({ opset: 13, domains: { "com.microsoft": 1 } });
    expect(() => importOnnx(encodeModel(contrib))).toThrow(
      /\(Gelu\): domain 'com.microsoft' is not supported/,
    );
  });

  it("attribute values a layer cannot reproduce", () => {
    expect(() => importOnnx(oneNode("Conv", { auto_pad: "SAME_UPPER" }, convWeight))).toThrow(
      /\(Conv\): attribute 'auto_pad' = "SAME_UPPER" is not supported: give explicit pads/,
    );
    expect(() => importOnnx(oneNode("Conv", { pads: [1, 1, 0, 0] }, convWeight))).toThrow(
      /\(Conv\): attribute 'pads' = \[1,1,0,0\] is not supported: begin and end padding differ/,
    );
    expect(() => importOnnx(oneNode("MaxPool", { kernel_shape: [2, 2], ceil_mode: 1 }))).toThrow(
      /\(MaxPool\): attribute 'ceil_mode' = 1 is not supported/,
    );
    expect(() => importOnnx(oneNode("Flatten", { axis: 2 }))).toThrow(
      /\(Flatten\): attribute 'axis' = 2 is not supported/,
    );
    expect(() => importOnnx(oneNode("Relu", { alpha: attr.float(0.1) }))).toThrow(
      /\(Relu\): attribute 'alpha' is not supported \(this op takes none\)/,
    );
    const gemm = (attributes: Record<string, ReturnType<typeof attr.int>>) =>
      graph("g")
        .input("x", "float32", ["batch", 3])
        .initializer("w", new Float32Array(6), [2, 3])
        .node("Gemm", ["x", "w"], ["y"], attributes)
        .output("y", "float32")
        .model({ opset: 13 });
    expect(() => importOnnx(encodeModel(gemm({ transA: attr.int(1) })))).toThrow(
      /\(Gemm\): attribute 'transA' = 1/,
    );
    expect(() => importOnnx(encodeModel(gemm({ alpha: attr.float(2), transB: attr.int(1) })))).toThrow(
      /\(Gemm\): attribute 'alpha' = 2/,
    );
    expect(() => importOnnx(encodeModel(gemm({ transB: attr.int(0) })))).toThrow(
      /\(Gemm\): input 0 has per-sample shape \[3\] but the weight takes \[2\]/,
    );
  });

  it("inputs that are not a float activation or a constant where one is needed", () => {
    const addConstant = graph("a")
      .input("x", "float32", ["batch", 4])
      .initializer("c", new Float32Array(4), [4])
      .node("Relu", ["x"], ["r"])
      .node("Add", ["r", "c"], ["y"])
      .output("y", "float32")
      .model({ opset: 13 });
    expect(() => importOnnx(encodeModel(addConstant))).toThrow(/\(Add\): adds a constant to an activation/);
    const int8Input = graph("i")
      .input("x", "int8", ["batch", 4])
      .node("Identity", ["x"], ["y"])
      .output("y", "int8")
      .model();
    expect(() => importOnnx(encodeModel(int8Input))).toThrow(
      /^importOnnx: input 'x' is int8; importOnnx takes float models only/,
    );
    const twoInputs = graph("t")
      .input("a", "float32", ["batch", 4])
      .input("b", "float32", ["batch", 4])
      .node("Add", ["a", "b"], ["y"])
      .output("y", "float32")
      .model();
    expect(() => importOnnx(encodeModel(twoInputs))).toThrow(
      /^importOnnx: the graph must have one input, it has 2 \(a, b\)/,
    );
    expect(() => importOnnx(oneNode("Conv", {}, (b) => [...convWeight(b), "x"]))).toThrow(
      /\(Conv\): B \(the bias\) \('x'\) must be a constant/,
    );
  });

  it("opsets outside 11–21", () => {
    const model = exportOnnxModel(buildModel("mlp", { inputShape: [4], classes: 2 }), { inputShape: [4] });
    for (const version of [10, 22]) {
      const changed: ModelProto = { ...model, irVersion: 10, opsetImport: [{ domain: "", version }] };
      expect(() => importOnnx(encodeModel(changed))).toThrow(
        new RegExp(`^importOnnx: opset ${version} is not supported \\(importOnnx reads opsets 11 to 21\\)`),
      );
    }
  });

  it("malformed bytes: empty, not protobuf, not a model", () => {
    expect(() => importOnnx(new Uint8Array())).toThrow(
      /^importOnnx: not a readable ONNX model: decodeModel: bytes is empty/,
    );
    expect(() => importOnnx(new TextEncoder().encode("this is not an onnx file at all"))).toThrow(
      /^importOnnx: not a readable ONNX model: decodeModel: /,
    );
    expect(() => importOnnx("model.onnx" as never)).toThrow(
      /^importOnnx: not a readable ONNX model: decodeModel: bytes must be a Uint8Array/,
    );
  });

  it("a truncated file: every cut before the metadata is refused as unreadable", () => {
    const model = exportOnnxModel(buildModel("cnn", { inputShape: [1, 8, 8], classes: 3 }), {
      inputShape: [1, 8, 8],
    });
    const bytes = encodeModel(model);
    // Fields are written in number order and metadata_props (14) comes last: any cut before it loses
    // part of the graph or the opset import.
    const beforeMetadata = encodeModel({ ...model, metadataProps: [] }).length;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: beforeMetadata - 1 }), (cut) => {
        expect(() => importOnnx(bytes.subarray(0, cut))).toThrow(
          /^importOnnx: not a readable ONNX model: decodeModel: /,
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe("checkOnnxModel: the checker's rules, each broken once", () => {
  const valid = () =>
    exportOnnxModel(buildModel("cnn", { inputShape: [1, 8, 8], classes: 3 }), { inputShape: [1, 8, 8] });

  it("accepts what the exporter writes", () => {
    expect(() => checkOnnxModel(valid())).not.toThrow();
  });

  it("every input defined: an unknown name, a use before definition, a name defined twice, an undefined output", () => {
    const m1 = valid();
    m1.graph.node[1]!.input[0] = "nope";
    expect(() => checkOnnxModel(m1)).toThrow(
      /^checkOnnxModel: node 1 '1' \(Relu\): input 0 'nope' is not defined before the node/,
    );
    const m2 = valid();
    [m2.graph.node[0], m2.graph.node[1]] = [m2.graph.node[1]!, m2.graph.node[0]!];
    expect(() => checkOnnxModel(m2)).toThrow(
      /node 0 '1' \(Relu\): input 0 '0.output' is not defined before the node/,
    );
    const m3 = valid();
    m3.graph.node[1]!.output[0] = "input";
    expect(() => checkOnnxModel(m3)).toThrow(/node 1 '1' \(Relu\): 'input' is defined more than once/);
    const m4 = valid();
    m4.graph.output[0]!.name = "logits";
    expect(() => checkOnnxModel(m4)).toThrow(/^checkOnnxModel: graph output 0: 'logits' is never defined/);
  });

  it("types consistent: an int8 weight into Conv, a declared output type the graph does not produce", () => {
    const m1 = valid();
    const w = m1.graph.initializer.find((t) => t.name === "0.weight")!;
    m1.graph.initializer[m1.graph.initializer.indexOf(w)] = tensorProto(
      "0.weight",
      new Int8Array(w.dims.reduce((a, b) => a * b)),
      w.dims,
    );
    expect(() => checkOnnxModel(m1)).toThrow(
      /node 0 '0' \(Conv\): inputs must share one type: input 1 is int8, input 0 float/,
    );
    const m2 = valid();
    m2.graph.output[0]!.type!.tensorType!.elemType = DataType.DOUBLE;
    expect(() => checkOnnxModel(m2)).toThrow(
      /graph output 0 'output': is declared double but the graph produces float/,
    );
  });

  it("attributes: one the op does not have, or of the wrong attribute type", () => {
    const m1 = valid();
    m1.graph.node[1]!.attribute.push({
      name: "alpha",
      type: 1,
      f: 0.1,
      floats: [],
      ints: [],
      strings: [],
      tensors: [],
      graphs: [],
    });
    expect(() => checkOnnxModel(m1)).toThrow(/\(Relu\): attribute 'alpha' is not an attribute of Relu/);
    const m2 = valid();
    const group = m2.graph.node[0]!.attribute.find((a) => a.name === "group")!;
    Object.assign(group, { type: 1, f: 1 });
    expect(() => checkOnnxModel(m2)).toThrow(/\(Conv\): attribute 'group' has attribute type 1, expected 2/);
  });

  it("opset declared: no default domain, an op newer than the opset, an IR version too old, 4-bit before 21, an unimported domain", () => {
    const m1 = valid();
    m1.opsetImport = [{ domain: "com.microsoft", version: 1 }];
    expect(() => checkOnnxModel(m1)).toThrow(
      /^checkOnnxModel: opsetImport: does not import the default domain/,
    );
    const q = graph("q")
      .input("x", "float32", ["batch", 4])
      .initializer("s", new Float32Array([0.5]), [])
      .node("QuantizeLinear", ["x", "s"], ["y"])
      .output("y", "uint8")
      .model({ opset: 13 });
    checkOnnxModel(q);
    expect(() => checkOnnxModel({ ...q, irVersion: 5, opsetImport: [{ domain: "", version: 9 }] })).toThrow(
      /node 0 'QuantizeLinear_0' \(QuantizeLinear\): op QuantizeLinear first appears in opset 10; the model imports 9/,
    );
    expect(() => checkOnnxModel({ ...q, irVersion: 6 })).toThrow(
      /^checkOnnxModel: irVersion: IR version 6 is too old for opset 13 \(needs ≥ 7\)/,
    );
    const int4 = graph("w")
      .input("x", "float32", ["batch", 4])
      .initializer("w", new Int8Array([1, -2, 3, -4]), [4], "int4")
      .initializer("s", new Float32Array([0.5]), [])
      .node("DequantizeLinear", ["w", "s"], ["wf"])
      .node("Add", ["x", "wf"], ["y"])
      .output("y", "float32")
      .model({ opset: 21 });
    checkOnnxModel(int4);
    expect(() =>
      checkOnnxModel({ ...int4, irVersion: 7, opsetImport: [{ domain: "", version: 13 }] }),
    ).toThrow(/initializer 0: 'w' is a 4-bit tensor, which needs opset 21 \(the model imports 13\)/);
    const m2 = valid();
    m2.graph.node[1]!.domain = "com.example";
    expect(() => checkOnnxModel(m2)).toThrow(/\(Relu\): domain 'com.example' is not imported/);
  });

  it("Q/DQ parameters: per-axis scales that do not match the axis, zero points of another shape", () => {
    const dq = (scale: number[], zp: number[], axis: number) =>
      graph("d")
        .input("x", "float32", ["batch", 3])
        .initializer("w", new Int8Array(6), [2, 3])
        .initializer("s", new Float32Array(scale), [scale.length])
        .initializer("z", new Int8Array(zp), [zp.length])
        .node("DequantizeLinear", ["w", "s", "z"], ["wf"], { axis })
        .node("Gemm", ["x", "wf"], ["y"], { transB: 1 })
        .output("y", "float32")
        .model({ opset: 13 });
    checkOnnxModel(dq([0.1, 0.2], [0, 0], 0));
    expect(() => checkOnnxModel(dq([0.1, 0.2], [0, 0], 1))).toThrow(
      /\(DequantizeLinear\): scale has 2 entries but axis 1 of the input has 3/,
    );
    expect(() => checkOnnxModel(dq([0.1, 0.2], [0, 0, 0], 0))).toThrow(
      /zero point dims \[3\] differ from the scale's \[2\]/,
    );
    const opset11 = {
      ...dq([0.1, 0.2], [0, 0], 0),
      irVersion: 6,
      opsetImport: [{ domain: "", version: 11 }],
    };
    expect(() => checkOnnxModel(opset11)).toThrow(
      /per-axis scales need opset 13 or later \(the model imports 11\)/,
    );
  });

  it("ops outside the checked subset are refused by name", () => {
    const m = graph("t")
      .input("x", "float32", ["batch", 4])
      .node("Tanh", ["x"], ["y"])
      .output("y", "float32")
      .model();
    expect(() => checkOnnxModel(m)).toThrow(
      /node 0 'Tanh_0' \(Tanh\): op Tanh is not one this checker knows/,
    );
  });
});
