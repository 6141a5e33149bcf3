import type { Tensor } from "@quant-trim/tensor";
import { noGrad, setOpObserver, Variable } from "../variable.js";
import type { Module } from "./module.js";
import { moduleNames, OpScopes } from "./op-scopes.js";
import { setTracer } from "./trace-hook.js";

/**
 * The module-level graph of one forward pass: plain, JSON-serialisable data that the NPU compiler and
 * the ONNX exporter both consume.
 *
 * - Values are named by string ids: "input" for the model input, "v1", "v2", ... for results, and
 *   "c1", ... for constants that ops outside any leaf module used (their shapes are recorded, and their
 *   values too when `TraceOptions.constantValues` allows).
 * - A `module` node is one call of a leaf module (by default a module without submodules: Linear,
 *   Conv2d, ReLU, BatchNorm2d, Add, ...); `type` is its class name, `name` its dotted path in the model
 *   (the prefix of its parameters in the state dict), `attrs` what it reports through `traceAttrs()`.
 * - An `op` node is a functional op called outside any leaf module (a reshape, or the `ops.add` of a
 *   residual connection in a custom forward); `type` is the op name and `attrs` the op's recorded
 *   attributes. Residual sums written this way are part of the graph like any layer, so tools that walk
 *   it (QAT, the NPU compiler) cannot miss them. `scope` is the dotted path of the module whose forward
 *   called the op ("" for the model itself) and `name` a stable handle, `<scope>.<op>#<k>` (or
 *   `<op>#<k>` at the top), k counting calls of that op type in that scope from 0. `#` cannot appear
 *   in module names, so an op name never collides with a module's.
 * - Nodes are in execution order, which is a topological order.
 */
export interface TraceGraph {
  input: { id: "input"; shape: number[] };
  output: { id: string; shape: number[] };
  nodes: TraceNode[];
  constants: TraceConstant[];
}

export interface TraceNode {
  kind: "module" | "op";
  type: string;
  /** Dotted module path (module nodes), or the op's handle `<scope>.<op>#<k>` (op nodes). */
  name?: string;
  /** Op nodes: dotted path of the module whose forward called the op ("" for the model itself). */
  scope?: string;
  inputs: string[];
  output: string;
  inputShapes: number[][];
  outputShape: number[];
  attrs: Record<string, unknown>;
}

export interface TraceConstant {
  id: string;
  shape: number[];
  /** Row-major values, present when the constant is small enough (see `TraceOptions.constantValues`). */
  values?: number[];
}

export interface TraceOptions {
  /**
   * Which modules are recorded as one node. Default: modules without submodules. A tool that knows only
   * some layer types passes a stricter test, so that a custom module (even one without children) is
   * opened and its functional ops recorded instead of appearing as an opaque node.
   */
  isLeaf?: (m: Module) => boolean;
  /** Record the values of constants with at most this many elements (default 16: scalars and the like). */
  constantValues?: number;
  /**
   * Called with every recorded value as it is produced (the input first, then each node's output, and
   * each constant when first used), so a caller can collect activations with the graph's ids.
   */
  onValue?: (id: string, value: Tensor) => void;
}

/** Run the model once (eval mode, no gradients) on `exampleInput` and record its module graph. */
export function trace(model: Module, exampleInput: Tensor, options: TraceOptions = {}): TraceGraph {
  const isLeaf = options.isLeaf ?? ((m: Module) => m.isLeafModule);
  const maxConstant = options.constantValues ?? 16;
  const onValue = options.onValue;
  const names = moduleNames(model);
  const scopes = new OpScopes(names, isLeaf);
  const ids = new Map<Variable, string>();
  const nodes: TraceNode[] = [];
  const constants: TraceConstant[] = [];
  let next = 1;
  const idOf = (v: Variable): string => {
    let id = ids.get(v);
    if (id === undefined) {
      id = `c${constants.length + 1}`;
      ids.set(v, id);
      const c: TraceConstant = { id, shape: [...v.shape] };
      if (v.data.size <= maxConstant) c.values = Array.from(v.data.values());
      constants.push(c);
      onValue?.(id, v.data);
    }
    return id;
  };
  const input = new Variable(exampleInput);
  ids.set(input, "input");
  onValue?.("input", exampleInput);
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  model.eval();
  const prevTracer = setTracer({
    callModule(m, inputs, run) {
      if (scopes.insideLeaf || !isLeaf(m)) return scopes.enter(m, run);
      let out = scopes.enter(m, run);
      const inIds = inputs.map(idOf);
      // A module that returns its input unchanged (Identity, Dropout in eval) still gets its own value id.
      const outId = `v${next++}`;
      if (out === inputs[0]) out = new Variable(out.data);
      ids.set(out, outId);
      const node: TraceNode = {
        kind: "module",
        type: m.constructor.name,
        inputs: inIds,
        output: outId,
        inputShapes: inputs.map((v) => [...v.shape]),
        outputShape: [...out.shape],
        attrs: m.traceAttrs(),
      };
      const name = names.get(m);
      if (name !== undefined) node.name = name;
      nodes.push(node);
      onValue?.(outId, out.data);
      return out;
    },
  });
  const prevObserver = setOpObserver((op, inputs, output, attrs) => {
    if (scopes.insideLeaf) return;
    const outId = `v${next++}`;
    const inIds = inputs.map(idOf);
    ids.set(output, outId);
    nodes.push({
      kind: "op",
      type: op,
      name: scopes.handle(op),
      scope: scopes.scope,
      inputs: inIds,
      output: outId,
      inputShapes: inputs.map((v) => [...v.shape]),
      outputShape: [...output.shape],
      attrs: attrs ? { ...attrs } : {},
    });
    onValue?.(outId, output.data);
  });
  let out: Variable;
  try {
    out = noGrad(() => model.call(input));
  } finally {
    setTracer(prevTracer);
    setOpObserver(prevObserver);
    for (const [m, mode] of modes) m.training = mode;
  }
  return {
    input: { id: "input", shape: [...exampleInput.shape] },
    output: { id: idOf(out), shape: [...out.shape] },
    nodes,
    constants,
  };
}
