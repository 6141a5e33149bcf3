import { addInPlace, fmtShape, ones, ShapeError, type Tensor } from "@quant-trim/tensor";

/**
 * The gradient rule of one op: given the gradient of the op's output, return one gradient per input
 * (null where an input needs none). Returned tensors may be views and may alias each other or the
 * upstream gradient: the engine never writes into them.
 */
export type GradFn = (grad: Tensor) => ReadonlyArray<Tensor | null>;

let gradEnabled = true;

/** Run `fn` without recording a graph (evaluation, optimizer updates, projections). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Hook for tools that watch ops as they run (the module-graph tracer). */
export type OpObserver = (
  op: string,
  inputs: readonly Variable[],
  output: Variable,
  attrs?: Record<string, unknown>,
) => void;
let opObserver: OpObserver | null = null;
export function setOpObserver(obs: OpObserver | null): OpObserver | null {
  const prev = opObserver;
  opObserver = obs;
  return prev;
}

/**
 * Hook for tools that replace an op's result while a model runs (QAT puts fake quantization on a
 * functional residual sum): returning a Variable makes it the op's result, `undefined` keeps the op's
 * own. Ops recorded while the rewriter runs (its own fake quantization) are not offered to it again.
 */
export type OpRewriter = (
  op: string,
  inputs: readonly Variable[],
  output: Variable,
  attrs?: Record<string, unknown>,
) => Variable | undefined;
let opRewriter: OpRewriter | null = null;
let rewriting = false;
export function setOpRewriter(rewriter: OpRewriter | null): OpRewriter | null {
  const prev = opRewriter;
  opRewriter = rewriter;
  return prev;
}

/**
 * A differentiable value: a tensor, the op that made it and how to send a gradient back through it.
 * Leaves (inputs, parameters) have no op. `backward()` walks the graph in reverse topological order and
 * accumulates gradients, so a value used twice receives both contributions.
 */
export class Variable {
  data: Tensor;
  grad: Tensor | null = null;
  requiresGrad: boolean;
  readonly op: string;
  readonly inputs: readonly Variable[];
  private gradFn: GradFn | null;

  constructor(
    data: Tensor,
    opts: { requiresGrad?: boolean; op?: string; inputs?: readonly Variable[]; gradFn?: GradFn | null } = {},
  ) {
    this.data = data;
    this.requiresGrad = opts.requiresGrad ?? false;
    this.op = opts.op ?? "leaf";
    this.inputs = opts.inputs ?? [];
    this.gradFn = opts.gradFn ?? null;
  }

  get shape(): readonly number[] {
    return this.data.shape;
  }
  get ndim(): number {
    return this.data.ndim;
  }
  get size(): number {
    return this.data.size;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** The same data, cut from the graph. */
  detach(): Variable {
    return new Variable(this.data);
  }

  item(): number {
    return this.data.item();
  }

  /**
   * Back-propagate from this value. Without `grad` the value must have one element (a loss) and is seeded
   * with 1. Gradients of intermediate values are released as soon as they have been propagated.
   */
  backward(grad?: Tensor): void {
    if (!this.requiresGrad)
      throw new Error(
        "backward: this value does not require a gradient (no parameter or input asked for one)",
      );
    let seed = grad;
    if (seed === undefined) {
      if (this.data.size !== 1) {
        throw new ShapeError(
          "backward",
          `an implicit gradient needs a one-element value, got shape ${fmtShape(this.shape)}`,
        );
      }
      seed = ones(this.shape, this.data.dtype);
    } else if (seed.shape.length !== this.shape.length || seed.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(
        "backward",
        `gradient shape ${fmtShape(seed.shape)} does not match value shape ${fmtShape(this.shape)}`,
      );
    }
    const order = topoOrder(this);
    accumulate(this, seed);
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i]!;
      const fn = node.gradFn;
      const g = node.grad;
      if (fn === null || g === null) continue;
      const grads = fn(g);
      node.grad = null;
      const inputs = node.inputs;
      for (let k = 0; k < inputs.length; k++) {
        const gi = grads[k];
        const input = inputs[k]!;
        if (gi && input.requiresGrad) accumulate(input, gi);
      }
    }
  }
}

/** A trainable leaf. Optimizers update `data` in place. */
export class Parameter extends Variable {
  constructor(data: Tensor) {
    super(data.contiguous(), { requiresGrad: true });
  }
}

function accumulate(v: Variable, g: Tensor): void {
  if (v.grad === null) {
    // Leaves keep their gradient past backward(): give them an owned, contiguous copy the optimizer may
    // read and the user may mutate. Intermediate gradients are consumed once and may alias.
    v.grad = v.isLeaf ? g.copy(v.data.dtype) : g;
    return;
  }
  if (v.isLeaf) addInPlace(v.grad, g);
  else {
    const sum = v.grad.copy(v.data.dtype);
    addInPlace(sum, g);
    v.grad = sum;
  }
}

function topoOrder(root: Variable): Variable[] {
  // Iterative DFS (deep graphs would overflow the call stack), post-order.
  const order: Variable[] = [];
  const seen = new Set<Variable>();
  const stack: Array<[Variable, number]> = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [node, k] = top;
    if (k < node.inputs.length) {
      top[1] = k + 1;
      const child = node.inputs[k]!;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

/**
 * Record an op: its forward result and its gradient rule, side by side. Every differentiable op in the
 * project (here, and the fake-quant ops of @quant-trim/quant) goes through this function.
 */
export function record(
  op: string,
  inputs: readonly Variable[],
  output: Tensor,
  gradFn: GradFn,
  attrs?: Record<string, unknown>,
): Variable {
  const needs = gradEnabled && inputs.some((v) => v.requiresGrad);
  const out = needs
    ? new Variable(output, { requiresGrad: true, op, inputs, gradFn })
    : new Variable(output, { op });
  if (opObserver) opObserver(op, inputs, out, attrs);
  if (opRewriter === null || rewriting) return out;
  rewriting = true;
  try {
    return opRewriter(op, inputs, out, attrs) ?? out;
  } finally {
    rewriting = false;
  }
}

/** A constant (no gradient) value. */
export function constant(t: Tensor): Variable {
  return new Variable(t);
}

/** A leaf that asks for a gradient (an input you want d(loss)/d(input) for). */
export function variable(t: Tensor, requiresGrad = true): Variable {
  return new Variable(t, { requiresGrad });
}
