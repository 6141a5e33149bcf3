import type { Module } from "@quant-trim/autograd";
import { compile, type IntegerProgram, type PlainQParams, profiles, run } from "@quant-trim/npu-sim";
import {
  DataType,
  decodeModel,
  encodeModel,
  exportQdqOnnx,
  exportQdqOnnxModel,
  type ModelProto,
  type NodeProto,
  tensorToArray,
} from "@quant-trim/onnx";
import { unpackInt4 } from "@quant-trim/quant";
import { buildModel, head, trainClassifier, zooNames } from "@quant-trim/recipes";
import { MNIST_PIXELS, standardizedSplit } from "@quant-trim/recipes/node";
import * as T from "@quant-trim/tensor";
import { beforeAll, describe, expect, it } from "vitest";
import { ortOutputs } from "./export-helpers.js";

/*
 * QDQ export checked against the npu-sim program it was written from, on real MNIST digits: ONNX
 * Runtime runs the QDQ file (fusing DQ → op → Q into its integer kernels) and must give the program's
 * outputs. On x86 without VNNI onnxruntime saturates u8×s8 product pairs to int16, so the program of
 * the profile that names that behaviour is the one to compare with there; each test says which mode
 * the machine matched.
 */

const SAMPLE = [1, 28, 28];
const CLASSES = 10;
const { train, test } = standardizedSplit();

function digits(from: { inputs: Float32Array }, count: number): T.Tensor {
  return T.fromData(from.inputs.slice(0, count * MNIST_PIXELS), [count, ...SAMPLE]);
}

interface Agreement {
  /** Samples whose arg-max agrees. */
  top1: number;
  /** Largest |ORT − program| over all logits. */
  maxDiff: number;
}

function agreement(a: Float32Array, b: Float32Array, classes: number): Agreement {
  let top1 = 0;
  let maxDiff = 0;
  for (let n = 0; n < a.length / classes; n++) {
    let ia = 0;
    let ib = 0;
    for (let k = 0; k < classes; k++) {
      const i = n * classes + k;
      if (a[i]! > a[n * classes + ia]!) ia = k;
      if (b[i]! > b[n * classes + ib]!) ib = k;
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    }
    if (ia === ib) top1++;
  }
  return { top1, maxDiff };
}

/**
 * Compile for ort-cpu-u8s8, export, run both. When ORT's outputs are not exactly the program's, the
 * pair-saturation profile (same grids, so the same file) is compiled too and must match exactly.
 */
async function ortVersusProgram(model: Module, calibration: T.Tensor, x: T.Tensor) {
  const exact = compile(model, profiles["ort-cpu-u8s8"]!, calibration);
  const bytes = exportQdqOnnx(exact);
  const [ort] = await ortOutputs(bytes, [x]);
  const ours = run(exact, x).output.toFloat32Array();
  const vsExact = agreement(ort!.data, ours, CLASSES);
  if (vsExact.maxDiff === 0)
    return { mode: "ort-cpu-u8s8", vsExact, vsMachine: vsExact, bytes, program: exact };
  const paired = compile(model, profiles["ort-cpu-u8s8-x86-pair-sat"]!, calibration);
  // Same grids, same qparams: the same graph (only the profile named in the metadata differs).
  const graphBytes = (b: Uint8Array) => encodeModel({ ...decodeModel(b), metadataProps: [] });
  expect(graphBytes(exportQdqOnnx(paired))).toEqual(graphBytes(bytes));
  const vsMachine = agreement(ort!.data, run(paired, x).output.toFloat32Array(), CLASSES);
  return { mode: "ort-cpu-u8s8-x86-pair-sat", vsExact, vsMachine, bytes, program: exact };
}

function nodesOf(model: ModelProto, op: string): NodeProto[] {
  return model.graph.node.filter((n) => n.opType === op);
}

function init(model: ModelProto, name: string) {
  const t = model.graph.initializer.find((i) => i.name === name);
  if (t === undefined) throw new Error(`no initializer '${name}'`);
  return t;
}

describe("QDQ export in ONNX Runtime vs the npu-sim program (ort-cpu-u8s8)", () => {
  let trained: Module;
  beforeAll(() => {
    trained = buildModel("cnn", { inputShape: SAMPLE, classes: CLASSES, seed: 1 });
    trainClassifier(trained, head(train, 512), { epochs: 1, batchSize: 64, lr: 3e-3 });
  });

  it("a trained cnn on 256 test digits: top-1 agreement 100 %, outputs equal to the program of the machine's mode", async () => {
    const r = await ortVersusProgram(trained, digits(train, 256), digits(test, 256));
    console.info(
      `QDQ cnn, 256 digits: ORT matched ${r.mode}; vs ort-cpu-u8s8 top-1 ${r.vsExact.top1}/256, max |Δlogit| ${r.vsExact.maxDiff}`,
    );
    expect(r.vsMachine.maxDiff).toBe(0);
    expect(r.vsMachine.top1).toBe(256);
    if (r.mode === "ort-cpu-u8s8") expect(r.vsExact.top1).toBe(256);
  });

  for (const name of zooNames) {
    it(`${name} (seeded): ONNX Runtime gives the program's outputs on 64 digits`, async () => {
      const model = buildModel(name, { inputShape: SAMPLE, classes: CLASSES, seed: 2 });
      const r = await ortVersusProgram(model, digits(train, 64), digits(test, 64));
      expect(r.vsMachine.maxDiff).toBe(0);
      expect(r.vsMachine.top1).toBe(64);
      // Q/DQ around every integer tensor, no BatchNormalization left (folded by the compiler).
      const proto = decodeModel(r.bytes);
      expect(nodesOf(proto, "BatchNormalization")).toEqual([]);
      const intValues = Object.values(r.program.values).filter((v) => v.domain === "int").length;
      expect(nodesOf(proto, "QuantizeLinear").length).toBe(intValues);
    });
  }
});

describe("QDQ export: what the file holds", () => {
  const model = buildModel("cnn", { inputShape: SAMPLE, classes: CLASSES, seed: 3 });
  const calibration = digits(train, 64);

  it("per-axis int8 weights, int32 biases at s_in·s_w, the program's activation qparams, uint8 activations", () => {
    const program = compile(model, profiles["ort-cpu-u8s8"]!, calibration);
    const proto = exportQdqOnnxModel(program, { metadata: { recipe: "fp" } });
    expect(proto.opsetImport).toEqual([{ domain: "", version: 13 }]);
    const conv = program.steps.find((s) => s.op === "conv2d")!;
    if (conv.op !== "conv2d") throw new Error("unreachable");
    const wq = init(proto, `${conv.name}.weight_quantized`);
    expect(wq.dataType).toBe(DataType.INT8);
    expect(Array.from(tensorToArray(wq) as Int8Array)).toEqual(Array.from(conv.weights.data as Int8Array));
    const ws = init(proto, `${conv.name}.weight_scale`);
    expect(ws.dims).toEqual([8]);
    expect(Array.from(tensorToArray(ws) as Float32Array)).toEqual(conv.weightQParams.scale.map(Math.fround));
    const wdq = proto.graph.node.find((n) => n.output[0] === `${conv.name}.weight`)!;
    expect(wdq.attribute.find((a) => a.name === "axis")!.i).toBe(0);
    const sIn = (program.values[conv.inputs[0]!]!.qparams as PlainQParams).scale[0]!;
    expect(Array.from(tensorToArray(init(proto, `${conv.name}.bias_quantized`)) as Int32Array)).toEqual(
      Array.from(conv.bias),
    );
    expect(Array.from(tensorToArray(init(proto, `${conv.name}.bias_scale`)) as Float32Array)).toEqual(
      conv.weightQParams.scale.map((s) => Math.fround(sIn * s)),
    );
    // Each activation's QuantizeLinear carries its value's qparams.
    const out = program.values[conv.output]!;
    const q = out.qparams as PlainQParams;
    expect(tensorToArray(init(proto, `${conv.name}.output_scale`))[0]).toBe(Math.fround(q.scale[0]!));
    const zp = init(proto, `${conv.name}.output_zero_point`);
    expect(zp.dataType).toBe(DataType.UINT8);
    expect(tensorToArray(zp)[0]).toBe(q.zeroPoint[0]);
    const meta = Object.fromEntries(proto.metadataProps.map((e) => [e.key, e.value]));
    expect(meta).toEqual({
      producer: "quant-trim",
      producer_version: "0.1.0",
      recipe: "fp",
      quantization_format: "QDQ",
      quantization_profile: "ort-cpu-u8s8",
    });
  });

  it("per-tensor uint8 weights for the legacy profile; ONNX Runtime agrees on every digit", async () => {
    const program = compile(model, profiles["uint8-per-tensor"]!, calibration);
    const bytes = exportQdqOnnx(program);
    const proto = decodeModel(bytes);
    const conv = program.steps.find((s) => s.op === "conv2d")!;
    expect(init(proto, `${conv.name}.weight_scale`).dims).toEqual([]);
    expect(init(proto, `${conv.name}.weight_zero_point`).dataType).toBe(DataType.UINT8);
    const x = digits(test, 64);
    const [ort] = await ortOutputs(bytes, [x]);
    const a = agreement(ort!.data, run(program, x).output.toFloat32Array(), CLASSES);
    expect(a.top1).toBe(64);
    // The profile rounds half away from zero, QuantizeLinear half to even: a tie can move one code.
    expect(proto.metadataProps.find((e) => e.key === "qdq_notes")?.value).toMatch(
      /activations round half-away/,
    );
  });

  it("INT4 weights (w4a8) as opset 21 int4 tensors holding the program's codes, run by ONNX Runtime", async () => {
    const program = compile(model, profiles.w4a8!, calibration);
    const bytes = exportQdqOnnx(program);
    const proto = decodeModel(bytes);
    expect(proto.opsetImport).toEqual([{ domain: "", version: 21 }]);
    expect(proto.irVersion).toBe(10);
    for (const step of program.steps) {
      if (step.op !== "conv2d" && step.op !== "linear") continue;
      const wq = init(proto, `${step.name}.weight_quantized`);
      expect(wq.dataType).toBe(DataType.INT4);
      expect(wq.rawData!.length).toBe(Math.ceil(step.weights.size / 2));
      expect(Array.from(tensorToArray(wq) as Int8Array)).toEqual(
        Array.from(unpackInt4(step.weights.data as Uint8Array, step.weights.size)),
      );
      expect(init(proto, `${step.name}.weight_zero_point`).dataType).toBe(DataType.INT4);
    }
    const x = digits(test, 64);
    const [ort] = await ortOutputs(bytes, [x]);
    expect(agreement(ort!.data, run(program, x).output.toFloat32Array(), CLASSES).top1).toBe(64);
    expect(() => exportQdqOnnx(program, { opset: 13 })).toThrow(
      /^exportQdqOnnx: opset 13 cannot hold the program's 4- or 16-bit tensors/,
    );
  });

  it("4-bit activations (w4a4-per-tensor) as 8-bit Q/DQ clipped to their 4-bit range, said in qdq_notes", async () => {
    const program = compile(model, profiles["w4a4-per-tensor"]!, calibration);
    const bytes = exportQdqOnnx(program);
    const proto = decodeModel(bytes);
    expect(proto.metadataProps.find((e) => e.key === "qdq_notes")?.value).toMatch(
      /4-bit activations are written as 8-bit/,
    );
    const producers = new Map(proto.graph.node.map((n) => [n.output[0]!, n]));
    const intValues = Object.values(program.values).filter((v) => v.domain === "int").length;
    expect(nodesOf(proto, "QuantizeLinear").length).toBe(intValues);
    for (const q of nodesOf(proto, "QuantizeLinear")) {
      const clip = producers.get(q.input[0]!);
      if (clip === undefined) throw new Error(`no producer for ${q.input[0]} of ${q.name}`);
      expect(clip.opType).toBe("Clip");
      const scale = tensorToArray(init(proto, q.input[1]!))[0] as number;
      const zp = tensorToArray(init(proto, q.input[2]!))[0] as number;
      const signed = init(proto, q.input[2]!).dataType === DataType.INT8;
      const [lo, hi] = [clip.input[1]!, clip.input[2]!].map(
        (n) => tensorToArray(init(proto, n))[0] as number,
      );
      // The clip bounds are the grid's end codes in real units: codes stay in [0, 15] (or [-8, 7]).
      expect(Math.round(lo! / scale) + zp).toBe(signed ? -8 : 0);
      expect(Math.round(hi! / scale) + zp).toBe(signed ? 7 : 15);
    }
    const x = digits(test, 64);
    const [ort] = await ortOutputs(bytes, [x]);
    // The profile rounds half away from zero and 4-bit steps are coarse: ties move whole steps, so
    // agreement is high but not total (the report states it).
    expect(
      agreement(ort!.data, run(program, x).output.toFloat32Array(), CLASSES).top1,
    ).toBeGreaterThanOrEqual(58);
  });

  it("refuses programs it cannot write: dynamic scaling, and bad options", () => {
    const dynamic = compile(model, profiles["ort-cpu-dynamic-u8s8"]!, { inputShape: SAMPLE });
    expect(() => exportQdqOnnx(dynamic)).toThrow(
      /^exportQdqOnnx: step 'input@q' \(quantize\) value 'input@q' has qparams chosen at run time/,
    );
    const program: IntegerProgram = compile(model, profiles["ort-cpu-u8s8"]!, calibration);
    expect(() => exportQdqOnnx(program, { inputShape: SAMPLE } as never)).toThrow(
      /^exportQdqOnnx: unknown option 'inputShape'/,
    );
    expect(() => exportQdqOnnx(program, { opset: 9 })).toThrow(/^exportQdqOnnx: opset 9 is not supported/);
    expect(() => exportQdqOnnx({} as never)).toThrow(/^exportQdqOnnx: program must be an IntegerProgram/);
  });
});
