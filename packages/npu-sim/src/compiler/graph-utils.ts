import type { IrGraph } from "./ir.js";

/** How many times each value is read (by nodes, plus once for the graph output). */
export function consumerCounts(ir: IrGraph): Map<string, number> {
  const uses = new Map<string, number>();
  for (const n of ir.nodes) for (const i of n.inputs) if (i !== null) uses.set(i, (uses.get(i) ?? 0) + 1);
  uses.set(ir.output, (uses.get(ir.output) ?? 0) + 1);
  return uses;
}
