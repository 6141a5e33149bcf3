import { nn, type TraceGraph, type TraceNode } from "@quant-trim/autograd";
import type { Tensor } from "@quant-trim/tensor";
import { attr } from "../builder/attributes.js";
import { type BatchNormStats, foldBatchNorm } from "./fold-batchnorm.js";
import type { OnnxGraphWriter } from "./graph-writer.js";

/*
 * The traced module graph as standard ONNX nodes. Each module call or functional op becomes one node
 * named after it (its module path, or the op's `<scope>.<op>#k` handle), reading and writing values
 * named `<node>.output`; weights are initializers named as in the model's state dict, so the ONNX file
 * and a checkpoint of the same model use the same names (PyTorch's exporter does the same).
 */

/** The batch size the exporters trace with; every value must keep it as its first dimension. */
export const EXPORT_TRACE_BATCH = 2;

/** Layer types exported as one node; any other module is opened and its functional ops exported. */
export const EXPORTED_LAYERS = [
  nn.Linear,
  nn.Conv2d,
  nn.BatchNorm1d,
  nn.BatchNorm2d,
  nn.ReLU,
  nn.ReLU6,
  nn.MaxPool2d,
  nn.AvgPool2d,
  nn.Flatten,
  nn.Dropout,
  nn.Identity,
  nn.Add,
] as const;

export function isExportedLayer(m: nn.Module): boolean {
  return EXPORTED_LAYERS.some((C) => m instanceof C);
}

/** Functional ops (called outside the layers above) that have an ONNX mapping. */
export const EXPORTED_OPS: readonly string[] = [
  "add",
  "relu",
  "relu6",
  "clamp",
  "reshape",
  "maxPool2d",
  "avgPool2d",
];

/** What a lowering asks of the export it serves (the float and QDQ exports answer differently). */
export interface LoweringHooks {
  /** The ONNX name that feeds a layer's weight or bias (a float initializer, or a DequantizeLinear). */
  parameter(layer: string, role: "weight" | "bias", values: Float32Array, dims: readonly number[]): string;
  /**
   * Called once a node has written trace value `id` to `produced`. Returns the name later nodes read
   * (`produced`, or the end of a chain the hook appends). `final` is the graph output's name when `id` is
   * the model output: the returned name must then be `final`.
   */
  value(id: string, produced: string, final: string | undefined): string;
  /** Whether `value` appends nodes after `id` (then the node itself writes to an internal name). */
  rewrites(id: string): boolean;
}

export interface LoweringOptions {
  readonly fn: string;
  readonly inputName: string;
  readonly outputName: string;
  readonly foldBatchNorm: boolean;
  /** ONNX node names to use instead of module paths / op handles (an imported model keeps its own). */
  readonly nodeNames?: ReadonlyMap<string, string>;
}

/** Write `graph` (a trace of `model` with `isExportedLayer` leaves) into `writer`. */
export function lowerTrace(
  graph: TraceGraph,
  model: nn.Module,
  writer: OnnxGraphWriter,
  hooks: LoweringHooks,
  options: LoweringOptions,
): void {
  new Lowering(graph, model, writer, hooks, options).run();
}

type Layer = nn.Linear | nn.Conv2d;

class Lowering {
  readonly #modules: Map<string, nn.Module>;
  /** ONNX value name of each trace value id. */
  readonly #names = new Map<string, string>();
  readonly #consumers = new Map<string, number>();
  readonly #constants: Set<string>;
  /** BatchNorm nodes folded into the layer before them (skipped when reached). */
  readonly #folded = new Set<TraceNode>();
  readonly #nodeNames = new Set<string>();

  constructor(
    private readonly graph: TraceGraph,
    model: nn.Module,
    private readonly writer: OnnxGraphWriter,
    private readonly hooks: LoweringHooks,
    private readonly options: LoweringOptions,
  ) {
    this.#modules = new Map(model.namedModules());
    this.#constants = new Set(graph.constants.map((c) => c.id));
    for (const n of graph.nodes) {
      for (const id of n.inputs) this.#consumers.set(id, (this.#consumers.get(id) ?? 0) + 1);
    }
    this.#names.set("input", options.inputName);
  }

  fail(node: TraceNode | undefined, problem: string): never {
    const where = node === undefined ? "" : ` ${describe(node)}`;
    throw new Error(`${this.options.fn}:${where} ${problem}`);
  }

  run(): void {
    const { graph } = this;
    for (const node of graph.nodes) {
      this.checkBatch(node);
      if (this.#folded.has(node)) continue;
      if (node.kind === "module") this.module(node);
      else this.op(node);
    }
    if (graph.output.id === "input") {
      // A model that returns its input (an empty Sequential) still needs a node producing the output.
      this.writer.node("Identity", "output", [this.options.inputName], [this.options.outputName]);
    }
  }

  checkBatch(node: TraceNode): void {
    const shapes = [
      ...node.inputShapes.filter((_, k) => !this.#constants.has(node.inputs[k]!)),
      node.outputShape,
    ];
    for (const s of shapes) {
      if (s[0] !== EXPORT_TRACE_BATCH) {
        this.fail(
          node,
          `has a value of shape [${s.join(", ")}] that does not keep the batch axis first, so the ONNX graph could not take a dynamic batch`,
        );
      }
    }
  }

  nodeName(node: TraceNode): string {
    const own = node.name ?? node.type;
    const base = this.options.nodeNames?.get(own) ?? own;
    // A module called twice is two nodes; the second call gets its own name.
    let name = base;
    for (let k = 1; this.#nodeNames.has(name); k++) name = `${base}#call${k}`;
    this.#nodeNames.add(name);
    return name;
  }

  input(node: TraceNode, k: number): string {
    const id = node.inputs[k]!;
    if (this.#constants.has(id)) {
      this.fail(node, `takes a constant as input ${k}; this exporter maps ops between values only`);
    }
    const name = this.#names.get(id);
    if (name === undefined) this.fail(node, `reads value '${id}' before it is produced`);
    return name;
  }

  /** Where a node writing trace value `id` puts its result, and the hook call that publishes it. */
  target(id: string, nodeName: string): { name: string; done: () => void } {
    const final = id === this.graph.output.id ? this.options.outputName : undefined;
    const name = final !== undefined && !this.hooks.rewrites(id) ? final : `${nodeName}.output`;
    return {
      name,
      done: () => {
        this.#names.set(id, this.hooks.value(id, name, final));
      },
    };
  }

  moduleOf(node: TraceNode): nn.Module {
    const m = this.#modules.get(node.name ?? "");
    if (m === undefined) this.fail(node, "names no module of the model");
    // The exported graph holds the stored weights and standard ops only; a hook would be dropped silently.
    const hooked = m.hooks.input !== undefined || m.hooks.output !== undefined;
    if (hooked || ((m instanceof nn.Linear || m instanceof nn.Conv2d) && m.weightHook !== null)) {
      this.fail(node, "carries forward hooks (a model prepared for QAT?); export the float model");
    }
    return m;
  }

  module(node: TraceNode): void {
    const m = this.moduleOf(node);
    const name = this.nodeName(node);
    if (m instanceof nn.Linear || m instanceof nn.Conv2d) {
      this.layer(node, m, name);
      return;
    }
    if (m instanceof nn.BatchNorm1d || m instanceof nn.BatchNorm2d) {
      this.batchNorm(node, m, name);
      return;
    }
    const x = this.input(node, 0);
    const out = this.target(node.output, name);
    if (m instanceof nn.ReLU) this.writer.node("Relu", name, [x], [out.name]);
    else if (m instanceof nn.ReLU6) this.clip(name, x, out.name, 0, 6);
    else if (m instanceof nn.MaxPool2d) this.maxPool(name, x, out.name, m.options);
    else if (m instanceof nn.AvgPool2d) this.avgPool(name, x, out.name, m.options);
    else if (m instanceof nn.Flatten) {
      const axis = m.startAxis < 0 ? m.startAxis + node.inputShapes[0]!.length : m.startAxis;
      if (axis === 1) this.writer.node("Flatten", name, [x], [out.name], { axis: 1 });
      else this.reshape(node, name, x, out.name);
    } else if (m instanceof nn.Dropout || m instanceof nn.Identity) {
      this.writer.node("Identity", name, [x], [out.name]);
    } else if (m instanceof nn.Add) {
      this.writer.node("Add", name, [x, this.input(node, 1)], [out.name]);
    } else this.fail(node, `is a ${m.constructor.name}, which has no ONNX mapping`);
    out.done();
  }

  op(node: TraceNode): void {
    const name = this.nodeName(node);
    if (!EXPORTED_OPS.includes(node.type)) {
      this.fail(node, `has no ONNX mapping (exported functional ops: ${EXPORTED_OPS.join(", ")})`);
    }
    const x = this.input(node, 0);
    const out = this.target(node.output, name);
    const a = node.attrs;
    switch (node.type) {
      case "add":
        this.writer.node("Add", name, [x, this.input(node, 1)], [out.name]);
        break;
      case "relu":
        this.writer.node("Relu", name, [x], [out.name]);
        break;
      case "relu6":
        this.clip(name, x, out.name, 0, 6);
        break;
      case "clamp":
        this.clip(name, x, out.name, a.lo as number, a.hi as number);
        break;
      case "reshape":
        this.reshape(node, name, x, out.name);
        break;
      case "maxPool2d":
        this.maxPool(name, x, out.name, a as never);
        break;
      case "avgPool2d":
        this.avgPool(name, x, out.name, a as never);
        break;
    }
    out.done();
  }

  /** A BatchNorm that directly follows a layer whose output nothing else reads. */
  foldableBatchNorm(layerNode: TraceNode): TraceNode | undefined {
    if (!this.options.foldBatchNorm) return undefined;
    if (this.#consumers.get(layerNode.output) !== 1 || layerNode.output === this.graph.output.id)
      return undefined;
    const next = this.graph.nodes.find((n) => n.inputs.includes(layerNode.output));
    if (next?.kind !== "module") return undefined;
    const m = this.#modules.get(next.name ?? "");
    return m instanceof nn.BatchNorm1d || m instanceof nn.BatchNorm2d ? next : undefined;
  }

  layer(node: TraceNode, m: Layer, name: string): void {
    const x = this.input(node, 0);
    const bnNode = this.foldableBatchNorm(node);
    let weight = m.weight.data.toFloat32Array();
    let bias = m.bias?.data.toFloat32Array() ?? null;
    let resultId = node.output;
    if (bnNode !== undefined) {
      const bn = this.moduleOf(bnNode) as nn.BatchNorm2d;
      const folded = foldBatchNorm(m.weight.data, m.bias?.data ?? null, batchNormStats(bn));
      weight = folded.weight;
      bias = folded.bias;
      this.#folded.add(bnNode);
      resultId = bnNode.output;
    }
    const path = node.name!;
    const out = this.target(resultId, name);
    if (m instanceof nn.Conv2d) {
      const w = this.hooks.parameter(path, "weight", weight, m.weight.shape);
      const inputs = [x, w];
      if (bias !== null) inputs.push(this.hooks.parameter(path, "bias", bias, [bias.length]));
      const [sh, sw] = pair(m.options.stride, 1);
      const [ph, pw] = pair(m.options.padding, 0);
      const [dh, dw] = pair(m.options.dilation, 1);
      this.writer.node("Conv", name, inputs, [out.name], {
        kernel_shape: [...m.kernel],
        strides: [sh, sw],
        pads: [ph, pw, ph, pw],
        dilations: [dh, dw],
        group: m.options.groups ?? 1,
      });
    } else {
      // nn.Linear takes [N, in] only, which is Gemm's case; transB = 1 reads the weight as stored, as
      // PyTorch's exporter writes it.
      const w = this.hooks.parameter(path, "weight", weight, m.weight.shape);
      const inputs = [x, w];
      if (bias !== null) inputs.push(this.hooks.parameter(path, "bias", bias, [bias.length]));
      this.writer.node("Gemm", name, inputs, [out.name], { transB: 1 });
    }
    out.done();
  }

  batchNorm(node: TraceNode, m: nn.BatchNorm1d | nn.BatchNorm2d, name: string): void {
    const x = this.input(node, 0);
    const out = this.target(node.output, name);
    const path = node.name!;
    const param = (suffix: string, t: Tensor): string => {
      const full = `${path}.${suffix}`;
      return this.writer.hasInitializer(full)
        ? full
        : this.writer.initializer(full, t.toFloat32Array(), [t.size]);
    };
    this.writer.node(
      "BatchNormalization",
      name,
      [
        x,
        param("weight", m.weight.data),
        param("bias", m.bias.data),
        param("running_mean", m.runningMean),
        param("running_var", m.runningVar),
      ],
      [out.name],
      // ONNX's momentum weighs the old running value: 1 − PyTorch's momentum.
      { epsilon: attr.float(m.eps), momentum: attr.float(1 - m.momentum) },
    );
    out.done();
  }

  clip(name: string, x: string, out: string, lo: number, hi: number): void {
    const min = this.writer.initializer(`${name}.min`, new Float32Array([lo]), []);
    const max = this.writer.initializer(`${name}.max`, new Float32Array([hi]), []);
    this.writer.node("Clip", name, [x, min, max], [out]);
  }

  maxPool(name: string, x: string, out: string, o: nn.MaxPool2d["options"]): void {
    const kernel = pair(o.kernel, 1);
    const [ph, pw] = pair(o.padding, 0);
    const dilations = pair(o.dilation, 1);
    this.writer.node("MaxPool", name, [x], [out], {
      kernel_shape: kernel,
      strides: pair(o.stride ?? o.kernel, 1),
      pads: [ph, pw, ph, pw],
      ...(dilations[0] !== 1 || dilations[1] !== 1 ? { dilations } : {}),
    });
  }

  avgPool(name: string, x: string, out: string, o: nn.AvgPool2d["options"]): void {
    const [ph, pw] = pair(o.padding, 0);
    this.writer.node("AveragePool", name, [x], [out], {
      kernel_shape: pair(o.kernel, 1),
      strides: pair(o.stride ?? o.kernel, 1),
      pads: [ph, pw, ph, pw],
      count_include_pad: o.countIncludePad === false ? 0 : 1,
    });
  }

  /** Reshape to the traced per-sample shape; 0 keeps the batch dimension, whatever it is at run time. */
  reshape(node: TraceNode, name: string, x: string, out: string): void {
    const shape = this.writer.initializer(
      `${name}.shape`,
      node.outputShape.map((d, i) => BigInt(i === 0 ? 0 : d)),
      [node.outputShape.length],
      "int64",
    );
    this.writer.node("Reshape", name, [x, shape], [out]);
  }
}

export function batchNormStats(bn: nn.BatchNorm1d | nn.BatchNorm2d): BatchNormStats {
  return {
    gamma: bn.weight.data,
    beta: bn.bias.data,
    mean: bn.runningMean,
    variance: bn.runningVar,
    eps: bn.eps,
  };
}

function pair(v: number | readonly [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

function describe(node: TraceNode): string {
  return node.kind === "module" ? `module '${node.name}' (${node.type})` : `op '${node.name ?? node.type}'`;
}
