import { type AttributeValue, attributeProto } from "../builder/attributes.js";
import { dataTypeCode, type ElementType, type TensorValues, tensorProto } from "../proto/tensor-data.js";
import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from "../proto/types.js";

/*
 * The exporters' graph under construction. Unlike the general graph builder it lets the caller name
 * every node (after the module or op it comes from, so a reader can find the layer behind an ONNX node
 * and an importer can give the layer its name back) and leaves the wiring rules to `checkOnnxModel`,
 * which runs on the finished model.
 */

/** A graph input/output dimension: a fixed size or the name of a size chosen at run time. */
export type ExportDim = number | string;

export class OnnxGraphWriter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  readonly #initializerNames = new Set<string>();

  constructor(
    readonly name: string,
    private readonly fn: string,
  ) {}

  input(name: string, type: ElementType, dims: readonly ExportDim[]): void {
    this.inputs.push(valueInfo(name, type, dims, this.fn));
  }

  output(name: string, type: ElementType, dims: readonly ExportDim[]): void {
    this.outputs.push(valueInfo(name, type, dims, this.fn));
  }

  /** A constant tensor; returns its name. */
  initializer(name: string, values: TensorValues, dims: readonly number[], type?: ElementType): string {
    if (this.#initializerNames.has(name)) {
      throw new Error(`${this.fn}: two initializers would be called '${name}'`);
    }
    this.#initializerNames.add(name);
    this.initializers.push(tensorProto(name, values, dims, type));
    return name;
  }

  hasInitializer(name: string): boolean {
    return this.#initializerNames.has(name);
  }

  node(
    opType: string,
    name: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes: Readonly<Record<string, AttributeValue>> = {},
  ): void {
    const where = `${this.fn}: node '${name}' (${opType})`;
    this.nodes.push({
      input: [...inputs],
      output: [...outputs],
      name,
      opType,
      attribute: Object.entries(attributes).map(([k, v]) => attributeProto(k, v, where)),
    });
  }

  graph(): GraphProto {
    return {
      node: this.nodes,
      name: this.name,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
      valueInfo: [],
    };
  }
}

function valueInfo(name: string, type: ElementType, dims: readonly ExportDim[], fn: string): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: dataTypeCode(type, fn),
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}
