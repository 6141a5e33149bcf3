import { noGrad, Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { decodeModel } from "../proto/codec.js";
import { tensorProto, tensorToArray } from "../proto/tensor-data.js";
import {
  AttributeType,
  DataType,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from "../proto/types.js";
import { ImportedOnnxModel } from "./imported-model.js";
import { OP_LAYERS, type OpContext, type OpLayer } from "./op-layers.js";

/*
 * ONNX bytes → a trainable model of `nn` layers. The graph is walked in order; each node becomes a layer
 * (op-layers.ts) that is run at once on an example batch, which both checks that the layer accepts what
 * the node receives and gives the next node its input shape. Layers are registered under the dotted path
 * their weights' names carry ("features.0.weight" → "features.0"), else under the node's name when that
 * is a dotted path, else under a generated name — so a model exported by this package comes back with
 * its own state-dict names.
 */

/** Default-domain opsets `importOnnx` reads. */
export const IMPORT_OPSETS = Object.freeze({ min: 11, max: 21 });

/** The ONNX ops `importOnnx` maps to layers, plus Constant. */
export const IMPORTED_OPS: readonly string[] = Object.freeze([...Object.keys(OP_LAYERS), "Constant"]);

const FN = "importOnnx";
const SEGMENT = /^[A-Za-z0-9_]+$/;

function isDottedPath(s: string): boolean {
  return s !== "" && s.split(".").every((p) => SEGMENT.test(p));
}

function fail(problem: string): never {
  throw new Error(`${FN}: ${problem}`);
}

function dataTypeName(code: number): string {
  return (
    Object.entries(DataType)
      .find(([, c]) => c === code)?.[0]
      .toLowerCase() ?? `type ${code}`
  );
}

/**
 * A float ONNX model (bytes of an `.onnx` file) as an `ImportedOnnxModel`: `nn` layers holding its
 * weights, in eval mode, that `exportOnnx` writes back to the same graph. Accepts one float input
 * [batch, …] and one output, default-domain opsets 11 to 21, and the ops in `IMPORTED_OPS`; anything else
 * (another op, an attribute value a layer cannot reproduce, a quantized or non-float tensor, a malformed
 * or truncated file) throws an Error starting "importOnnx:" that names it.
 */
export function importOnnx(bytes: Uint8Array): ImportedOnnxModel {
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    fail(`not a readable ONNX model: ${(e as Error).message}`);
  }
  return new Importer(model).run();
}

class Importer {
  readonly #constants = new Map<string, TensorProto>();
  /** Example values (batch 1) of the activations computed so far. */
  readonly #examples = new Map<string, Variable>();
  readonly #readers = new Map<string, number>();
  readonly #absorbed = new Set<NodeProto>();
  #generated = 0;
  readonly opset: number;
  readonly result: ImportedOnnxModel;

  constructor(private readonly model: ModelProto) {
    const own = model.opsetImport.find((o) => (o.domain ?? "") === "" || o.domain === "ai.onnx");
    if (own === undefined) fail("the model does not import the default ONNX domain (ai.onnx)");
    if (own.version < IMPORT_OPSETS.min || own.version > IMPORT_OPSETS.max) {
      fail(
        `opset ${own.version} is not supported (importOnnx reads opsets ${IMPORT_OPSETS.min} to ${IMPORT_OPSETS.max})`,
      );
    }
    this.opset = own.version;
    const g = model.graph;
    for (const t of g.initializer) this.#constants.set(t.name!, t);
    const inputs = g.input.filter((v) => !this.#constants.has(v.name));
    if (inputs.length !== 1)
      fail(
        `the graph must have one input, it has ${inputs.length} (${inputs.map((v) => v.name).join(", ")})`,
      );
    if (g.output.length !== 1) fail(`the graph must have one output, it has ${g.output.length}`);
    const input = inputs[0]!;
    const tt = input.type?.tensorType;
    if (tt === undefined) fail(`input '${input.name}' is not a tensor`);
    if (tt.elemType !== DataType.FLOAT) {
      fail(`input '${input.name}' is ${dataTypeName(tt.elemType)}; importOnnx takes float models only`);
    }
    const dims = tt.shape?.dim;
    if (dims === undefined || dims.length < 2)
      fail(`input '${input.name}' must have a known shape [batch, …]`);
    const sample = dims.slice(1).map((d, i) => {
      if (d.dimValue === undefined || d.dimValue <= 0) {
        fail(
          `input '${input.name}' dimension ${i + 1} must be a fixed positive size (only the batch may vary)`,
        );
      }
      return d.dimValue;
    });
    const output = g.output[0]!;
    const outType = output.type?.tensorType?.elemType;
    if (outType !== undefined && outType !== DataType.FLOAT) {
      fail(`output '${output.name}' is ${dataTypeName(outType)}; importOnnx takes float models only`);
    }
    const metadata: Record<string, string> = {};
    for (const { key, value } of model.metadataProps) metadata[key] = value;
    this.result = new ImportedOnnxModel({
      inputName: input.name,
      outputName: output.name,
      inputShape: sample,
      batchDim: dims[0]!.dimParam || "batch",
      graphName: g.name || "main",
      opset: this.opset,
      metadata,
      producerName: model.producerName ?? "",
    });
    this.#examples.set(input.name, new Variable(T.zeros([1, ...sample])));
    for (const n of g.node)
      for (const name of n.input) this.#readers.set(name, (this.#readers.get(name) ?? 0) + 1);
    this.#readers.set(output.name, (this.#readers.get(output.name) ?? 0) + 1);
  }

  run(): ImportedOnnxModel {
    for (const [i, node] of this.model.graph.node.entries()) {
      if (this.#absorbed.has(node)) continue;
      const where = `${FN}: node ${i} '${node.name ?? ""}' (${node.opType})`;
      if ((node.domain ?? "") !== "" && node.domain !== "ai.onnx") {
        throw new Error(
          `${where}: domain '${node.domain}' is not supported (only the default ONNX domain imports)`,
        );
      }
      if (node.opType === "Constant") {
        this.constantNode(node, where);
        continue;
      }
      const builder = OP_LAYERS[node.opType];
      if (builder === undefined) {
        throw new Error(
          `${where}: op ${node.opType} has no layer to import into (supported: ${IMPORTED_OPS.join(", ")})`,
        );
      }
      for (const name of node.input) {
        if (name !== "" && !this.#examples.has(name) && !this.#constants.has(name)) {
          throw new Error(`${where}: input '${name}' is not defined before the node`);
        }
      }
      const layer = builder(this.context(node, where));
      for (const n of layer.absorbed) this.#absorbed.add(n);
      this.place(node, layer, where);
    }
    const out = this.result.info.outputName;
    if (!this.#examples.has(out)) fail(`the graph output '${out}' is not computed by any node`);
    this.result.setOutput(out);
    this.checkDeclaredOutput();
    this.result.eval();
    return this.result;
  }

  context(node: NodeProto, where: string): OpContext {
    const failHere: (problem: string) => never = (problem) => {
      throw new Error(`${where}: ${problem}`);
    };
    const constantInput = (k: number): TensorProto | undefined => {
      const name = node.input[k];
      if (name === undefined || name === "") return undefined;
      return this.#constants.get(name);
    };
    return {
      where,
      node,
      inputShape: (k) => {
        const name = node.input[k];
        const ex = name === undefined ? undefined : this.#examples.get(name);
        return ex?.shape.slice(1);
      },
      floatConstant: (k, role) => {
        const t = constantInput(k);
        if (t === undefined) {
          if (node.input[k] === undefined || node.input[k] === "") return undefined;
          failHere(`${role} ('${node.input[k]}') must be a constant (an initializer or a Constant node)`);
        }
        if (t.dataType !== DataType.FLOAT) {
          failHere(
            `${role} ('${node.input[k]}') is ${dataTypeName(t.dataType)}; importOnnx takes float models only`,
          );
        }
        return { values: this.read(t, where) as Float32Array, dims: [...t.dims] };
      },
      intConstant: (k, role) => {
        const t = constantInput(k);
        if (t === undefined) failHere(`${role} must be a constant`);
        if (t.dataType !== DataType.INT64) failHere(`${role} must be int64, got ${dataTypeName(t.dataType)}`);
        return Array.from(this.read(t, where) as BigInt64Array, Number);
      },
      biasAddAfter: (length) => {
        const out = node.output[0]!;
        if (this.#readers.get(out) !== 1) return undefined;
        const next = this.model.graph.node.find((n) => n.input.includes(out));
        if (next?.opType !== "Add" || next.attribute.length > 0) return undefined;
        const other = next.input[0] === out ? next.input[1] : next.input[0];
        const t = other === undefined ? undefined : this.#constants.get(other);
        if (t === undefined || t.dataType !== DataType.FLOAT) return undefined;
        const n = t.dims.reduce((a, b) => a * b, 1);
        if (n !== length || !t.dims.slice(0, -1).every((d) => d === 1)) return undefined;
        return { node: next, values: this.read(t, where) as Float32Array };
      },
      fail: failHere,
    };
  }

  read(t: TensorProto, where: string): ReturnType<typeof tensorToArray> {
    try {
      return tensorToArray(t);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
    }
  }

  constantNode(node: NodeProto, where: string): void {
    if (node.attribute.length !== 1)
      throw new Error(`${where}: a Constant needs exactly one value attribute`);
    const a = node.attribute[0]!;
    const name = node.output[0]!;
    let t: TensorProto;
    if (a.name === "value" && a.type === AttributeType.TENSOR && a.t !== undefined) t = { ...a.t, name };
    else if (a.name === "value_float" && a.f !== undefined)
      t = tensorProto(name, new Float32Array([a.f]), []);
    else if (a.name === "value_floats") t = tensorProto(name, Float32Array.from(a.floats), [a.floats.length]);
    else if (a.name === "value_int" && a.i !== undefined) t = tensorProto(name, [BigInt(a.i)], [], "int64");
    else if (a.name === "value_ints") t = tensorProto(name, a.ints.map(BigInt), [a.ints.length], "int64");
    else
      throw new Error(
        `${where}: attribute '${a.name}' is not supported (value, value_float(s), value_int(s))`,
      );
    this.#constants.set(name, t);
  }

  /** Register the layer under its path, record the step and run it on the example batch. */
  place(node: NodeProto, layer: OpLayer, where: string): void {
    const path = this.pathFor(node, layer);
    this.result.addLayer(path, layer.module);
    const handle = layer.replayOp === undefined ? path : `${path}.${layer.replayOp}#0`;
    this.result.addStep(
      { module: layer.module, inputs: layer.inputs, output: layer.output },
      node.name ?? handle,
      handle,
    );
    layer.module.eval();
    let out: Variable;
    try {
      out = noGrad(() => layer.module.call(...layer.inputs.map((n) => this.#examples.get(n)!)));
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
    }
    if (this.#examples.has(layer.output) || this.#constants.has(layer.output)) {
      throw new Error(`${where}: output '${layer.output}' is already defined`);
    }
    this.#examples.set(layer.output, out);
  }

  pathFor(node: NodeProto, layer: OpLayer): string {
    const candidates: string[] = [];
    const w = layer.weightName;
    if (w?.endsWith(".weight")) candidates.push(w.slice(0, -".weight".length));
    const name = node.name ?? "";
    candidates.push(name);
    // This package's op handles: "block.add#0" → "block.add_0".
    candidates.push(name.replace(/#/g, "_"));
    // PyTorch's exporter names nodes by module scope and op: "/layer1/relu/Relu" → "layer1.relu".
    const scopes = name.split("/").filter((s) => s !== "");
    if (name.startsWith("/") && scopes.length > 1) candidates.push(scopes.slice(0, -1).join("."));
    for (const c of candidates) if (isDottedPath(c) && !this.result.isPathTaken(c)) return c;
    let path: string;
    do path = `${node.opType.toLowerCase()}_${this.#generated++}`;
    while (this.result.isPathTaken(path));
    return path;
  }

  checkDeclaredOutput(): void {
    const out = this.model.graph.output[0]!;
    const declared = out.type?.tensorType?.shape?.dim;
    const got = this.#examples.get(out.name)!.shape;
    if (declared === undefined) return;
    if (declared.length !== got.length) {
      fail(
        `output '${out.name}' is declared with rank ${declared.length} but the graph computes rank ${got.length}`,
      );
    }
    declared.slice(1).forEach((d, i) => {
      if (d.dimValue !== undefined && d.dimValue !== got[i + 1]) {
        fail(
          `output '${out.name}' dimension ${i + 1} is declared ${d.dimValue} but the graph computes ${got[i + 1]}`,
        );
      }
    });
  }
}
