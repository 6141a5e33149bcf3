import { dataTypeCode, type ElementType, type TensorValues, tensorProto } from "../proto/tensor-data.js";
import type {
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  TensorProto,
  TensorShapeDimension,
  ValueInfoProto,
} from "../proto/types.js";
import { type AttributeValue, attributeProto } from "./attributes.js";
import { DEFAULT_OPSET, irVersionForOpset } from "./opset.js";

/**
 * A dimension of a graph input or output: a fixed size, or a name for a size chosen at run time
 * (`"batch"`, written as `dim_param`).
 */
export type Dim = number | string;

export interface ModelOptions {
  /** Opset of the default domain (ai.onnx). Default 13; 21 is the first with int4/uint4 Q/DQ. */
  readonly opset?: number;
  /** Other operator domains and their versions, e.g. `{ "com.microsoft": 1 }` for QLinearAdd. */
  readonly domains?: Readonly<Record<string, number>>;
  /** IR version; default: the lowest that carries `opset` (`irVersionForOpset`). */
  readonly irVersion?: number;
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  /** Written as the model's `metadata_props`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

const MODEL_OPTIONS = new Set([
  "opset",
  "domains",
  "irVersion",
  "producerName",
  "producerVersion",
  "docString",
  "metadata",
]);

/**
 * Builds one ONNX graph in the order a reader expects (inputs, initializers, nodes in topological order,
 * outputs) and checks its wiring when it is finished: every node input is a graph input, an initializer
 * or an earlier node's output; no name is defined twice; every graph output is defined.
 *
 *     const model = graph("qmatmul")
 *       .input("a", "uint8", ["batch", 4])
 *       .initializer("b", weights, [4, 3])
 *       .node("MatMulInteger", ["a", "b"], ["y"])
 *       .output("y", "int32", ["batch", 3])
 *       .model({ opset: 13 });
 */
export class GraphBuilder {
  readonly #name: string;
  readonly #inputs: ValueInfoProto[] = [];
  readonly #outputs: ValueInfoProto[] = [];
  readonly #initializers: TensorProto[] = [];
  readonly #nodes: NodeProto[] = [];

  constructor(name = "main") {
    if (typeof name !== "string" || name === "")
      throw new Error("graph: the graph name must be a non-empty string");
    this.#name = name;
  }

  /** A graph input of an element type and shape (omit the shape when even the rank is unknown). */
  input(name: string, type: ElementType, shape?: readonly Dim[]): this {
    this.#inputs.push(valueInfo("input", name, type, shape));
    return this;
  }

  /** A graph output; it must be produced by a node, or be an input or initializer. */
  output(name: string, type: ElementType, shape?: readonly Dim[]): this {
    this.#outputs.push(valueInfo("output", name, type, shape));
    return this;
  }

  /**
   * A constant tensor (stored as raw little-endian data). The element type defaults to the typed array's;
   * 4-bit types take one value per element and are packed here.
   */
  initializer(name: string, values: TensorValues, dims: readonly number[], type?: ElementType): this {
    checkName("initializer", name);
    this.#initializers.push(tensorProto(name, values, dims, type));
    return this;
  }

  /** A node. Empty strings in `inputs` mark omitted optional inputs. */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes: Readonly<Record<string, AttributeValue>> = {},
    domain = "",
  ): this {
    const fn = `node(${String(opType)})`;
    if (typeof opType !== "string" || opType === "")
      throw new Error("node: opType must be a non-empty string");
    if (!Array.isArray(inputs) || !inputs.every((s) => typeof s === "string")) {
      throw new Error(`${fn}: inputs must be an array of names`);
    }
    if (
      !Array.isArray(outputs) ||
      outputs.length === 0 ||
      !outputs.every((s) => typeof s === "string" && s !== "")
    ) {
      throw new Error(`${fn}: outputs must be a non-empty array of non-empty names`);
    }
    if (typeof domain !== "string") throw new Error(`${fn}: domain must be a string`);
    const node: NodeProto = {
      input: [...inputs],
      output: [...outputs],
      name: `${opType}_${this.#nodes.length}`,
      opType,
      attribute: Object.entries(attributes).map(([k, v]) => attributeProto(k, v, fn)),
    };
    if (domain !== "") node.domain = domain;
    this.#nodes.push(node);
    return this;
  }

  /** The finished GraphProto, after the wiring checks. */
  graph(): GraphProto {
    const fn = `graph('${this.#name}')`;
    const defined = new Map<string, string>();
    const define = (name: string, what: string) => {
      const before = defined.get(name);
      if (before !== undefined) throw new Error(`${fn}: '${name}' is defined twice (${before} and ${what})`);
      defined.set(name, what);
    };
    for (const v of this.#inputs) define(v.name, "a graph input");
    for (const t of this.#initializers) define(t.name!, "an initializer");
    for (const n of this.#nodes) {
      n.input.forEach((name, i) => {
        if (name !== "" && !defined.has(name)) {
          throw new Error(`${fn}: ${n.name} input ${i} '${name}' is not defined before the node`);
        }
      });
      for (const out of n.output) define(out, `an output of ${n.name}`);
    }
    const seen = new Set<string>();
    for (const v of this.#outputs) {
      if (!defined.has(v.name)) throw new Error(`${fn}: graph output '${v.name}' is never defined`);
      if (seen.has(v.name)) throw new Error(`${fn}: graph output '${v.name}' is listed twice`);
      seen.add(v.name);
    }
    if (this.#outputs.length === 0) throw new Error(`${fn}: a graph needs at least one output`);
    return {
      node: [...this.#nodes],
      name: this.#name,
      initializer: [...this.#initializers],
      input: [...this.#inputs],
      output: [...this.#outputs],
      valueInfo: [],
    };
  }

  /** A ModelProto around the graph, importing the opsets the options name. */
  model(options: ModelOptions = {}): ModelProto {
    const fn = `model('${this.#name}')`;
    for (const key of Object.keys(options)) {
      if (!MODEL_OPTIONS.has(key)) {
        throw new Error(`${fn}: unknown option '${key}'; known: ${[...MODEL_OPTIONS].join(", ")}`);
      }
    }
    const g = this.graph();
    const opset = options.opset ?? DEFAULT_OPSET;
    const irVersion = options.irVersion ?? irVersionForOpset(opset);
    const opsetImport: OperatorSetIdProto[] = [{ domain: "", version: opset }];
    const domains = options.domains ?? {};
    for (const [domain, version] of Object.entries(domains)) {
      if (domain === "" || domain === "ai.onnx")
        throw new Error(`${fn}: set the default domain's version with opset`);
      opsetImport.push({ domain, version });
    }
    for (const n of g.node) {
      if (n.domain !== undefined && !Object.hasOwn(domains, n.domain) && n.domain !== "ai.onnx") {
        throw new Error(
          `${fn}: ${n.name} uses domain '${n.domain}', which options.domains does not import (e.g. { "${n.domain}": 1 })`,
        );
      }
    }
    const model: ModelProto = {
      irVersion,
      opsetImport,
      producerName: options.producerName ?? "quant-trim",
      graph: g,
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    };
    if (options.producerVersion !== undefined) model.producerVersion = options.producerVersion;
    if (options.docString !== undefined) model.docString = options.docString;
    return model;
  }
}

/** Start a graph (see `GraphBuilder`). */
export function graph(name?: string): GraphBuilder {
  return new GraphBuilder(name);
}

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name === "") throw new Error(`${what}: name must be a non-empty string`);
}

function valueInfo(
  what: string,
  name: string,
  type: ElementType,
  shape: readonly Dim[] | undefined,
): ValueInfoProto {
  checkName(what, name);
  const fn = `${what}('${name}')`;
  const elemType = dataTypeCode(type, fn);
  const v: ValueInfoProto = { name, type: { tensorType: { elemType } } };
  if (shape === undefined) return v;
  if (!Array.isArray(shape)) throw new Error(`${fn}: shape must be an array of sizes and names`);
  const dim = shape.map((d, i): TensorShapeDimension => {
    if (typeof d === "string" && d !== "") return { dimParam: d };
    if (typeof d === "number" && Number.isSafeInteger(d) && d >= 0) return { dimValue: d };
    throw new Error(`${fn}: shape[${i}] = ${String(d)} must be a non-negative integer or a non-empty name`);
  });
  v.type!.tensorType!.shape = { dim };
  return v;
}
