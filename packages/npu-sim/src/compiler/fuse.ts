import type { FusibleActivation } from "../profiles/schema.js";
import { consumerCounts } from "./graph-utils.js";
import type { IrGraph, IrNode } from "./ir.js";

/*
 * Fusion after folding: Linear/Conv(+folded BN) and Add absorb a following ReLU or ReLU6 when the
 * profile fuses that activation (it becomes the output clamp of the integer op), and identity ops
 * (Dropout in eval, Identity) disappear. An op whose output is read elsewhere is not fused: the
 * pre-activation value must then exist.
 */
export function fuseActivations(ir: IrGraph, fusible: readonly FusibleActivation[]): IrGraph {
  let graph = removeIdentities(ir);
  const uses = consumerCounts(graph);
  const producer = new Map(graph.nodes.map((n) => [n.output, n]));
  const removed = new Set<IrNode>();
  for (const node of graph.nodes) {
    if (node.kind !== "activation" || typeof node.activation !== "string") continue;
    const act = node.activation;
    if (act === "none" || !fusible.includes(act)) continue;
    const src = node.inputs[0];
    const p = src ? producer.get(src) : undefined;
    if (
      p === undefined ||
      removed.has(p) ||
      !(p.kind === "conv2d" || p.kind === "linear" || p.kind === "add") ||
      p.activation !== "none" ||
      uses.get(p.output) !== 1
    ) {
      continue;
    }
    p.activation = act;
    p.output = node.output;
    p.name = node.name;
    p.members.push(...node.members);
    removed.add(node);
    producer.set(p.output, p);
  }
  graph = { ...graph, nodes: graph.nodes.filter((n) => !removed.has(n)) };
  return graph;
}

function removeIdentities(ir: IrGraph): IrGraph {
  const alias = new Map<string, string>();
  const resolve = (id: string): string => {
    let v = id;
    while (alias.has(v)) v = alias.get(v)!;
    return v;
  };
  const nodes: IrNode[] = [];
  for (const n of ir.nodes) {
    n.inputs = n.inputs.map((i) => (i === null ? null : resolve(i)));
    if (n.kind === "identity") alias.set(n.output, n.inputs[0]!);
    else nodes.push(n);
  }
  return { ...ir, nodes, output: resolve(ir.output) };
}
