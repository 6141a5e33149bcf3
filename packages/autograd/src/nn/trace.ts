import type { Tensor } from "@quant-trim/tensor";
import { noGrad, setOpObserver, Variable } from "../variable.js";
import type { Module } from "./module.js";
import { setTracer } from "./trace-hook.js";

/**
 * The module-level graph of one forward pass: plain, JSON-serialisable data that the NPU compiler and
 * the ONNX exporter both consume.
 *
 * - Values are named by string ids: "input" for the model input, "v1", "v2", ... for results, and
 *   "c1", ... for constants that ops outside any leaf module used (their shapes are recorded).
 * - A `module` node is one call of a leaf module (a module without submodules: Linear, Conv2d, ReLU,
 *   BatchNorm2d, Add, ...); `type` is its class name, `name` its dotted path in the model (the prefix of
 *   its parameters in the state dict), `attrs` what it reports through `traceAttrs()`.
 * - An `op` node is a functional op called outside any leaf module (a reshape or an add in a custom
 *   forward); `type` is the op name and `attrs` the op's recorded attributes.
 * - Nodes are in execution order, which is a topological order.
 */
export interface TraceGraph {
  input: { id: "input"; shape: number[] };
  output: { id: string; shape: number[] };
  nodes: TraceNode[];
  constants: Array<{ id: string; shape: number[] }>;
}

export interface TraceNode {
  kind: "module" | "op";
  type: string;
  /** Dotted module path (module nodes only). */
  name?: string;
  inputs: string[];
  output: string;
  inputShapes: number[][];
  outputShape: number[];
  attrs: Record<string, unknown>;
}

/** Run the model once (eval mode, no gradients) on `exampleInput` and record its module graph. */
export function trace(model: Module, exampleInput: Tensor): TraceGraph {
  const names = new Map<Module, string>();
  for (const [name, m] of model.namedModules()) names.set(m, name);
  const ids = new Map<Variable, string>();
  const nodes: TraceNode[] = [];
  const constants: TraceGraph["constants"] = [];
  let next = 1;
  let depthInLeaf = 0;
  const idOf = (v: Variable): string => {
    let id = ids.get(v);
    if (id === undefined) {
      id = `c${constants.length + 1}`;
      ids.set(v, id);
      constants.push({ id, shape: [...v.shape] });
    }
    return id;
  };
  const input = new Variable(exampleInput);
  ids.set(input, "input");
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  model.eval();
  const prevTracer = setTracer({
    callModule(m, inputs, run) {
      if (depthInLeaf > 0 || !m.isLeafModule) return run();
      depthInLeaf++;
      let out: Variable;
      try {
        out = run();
      } finally {
        depthInLeaf--;
      }
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
      return out;
    },
  });
  const prevObserver = setOpObserver((op, inputs, output, attrs) => {
    if (depthInLeaf > 0) return;
    const outId = `v${next++}`;
    const inIds = inputs.map(idOf);
    ids.set(output, outId);
    nodes.push({
      kind: "op",
      type: op,
      inputs: inIds,
      output: outId,
      inputShapes: inputs.map((v) => [...v.shape]),
      outputShape: [...output.shape],
      attrs: attrs ? { ...attrs } : {},
    });
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
