import type { Variable } from "../variable.js";
import type { Module } from "./module.js";

/**
 * The naming of functional ops by the module whose forward called them, shared by the tracer (which
 * records the handles) and by tools that find the same ops again while the model runs (QAT's op
 * rewriter). Feed every module call through `enter`; an op called outside any leaf module then gets
 * `handle(op)`: `<scope>.<op>#<k>` (`<op>#<k>` at the top), k counting that op type's calls in that
 * scope from 0. Ops inside a leaf module belong to the leaf and get no handle.
 */
export class OpScopes {
  /** Dotted paths of the non-leaf modules whose forward is running, innermost last. */
  private readonly stack: string[] = [];
  private readonly counts = new Map<string, number>();
  private leafDepth = 0;

  constructor(
    private readonly names: ReadonlyMap<Module, string>,
    readonly isLeaf: (m: Module) => boolean,
  ) {}

  /** Inside a leaf module's forward: ops there are part of the leaf. */
  get insideLeaf(): boolean {
    return this.leafDepth > 0;
  }

  /** Dotted path of the innermost running non-leaf module ("" for the model itself). */
  get scope(): string {
    return this.stack.length > 0 ? this.stack[this.stack.length - 1]! : "";
  }

  /** Run one module call (`run` is its forward) inside that module's scope, or as a leaf. */
  enter(m: Module, run: () => Variable): Variable {
    if (this.leafDepth > 0 || this.isLeaf(m)) {
      this.leafDepth++;
      try {
        return run();
      } finally {
        this.leafDepth--;
      }
    }
    this.stack.push(this.names.get(m) ?? "");
    try {
      return run();
    } finally {
      this.stack.pop();
    }
  }

  /** The handle of the next call of `op` in the current scope (counts it). */
  handle(op: string): string {
    const scope = this.scope;
    const base = scope ? `${scope}.${op}` : op;
    const k = this.counts.get(base) ?? 0;
    this.counts.set(base, k + 1);
    return `${base}#${k}`;
  }

  /** Start counting again (one forward pass gives each op the same handle as the previous one). */
  reset(): void {
    this.counts.clear();
    this.stack.length = 0;
    this.leafDepth = 0;
  }
}

/** Dotted name of every module of `model` (the scopes `OpScopes` reports). */
export function moduleNames(model: Module): Map<Module, string> {
  const names = new Map<Module, string>();
  for (const [name, m] of model.namedModules()) names.set(m, name);
  return names;
}
