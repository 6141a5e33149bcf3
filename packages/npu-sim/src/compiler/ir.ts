import { nn, type TraceGraph, type TraceNode } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";

/*
 * The compiler's working graph: the traced module graph turned into ops with their parameters, before
 * BatchNorm folding, fusion and placement. Shapes are per sample (the batch axis dropped); values keep
 * the tracer's ids, and every op keeps a name (the module path, or the functional op's handle) so
 * warnings, overflow counts and quantization points can say where they happened.
 */

export type IrKind =
  | "conv2d"
  | "linear"
  | "batchnorm"
  | "activation"
  | "add"
  | "mul"
  | "max-pool"
  | "avg-pool"
  | "reshape"
  | "identity"
  | "float";

/** The activation an op ends with: a fused one, or the op itself for `activation` nodes. */
export type IrActivation = "none" | "relu" | "relu6" | { readonly lo: number; readonly hi: number };

export interface IrConstant {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export interface IrNode {
  kind: IrKind;
  /** Module path or op handle (`block.add#0`). For fused groups, the last member's name. */
  name: string;
  /** Names of the modules/ops merged into this node, in order (for summaries). */
  members: string[];
  /** Input value ids; `null` where the input is a constant (see `constants`). */
  inputs: (string | null)[];
  constants: (IrConstant | null)[];
  output: string;
  /** Per-sample output shape. */
  shape: number[];
  /** Per-sample input shapes. */
  inputShapes: number[][];
  activation: IrActivation;
  /** conv2d / linear / batchnorm parameters, float32. */
  weight?: T.Tensor;
  bias?: T.Tensor | null;
  /** batchnorm: running statistics and eps. */
  bn?: { gamma: T.Tensor; beta: T.Tensor; mean: T.Tensor; variance: T.Tensor; eps: number };
  /** conv2d / pooling geometry, pooling options, reshape target, float op type and attributes. */
  attrs: Record<string, unknown>;
}

export interface IrGraph {
  input: string;
  inputShape: number[];
  output: string;
  nodes: IrNode[];
}

/** Leaf layers the compiler understands as whole modules; any other module is opened by the tracer. */
export const KNOWN_LAYERS = [
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

export function isKnownLayer(m: nn.Module): boolean {
  return KNOWN_LAYERS.some((C) => m instanceof C);
}

/** Functional ops the CPU fallback can run in float32 (beyond those with integer lowerings). */
export const FLOAT_OPS: ReadonlySet<string> = new Set([
  "add",
  "sub",
  "mul",
  "div",
  "maximum",
  "minimum",
  "neg",
  "exp",
  "log",
  "sqrt",
  "abs",
  "tanh",
  "sigmoid",
  "relu",
  "relu6",
  "clamp",
  "reshape",
  "permute",
  "concat",
  "maxPool2d",
  "avgPool2d",
  "conv2d",
  "linear",
]);

/** The trace's batch size: shapes are recorded for this many samples, then the batch axis is dropped. */
export const TRACE_BATCH = 2;

function perSample(fn: string, where: string, shape: readonly number[]): number[] {
  if (shape.length === 0 || shape[0] !== TRACE_BATCH) {
    throw new Error(
      `${fn}: ${where} has shape [${shape.join(", ")}], which does not keep the batch axis first; the compiler needs per-sample ops`,
    );
  }
  return shape.slice(1);
}

function tensorOf(values: readonly number[], shape: readonly number[]): T.Tensor {
  return T.fromData(Float32Array.from(values), shape);
}

/** Build the IR from a trace of `model` (traced with `isKnownLayer` as the leaf test). */
export function buildIr(fn: string, graph: TraceGraph, model: nn.Module): IrGraph {
  const modules = new Map(model.namedModules());
  const constants = new Map(graph.constants.map((c) => [c.id, c]));
  const nodes: IrNode[] = [];
  for (const t of graph.nodes) {
    const inputs: (string | null)[] = [];
    const consts: (IrConstant | null)[] = [];
    const inputShapes: number[][] = [];
    t.inputs.forEach((id, k) => {
      const c = constants.get(id);
      if (c) {
        if (c.values === undefined) {
          throw new Error(
            `${fn}: ${describe(t)} uses a constant of shape [${c.shape.join(", ")}] whose values were not recorded`,
          );
        }
        inputs.push(null);
        consts.push({ shape: [...c.shape], values: Float32Array.from(c.values) });
        inputShapes.push([...c.shape]);
      } else {
        inputs.push(id);
        consts.push(null);
        inputShapes.push(perSample(fn, `input ${k} of ${describe(t)}`, t.inputShapes[k]!));
      }
    });
    const base = {
      name: t.name ?? t.type,
      members: [t.name ?? t.type],
      inputs,
      constants: consts,
      output: t.output,
      shape: perSample(fn, `the output of ${describe(t)}`, t.outputShape),
      inputShapes,
      activation: "none" as IrActivation,
      attrs: {} as Record<string, unknown>,
    };
    nodes.push(t.kind === "module" ? moduleNode(fn, t, base, modules) : opNode(fn, t, base));
  }
  return {
    input: graph.input.id,
    inputShape: perSample(fn, "the model input", graph.input.shape),
    output: graph.output.id,
    nodes,
  };
}

type Base = Omit<IrNode, "kind">;

function describe(t: TraceNode): string {
  return t.kind === "module" ? `module '${t.name}' (${t.type})` : `op '${t.name ?? t.type}'`;
}

function moduleNode(fn: string, t: TraceNode, base: Base, modules: Map<string, nn.Module>): IrNode {
  const m = modules.get(t.name ?? "");
  if (m instanceof nn.Conv2d) {
    return {
      ...base,
      kind: "conv2d",
      weight: m.weight.data,
      bias: m.bias ? m.bias.data : null,
      attrs: { ...m.options, kernel: [...m.kernel] },
    };
  }
  if (m instanceof nn.Linear) {
    return { ...base, kind: "linear", weight: m.weight.data, bias: m.bias ? m.bias.data : null };
  }
  if (m instanceof nn.BatchNorm1d || m instanceof nn.BatchNorm2d) {
    return {
      ...base,
      kind: "batchnorm",
      bn: {
        gamma: m.weight.data,
        beta: m.bias.data,
        mean: m.runningMean,
        variance: m.runningVar,
        eps: m.eps,
      },
    };
  }
  if (m instanceof nn.ReLU) return { ...base, kind: "activation", activation: "relu" };
  if (m instanceof nn.ReLU6) return { ...base, kind: "activation", activation: "relu6" };
  if (m instanceof nn.MaxPool2d) return { ...base, kind: "max-pool", attrs: { ...m.options } };
  if (m instanceof nn.AvgPool2d) return { ...base, kind: "avg-pool", attrs: { ...m.options } };
  if (m instanceof nn.Flatten) return { ...base, kind: "reshape", attrs: { shape: base.shape } };
  if (m instanceof nn.Dropout || m instanceof nn.Identity) return { ...base, kind: "identity" };
  if (m instanceof nn.Add) return { ...base, kind: "add" };
  throw new Error(`${fn}: ${describe(t)} is not a layer the compiler knows`);
}

function opNode(fn: string, t: TraceNode, base: Base): IrNode {
  const type = t.type;
  if (!FLOAT_OPS.has(type)) {
    throw new Error(
      `${fn}: ${describe(t)} has no integer kernel and no float fallback; supported functional ops: ${[...FLOAT_OPS].join(", ")}`,
    );
  }
  const hasConstant = base.inputs.some((i) => i === null);
  const attrs = { ...t.attrs };
  switch (type) {
    case "relu":
    case "relu6":
      return { ...base, kind: "activation", activation: type };
    case "clamp": {
      const lo = attrs.lo as number;
      const hi = attrs.hi as number;
      const activation: IrActivation =
        lo === 0 && hi === 6 ? "relu6" : lo === 0 && hi === Number.POSITIVE_INFINITY ? "relu" : { lo, hi };
      return { ...base, kind: "activation", activation };
    }
    case "add":
    case "mul":
      if (!hasConstant) return { ...base, kind: type };
      break;
    case "maxPool2d":
      return { ...base, kind: "max-pool", attrs };
    case "avgPool2d":
      return { ...base, kind: "avg-pool", attrs };
    case "reshape": {
      const shape = perSample(fn, `the target shape of ${describe(t)}`, attrs.shape as number[]);
      return { ...base, kind: "reshape", attrs: { shape } };
    }
    case "conv2d":
    case "linear":
      if (base.inputs[0] !== null && base.inputs.slice(1).every((i) => i === null)) {
        const [, w, b] = base.constants;
        return {
          ...base,
          inputs: [base.inputs[0]!],
          constants: [null],
          inputShapes: [base.inputShapes[0]!],
          kind: type,
          weight: tensorOf(Array.from(w!.values), w!.shape),
          bias: b ? tensorOf(Array.from(b.values), b.shape) : null,
          attrs: type === "conv2d" ? { ...attrs, kernel: [w!.shape[2], w!.shape[3]] } : {},
        };
      }
      break;
  }
  return { ...base, kind: "float", attrs: { ...attrs, op: type } };
}
