import * as T from "@quant-trim/tensor";
import { record, type Variable } from "../variable.js";

// Movement ops: the forward is a view (or a copy when the layout demands it); the gradient is the
// inverse movement of the upstream gradient.

export function reshape(a: Variable, shape: readonly number[]): Variable {
  return record("reshape", [a], T.reshape(a.data, shape), (g) => [T.reshape(g, a.shape)], {
    shape: [...shape],
  });
}

/** Flatten axes from `startAxis` on into one (default keeps the batch axis). */
export function flatten(a: Variable, startAxis = 1): Variable {
  const s = T.normAxis("flatten", startAxis, a.ndim);
  // The size is spelled out rather than -1, which cannot be inferred when the batch is empty.
  const tail = a.shape.slice(s).reduce((p, d) => p * d, 1);
  return reshape(a, [...a.shape.slice(0, s), tail]);
}

export function permute(a: Variable, perm: readonly number[]): Variable {
  const p = perm.map((x) => T.normAxis("permute", x, a.ndim));
  const inverse = new Array<number>(p.length);
  p.forEach((src, dst) => {
    inverse[src] = dst;
  });
  return record("permute", [a], T.permute(a.data, p), (g) => [T.permute(g, inverse)], { perm: p });
}

export function transpose(a: Variable, x = -2, y = -1): Variable {
  const perm = [...Array(a.ndim).keys()];
  const i = T.normAxis("transpose", x, a.ndim);
  const j = T.normAxis("transpose", y, a.ndim);
  perm[i] = j;
  perm[j] = i;
  return permute(a, perm);
}

export function slice(a: Variable, specs: readonly T.SliceSpec[]): Variable {
  return record("slice", [a], T.slice(a.data, specs), (g) => {
    const dx = T.zeros(a.shape, g.dtype);
    T.assign(T.slice(dx, specs), g);
    return [dx];
  });
}

export function squeeze(a: Variable, axes?: readonly number[]): Variable {
  return record("squeeze", [a], T.squeeze(a.data, axes), (g) => [T.reshape(g, a.shape)]);
}

export function unsqueeze(a: Variable, axis: number): Variable {
  return record("unsqueeze", [a], T.unsqueeze(a.data, axis), (g) => [T.reshape(g, a.shape)]);
}

export function expand(a: Variable, shape: readonly number[]): Variable {
  return record("expand", [a], T.expand(a.data, shape), (g) => [T.sumToShape(g, a.shape)]);
}

export function concat(xs: readonly Variable[], axis = 0): Variable {
  if (xs.length === 0) throw new Error("concat: needs at least one input");
  const ax = T.normAxis("concat", axis, xs[0]!.ndim);
  return record(
    "concat",
    xs,
    T.concat(
      xs.map((x) => x.data),
      ax,
    ),
    (g) => {
      let at = 0;
      return xs.map((x) => {
        const len = x.shape[ax]!;
        const specs: T.SliceSpec[] = x.shape.map(() => null);
        specs[ax] = [at, at + len];
        at += len;
        return T.slice(g, specs);
      });
    },
    { axis: ax },
  );
}

export function stack(xs: readonly Variable[], axis = 0): Variable {
  if (xs.length === 0) throw new Error("stack: needs at least one input");
  const ax = T.normAxis("stack", axis, xs[0]!.ndim + 1);
  return concat(
    xs.map((x) => unsqueeze(x, ax)),
    ax,
  );
}

export function pad(a: Variable, pads: readonly (readonly [number, number])[], value = 0): Variable {
  return record("pad", [a], T.pad(a.data, pads, value), (g) => [
    T.slice(
      g,
      pads.map(([before], i) => [before, before + a.shape[i]!] as const),
    ),
  ]);
}
