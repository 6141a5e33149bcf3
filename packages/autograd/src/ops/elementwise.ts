import type { Tensor } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { constant, record, Variable } from "../variable.js";

/** Numbers and tensors become constants so every op takes Variables. */
export type Operand = Variable | Tensor | number;

function lift(x: Operand, like: Variable): Variable {
  if (x instanceof Variable) return x;
  if (typeof x === "number") return constant(T.full([], x, like.data.dtype));
  return constant(x);
}

function pair(a: Operand, b: Operand): [Variable, Variable] {
  const ref = a instanceof Variable ? a : b instanceof Variable ? b : null;
  if (ref === null) throw new Error("autograd op: at least one operand must be a Variable");
  return [lift(a, ref), lift(b, ref)];
}

// Binary primitives. Each gradient is reduced back to its input's shape (the inverse of broadcasting).

export function add(a: Operand, b: Operand): Variable {
  const [x, y] = pair(a, b);
  return record("add", [x, y], T.add(x.data, y.data), (g) => [
    T.sumToShape(g, x.shape),
    T.sumToShape(g, y.shape),
  ]);
}

export function sub(a: Operand, b: Operand): Variable {
  const [x, y] = pair(a, b);
  return record("sub", [x, y], T.sub(x.data, y.data), (g) => [
    T.sumToShape(g, x.shape),
    y.requiresGrad ? T.sumToShape(T.neg(g), y.shape) : null,
  ]);
}

export function mul(a: Operand, b: Operand): Variable {
  const [x, y] = pair(a, b);
  return record("mul", [x, y], T.mul(x.data, y.data), (g) => [
    x.requiresGrad ? T.sumToShape(T.mul(g, y.data), x.shape) : null,
    y.requiresGrad ? T.sumToShape(T.mul(g, x.data), y.shape) : null,
  ]);
}

export function div(a: Operand, b: Operand): Variable {
  const [x, y] = pair(a, b);
  return record("div", [x, y], T.div(x.data, y.data), (g) => [
    x.requiresGrad ? T.sumToShape(T.div(g, y.data), x.shape) : null,
    // d(x/y)/dy = -x / y²
    y.requiresGrad ? T.sumToShape(T.neg(T.div(T.mul(g, x.data), T.square(y.data))), y.shape) : null,
  ]);
}

/** x ** p for a constant exponent p. */
export function pow(a: Variable, p: number): Variable {
  return record(
    "pow",
    [a],
    T.pow(a.data, p),
    // p = 0: x⁰ is constant, so the gradient is 0 — the general rule would give 0·0⁻¹ = NaN at x = 0.
    (g) => [p === 0 ? T.zerosLike(a.data) : T.mul(g, T.mul(T.pow(a.data, p - 1), p))],
    { exponent: p },
  );
}

/** Share of the gradient the first operand of maximum/minimum gets: 1 where it wins, ½ on a tie. */
function winnerShare(wins: T.Tensor, winsOrTies: T.Tensor): T.Tensor {
  return T.mul(T.add(wins, winsOrTies), 0.5);
}

export function maximum(a: Operand, b: Operand): Variable {
  const [x, y] = pair(a, b);
  // A tie splits the gradient in half between the operands, as PyTorch does.
  return record("maximum", [x, y], T.maximum(x.data, y.data), (g) => {
    const pick = winnerShare(T.greater(x.data, y.data), T.greaterEqual(x.data, y.data));
    return [
      T.sumToShape(T.mul(g, pick), x.shape),
      y.requiresGrad ? T.sumToShape(T.mul(g, T.sub(1, pick)), y.shape) : null,
    ];
  });
}

export function minimum(a: Operand, b: Operand): Variable {
  const [x, y] = pair(a, b);
  return record("minimum", [x, y], T.minimum(x.data, y.data), (g) => {
    const pick = winnerShare(T.less(x.data, y.data), T.lessEqual(x.data, y.data));
    return [
      T.sumToShape(T.mul(g, pick), x.shape),
      y.requiresGrad ? T.sumToShape(T.mul(g, T.sub(1, pick)), y.shape) : null,
    ];
  });
}

/** cond ? a : b, with cond a constant mask (non-zero = true). */
export function where(cond: Tensor, a: Operand, b: Operand): Variable {
  const [x, y] = pair(a, b);
  return record("where", [x, y], T.where(cond, x.data, y.data), (g) => {
    const m = T.notEqual(cond, 0);
    return [
      x.requiresGrad ? T.sumToShape(T.mul(g, m), x.shape) : null,
      y.requiresGrad ? T.sumToShape(T.mul(g, T.sub(1, m)), y.shape) : null,
    ];
  });
}

// Unary primitives.

export function neg(a: Variable): Variable {
  return record("neg", [a], T.neg(a.data), (g) => [T.neg(g)]);
}

export function exp(a: Variable): Variable {
  const out = T.exp(a.data);
  return record("exp", [a], out, (g) => [T.mul(g, out)]);
}

export function log(a: Variable): Variable {
  return record("log", [a], T.log(a.data), (g) => [T.div(g, a.data)]);
}

export function sqrt(a: Variable): Variable {
  const out = T.sqrt(a.data);
  return record("sqrt", [a], out, (g) => [T.div(g, T.mul(out, 2))]);
}

export function abs(a: Variable): Variable {
  // sign(0) = 0: the subgradient at 0 is taken as 0.
  return record("abs", [a], T.abs(a.data), (g) => [T.mul(g, T.sign(a.data))]);
}

export function tanh(a: Variable): Variable {
  const out = T.tanh(a.data);
  return record("tanh", [a], out, (g) => [T.mul(g, T.sub(1, T.square(out)))]);
}

export function sigmoid(a: Variable): Variable {
  const out = T.sigmoid(a.data);
  return record("sigmoid", [a], out, (g) => [T.mul(g, T.mul(out, T.sub(1, out)))]);
}

/**
 * clamp(x, lo, hi). The gradient passes where lo < x < hi... and at the bounds themselves it passes too
 * (x == lo or x == hi), matching PyTorch's clamp; outside it is zero.
 */
export function clamp(a: Variable, lo: number, hi: number): Variable {
  if (!(lo <= hi)) throw new Error(`clamp: lo (${lo}) must be <= hi (${hi})`);
  return record(
    "clamp",
    [a],
    T.clamp(a.data, lo, hi),
    (g) => [T.mul(g, T.mul(T.greaterEqual(a.data, lo), T.lessEqual(a.data, hi)))],
    { lo, hi },
  );
}

/** max(x, 0); the gradient at exactly 0 is 0 (as in PyTorch). */
export function relu(a: Variable): Variable {
  return record("relu", [a], T.relu(a.data), (g) => [T.mul(g, T.greater(a.data, 0))]);
}

/** min(max(x, 0), 6); gradient 1 strictly inside (0, 6), as PyTorch's hardtanh-based ReLU6. */
export function relu6(a: Variable): Variable {
  return record("relu6", [a], T.clamp(a.data, 0, 6), (g) => [
    T.mul(g, T.mul(T.greater(a.data, 0), T.less(a.data, 6))),
  ]);
}

// Derived ops: compositions of the primitives above.

export function square(a: Variable): Variable {
  return mul(a, a);
}

export function scale(a: Variable, s: number): Variable {
  return mul(a, s);
}
