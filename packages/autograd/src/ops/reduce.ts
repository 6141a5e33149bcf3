import * as T from "@quant-trim/tensor";
import { record, type Variable } from "../variable.js";
import { div, mul, sub } from "./elementwise.js";

type Axes = number | readonly number[] | undefined;

function axesList(axes: Axes, ndim: number): number[] {
  if (axes === undefined) return [...Array(ndim).keys()];
  const list = typeof axes === "number" ? [axes] : [...axes];
  return list.map((a) => T.normAxis("reduce", a, ndim));
}

/** The reduced shape with size-1 axes kept, so a gradient can broadcast back. */
function keptShape(shape: readonly number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

export function sum(a: Variable, axes?: Axes, keepdims = false): Variable {
  const ax = axesList(axes, a.ndim);
  return record(
    "sum",
    [a],
    T.sum(a.data, ax, keepdims),
    (g) => [T.expand(T.reshape(g, keptShape(a.shape, ax)), a.shape)],
    {
      axes: ax,
      keepdims,
    },
  );
}

/** mean = sum / count (a composition). */
export function mean(a: Variable, axes?: Axes, keepdims = false): Variable {
  const ax = axesList(axes, a.ndim);
  let n = 1;
  for (const i of ax) n *= a.shape[i]!;
  return mul(sum(a, ax, keepdims), 1 / n);
}

function extremum(op: "max" | "min", a: Variable, axes: Axes, keepdims: boolean): Variable {
  const ax = axesList(axes, a.ndim);
  const out = op === "max" ? T.max(a.data, ax, keepdims) : T.min(a.data, ax, keepdims);
  return record(op, [a], out, (g) => {
    // Ties share the gradient equally (the subgradient PyTorch's amax/amin use).
    const kept = keptShape(a.shape, ax);
    const hit = T.equal(a.data, T.reshape(out, kept));
    const count = T.sum(hit, ax, true);
    return [T.div(T.mul(hit, T.reshape(g, kept)), count)];
  });
}

export function max(a: Variable, axes?: Axes, keepdims = false): Variable {
  return extremum("max", a, axes, keepdims);
}

export function min(a: Variable, axes?: Axes, keepdims = false): Variable {
  return extremum("min", a, axes, keepdims);
}

/** Population variance (correction 0) or sample variance (correction 1), as a composition. */
export function variance(a: Variable, axes?: Axes, keepdims = false, correction = 0): Variable {
  const ax = axesList(axes, a.ndim);
  let n = 1;
  for (const i of ax) n *= a.shape[i]!;
  const centered = sub(a, mean(a, ax, true));
  return div(sum(mul(centered, centered), ax, keepdims), n - correction);
}

export function logSumExp(a: Variable, axes?: Axes, keepdims = false): Variable {
  const ax = axesList(axes, a.ndim);
  const out = T.logSumExp(a.data, ax, keepdims);
  return record("logSumExp", [a], out, (g) => {
    const kept = keptShape(a.shape, ax);
    const p = T.exp(T.sub(a.data, T.reshape(out, kept)));
    return [T.mul(p, T.reshape(g, kept))];
  });
}

export function softmax(a: Variable, axis = -1): Variable {
  const ax = T.normAxis("softmax", axis, a.ndim);
  const out = T.softmax(a.data, ax);
  return record("softmax", [a], out, (g) => {
    // dx = y ⊙ (g − Σ g⊙y)
    const dot = T.sum(T.mul(g, out), [ax], true);
    return [T.mul(out, T.sub(g, dot))];
  });
}

export function logSoftmax(a: Variable, axis = -1): Variable {
  const ax = T.normAxis("logSoftmax", axis, a.ndim);
  const out = T.logSoftmax(a.data, ax);
  return record("logSoftmax", [a], out, (g) => {
    // dx = g − softmax ⊙ Σ g
    const total = T.sum(g, [ax], true);
    return [T.sub(g, T.mul(T.exp(out), total))];
  });
}
