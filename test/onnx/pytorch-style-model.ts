import protobuf from "protobufjs";

/*
 * ONNX files laid out the way PyTorch's exporter (torch.onnx.export, opset 17) writes a small
 * Conv/BN/ReLU/Linear stack, built with protobufjs from a schema written here — independent of
 * @quant-trim/onnx's own encoder — so that the importer is tested on bytes another producer wrote:
 * "/conv1/Conv"-style node names, "/conv1/Conv_output_0" values, state-dict initializer names, weights
 * as little-endian raw_data, Gemm with alpha = beta = 1 and transB = 1 written out, BatchNormalization
 * with epsilon and momentum 0.9, a Constant node feeding a Reshape, and a Linear written as MatMul by
 * a transposed weight plus an Add of the bias.
 */

const SCHEMA = `
syntax = "proto2";
package onnx;
message AttributeProto {
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  optional int32 type = 20;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
}
message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}
message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
}
message TensorShapeProto {
  message Dimension {
    optional int64 dim_value = 1;
    optional string dim_param = 2;
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  optional Tensor tensor_type = 1;
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const ModelType = root.lookupType("onnx.ModelProto");

const FLOAT = 1;
const INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, TENSOR: 4, INTS: 7 } as const;

type Attr = Record<string, unknown>;
const floatAttr = (name: string, f: number): Attr => ({ name, f, type: ATTR.FLOAT });
const intAttr = (name: string, i: number): Attr => ({ name, i, type: ATTR.INT });
const intsAttr = (name: string, ints: number[]): Attr => ({ name, ints, type: ATTR.INTS });

function raw(values: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  values.forEach((v: number | bigint, i: number) => {
    if (typeof v === "bigint") view.setBigInt64(i * 8, v, true);
    else view.setFloat32(i * 4, v, true);
  });
  return out;
}

function floatTensor(name: string, dims: number[], values: Float32Array): Attr {
  return { name, dims, data_type: FLOAT, raw_data: raw(values) };
}

function valueInfo(name: string, dims: (number | string)[]): Attr {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Weights of the PyTorch-style model, drawn from a seeded generator. */
export interface TorchStyleWeights {
  readonly conv1Weight: Float32Array; // [4, 1, 3, 3]
  readonly conv1Bias: Float32Array; // [4]
  readonly bn: { weight: Float32Array; bias: Float32Array; mean: Float32Array; variance: Float32Array }; // [4]
  readonly fc1Weight: Float32Array; // [16, 36] (PyTorch's [out, in])
  readonly fc1Bias: Float32Array; // [16]
  readonly fc2Weight: Float32Array; // [3, 16]
  readonly fc2Bias: Float32Array; // [3]
}

export function torchStyleWeights(random: () => number): TorchStyleWeights {
  const arr = (n: number, lo: number, hi: number) =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
  return {
    conv1Weight: arr(36, -0.5, 0.5),
    conv1Bias: arr(4, -0.2, 0.2),
    bn: {
      weight: arr(4, 0.5, 1.5),
      bias: arr(4, -0.3, 0.3),
      mean: arr(4, -0.2, 0.2),
      variance: arr(4, 0.3, 2),
    },
    fc1Weight: arr(16 * 36, -0.3, 0.3),
    fc1Bias: arr(16, -0.1, 0.1),
    fc2Weight: arr(3 * 16, -0.5, 0.5),
    fc2Bias: arr(3, -0.1, 0.1),
  };
}

/**
 * The bytes of the .onnx file: x [N, 1, 8, 8] → Conv(4, 3×3, pad 1) → BatchNormalization → Relu →
 * MaxPool(2, stride 2) → AveragePool(2, stride 1) → Reshape(Constant [-1, 36]) → Gemm(fc1, transB 1) →
 * Relu → MatMul(fc2ᵀ) → Add(bias) → "logits" [N, 3]. `initializersAsInputs` also lists every
 * initializer as a graph input (what exporters wrote before IR version 4).
 */
export function torchStyleModelBytes(
  w: TorchStyleWeights,
  options: { initializersAsInputs?: boolean } = {},
): Uint8Array {
  const fc2T = new Float32Array(16 * 3);
  for (let o = 0; o < 3; o++) for (let i = 0; i < 16; i++) fc2T[i * 3 + o] = w.fc2Weight[o * 16 + i]!;
  const initializers = [
    floatTensor("conv1.weight", [4, 1, 3, 3], w.conv1Weight),
    floatTensor("conv1.bias", [4], w.conv1Bias),
    floatTensor("bn1.weight", [4], w.bn.weight),
    floatTensor("bn1.bias", [4], w.bn.bias),
    floatTensor("bn1.running_mean", [4], w.bn.mean),
    floatTensor("bn1.running_var", [4], w.bn.variance),
    floatTensor("fc1.weight", [16, 36], w.fc1Weight),
    floatTensor("fc1.bias", [16], w.fc1Bias),
    // PyTorch names the transposed weight of a MatMul after the op that reads it.
    floatTensor("onnx::MatMul_21", [16, 3], fc2T),
    floatTensor("fc2.bias", [3], w.fc2Bias),
  ];
  const nodes = [
    {
      name: "/conv1/Conv",
      op_type: "Conv",
      input: ["x", "conv1.weight", "conv1.bias"],
      output: ["/conv1/Conv_output_0"],
      attribute: [
        intsAttr("dilations", [1, 1]),
        intAttr("group", 1),
        intsAttr("kernel_shape", [3, 3]),
        intsAttr("pads", [1, 1, 1, 1]),
        intsAttr("strides", [1, 1]),
      ],
    },
    {
      name: "/bn1/BatchNormalization",
      op_type: "BatchNormalization",
      input: ["/conv1/Conv_output_0", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
      output: ["/bn1/BatchNormalization_output_0"],
      attribute: [floatAttr("epsilon", 1e-5), floatAttr("momentum", 0.9)],
    },
    {
      name: "/relu/Relu",
      op_type: "Relu",
      input: ["/bn1/BatchNormalization_output_0"],
      output: ["/relu/Relu_output_0"],
    },
    {
      name: "/pool/MaxPool",
      op_type: "MaxPool",
      input: ["/relu/Relu_output_0"],
      output: ["/pool/MaxPool_output_0"],
      attribute: [
        intAttr("ceil_mode", 0),
        intsAttr("dilations", [1, 1]),
        intsAttr("kernel_shape", [2, 2]),
        intsAttr("pads", [0, 0, 0, 0]),
        intsAttr("strides", [2, 2]),
      ],
    },
    {
      name: "/avg/AveragePool",
      op_type: "AveragePool",
      input: ["/pool/MaxPool_output_0"],
      output: ["/avg/AveragePool_output_0"],
      attribute: [
        intAttr("ceil_mode", 0),
        intAttr("count_include_pad", 1),
        intsAttr("kernel_shape", [2, 2]),
        intsAttr("pads", [0, 0, 0, 0]),
        intsAttr("strides", [1, 1]),
      ],
    },
    {
      name: "/Constant",
      op_type: "Constant",
      output: ["/Constant_output_0"],
      attribute: [
        {
          name: "value",
          type: ATTR.TENSOR,
          t: { dims: [2], data_type: INT64, raw_data: raw(new BigInt64Array([-1n, 36n])) },
        },
      ],
    },
    {
      name: "/Reshape",
      op_type: "Reshape",
      input: ["/avg/AveragePool_output_0", "/Constant_output_0"],
      output: ["/Reshape_output_0"],
      attribute: [intAttr("allowzero", 0)],
    },
    {
      name: "/fc1/Gemm",
      op_type: "Gemm",
      input: ["/Reshape_output_0", "fc1.weight", "fc1.bias"],
      output: ["/fc1/Gemm_output_0"],
      attribute: [floatAttr("alpha", 1), floatAttr("beta", 1), intAttr("transB", 1)],
    },
    {
      name: "/relu_1/Relu",
      op_type: "Relu",
      input: ["/fc1/Gemm_output_0"],
      output: ["/relu_1/Relu_output_0"],
    },
    {
      name: "/fc2/MatMul",
      op_type: "MatMul",
      input: ["/relu_1/Relu_output_0", "onnx::MatMul_21"],
      output: ["/fc2/MatMul_output_0"],
    },
    { name: "/fc2/Add", op_type: "Add", input: ["fc2.bias", "/fc2/MatMul_output_0"], output: ["logits"] },
  ];
  const inputs = [valueInfo("x", ["batch_size", 1, 8, 8])];
  if (options.initializersAsInputs) {
    for (const t of initializers) inputs.push(valueInfo(t.name as string, t.dims as number[]));
  }
  const model = {
    ir_version: 8,
    producer_name: "pytorch",
    producer_version: "2.3.0",
    opset_import: [{ domain: "", version: 17 }],
    graph: {
      name: "main_graph",
      node: nodes,
      initializer: initializers,
      input: inputs,
      output: [valueInfo("logits", ["batch_size", 3])],
      value_info: [valueInfo("/conv1/Conv_output_0", ["batch_size", 4, 8, 8])],
    },
  };
  const problem = ModelType.verify(model);
  if (problem) throw new Error(`torchStyleModelBytes: ${problem}`);
  return ModelType.encode(ModelType.fromObject(model)).finish();
}

/** The same network computed directly from the weights in float64 (eval-mode BatchNorm). */
export function torchStyleReference(w: TorchStyleWeights, x: Float32Array, batch: number): Float64Array {
  const out = new Float64Array(batch * 3);
  for (let n = 0; n < batch; n++) {
    const img = x.subarray(n * 64, (n + 1) * 64);
    // conv 3×3 pad 1 → [4, 8, 8], BN, ReLU
    const a = new Float64Array(4 * 64);
    for (let c = 0; c < 4; c++) {
      const scale = w.bn.weight[c]! / Math.sqrt(w.bn.variance[c]! + 1e-5);
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 8; j++) {
          let s = w.conv1Bias[c]!;
          for (let ki = 0; ki < 3; ki++) {
            for (let kj = 0; kj < 3; kj++) {
              const ii = i + ki - 1;
              const jj = j + kj - 1;
              if (ii < 0 || ii >= 8 || jj < 0 || jj >= 8) continue;
              s += img[ii * 8 + jj]! * w.conv1Weight[c * 9 + ki * 3 + kj]!;
            }
          }
          a[c * 64 + i * 8 + j] = Math.max(0, (s - w.bn.mean[c]!) * scale + w.bn.bias[c]!);
        }
      }
    }
    // max pool 2×2 stride 2 → [4, 4, 4]; average pool 2×2 stride 1 → [4, 3, 3]
    const p = new Float64Array(4 * 16);
    for (let c = 0; c < 4; c++)
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++) {
          const at = (di: number, dj: number) => a[c * 64 + (2 * i + di) * 8 + 2 * j + dj]!;
          p[c * 16 + i * 4 + j] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
        }
    const q = new Float64Array(36);
    for (let c = 0; c < 4; c++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          const at = (di: number, dj: number) => p[c * 16 + (i + di) * 4 + j + dj]!;
          q[c * 9 + i * 3 + j] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4;
        }
    const h = new Float64Array(16);
    for (let o = 0; o < 16; o++) {
      let s = w.fc1Bias[o]!;
      for (let i = 0; i < 36; i++) s += q[i]! * w.fc1Weight[o * 36 + i]!;
      h[o] = Math.max(0, s);
    }
    for (let o = 0; o < 3; o++) {
      let s = w.fc2Bias[o]!;
      for (let i = 0; i < 16; i++) s += h[i]! * w.fc2Weight[o * 16 + i]!;
      out[n * 3 + o] = s;
    }
  }
  return out;
}
