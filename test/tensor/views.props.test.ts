/**
 * Property tests for views: random chains of view ops (permute, slice with any step, expand, unsqueeze,
 * squeeze) checked against an index-mapping reference, and every op checked to give the same answer on a
 * view as on its contiguous copy.
 */
import {
  abs,
  add,
  addInPlace,
  argmax,
  clamp,
  concat,
  div,
  equal,
  exp,
  expand,
  greater,
  log,
  logSoftmax,
  logSumExp,
  map,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  mulInPlace,
  neg,
  pad,
  permute,
  pow,
  Rng,
  reciprocal,
  relu,
  sigmoid,
  sign,
  slice,
  softmax,
  sqrt,
  square,
  squeeze,
  stack,
  sub,
  sum,
  sumToShape,
  type Tensor,
  tanh,
  tensor,
  transpose,
  unsqueeze,
  variance,
  where,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { size, unravel } from "./arbitraries.js";

/** Python's slice.indices for a given start (never omitted here), optional stop and step. */
function pySlice(len: number, start: number, stop: number | undefined, step: number) {
  const [lower, upper] = step > 0 ? [0, len] : [-1, len - 1];
  const clampTo = (v: number) => {
    if (v < 0) v += len;
    return Math.min(Math.max(v, lower), upper);
  };
  const s = clampTo(start);
  const e = stop === undefined ? (step > 0 ? upper : lower) : clampTo(stop);
  const n = step > 0 ? Math.max(0, Math.ceil((e - s) / step)) : Math.max(0, Math.ceil((s - e) / -step));
  return { start: s, step, n };
}

// ------------------------------------------------------------------------------------------------
// View chains. Each step is a few random integers interpreted against the current shape, so shrinking
// works without knowing shapes in advance. `index` maps a view index to the flat index in the base.

interface Step {
  kind: number;
  p: number[];
}
interface Chain {
  view: Tensor;
  base: Tensor;
  index: (idx: readonly number[]) => number;
  applied: string[];
}

function buildChain(
  baseShape: readonly number[],
  seed: number,
  dtype: "float32" | "float64",
  steps: readonly Step[],
): Chain {
  const rng = new Rng(seed);
  const values = Array.from({ length: size(baseShape) }, () => {
    const u = rng.next();
    if (u < 0.05) return [Number.NaN, Infinity, -Infinity, -0][rng.int(4)]!;
    return u < 0.4 ? rng.int(7) - 3 : rng.uniform(-3, 3);
  });
  const base = tensor(values, baseShape, dtype);
  const baseStrides = [...base.strides];
  let view = base;
  let index = (idx: readonly number[]) => idx.reduce((p, v, ax) => p + v * baseStrides[ax]!, 0);
  const applied: string[] = [];
  for (const { kind, p } of steps) {
    const shape = [...view.shape];
    const r = shape.length;
    const prev = index;
    const at = (k: number) => p[k % p.length]!;
    if (kind === 0 && r > 0) {
      // permute: a pseudo-random permutation from the parameters
      const perm = [...Array(r).keys()];
      for (let i = r - 1; i > 0; i--) {
        const j = at(i) % (i + 1);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      view = permute(view, perm);
      index = (idx) => {
        const parent = new Array<number>(r);
        perm.forEach((src, i) => {
          parent[src] = idx[i]!;
        });
        return prev(parent);
      };
      applied.push(`permute(${perm})`);
    } else if (kind === 1 && r > 0) {
      // slice: start/stop may be negative or out of range; step in ±1..3
      const specs = shape.map((d, ax) => {
        const step = [1, 2, 3, -1, -2, -3][at(4 * ax) % 6]!;
        // Half the time the whole axis (so sizes stay > 1), else a random start/stop, maybe out of range.
        const whole = at(4 * ax + 3) % 2 === 0;
        const start = whole ? (step > 0 ? 0 : -1) : (at(4 * ax + 1) % (2 * d + 4)) - d - 2;
        const stop = whole || at(4 * ax + 2) % 3 === 0 ? undefined : (at(4 * ax + 2) % (2 * d + 4)) - d - 2;
        return [start, stop, step] as const;
      });
      const geo = specs.map(([s, e, st], ax) => pySlice(shape[ax]!, s, e, st));
      view = slice(view, specs);
      expect(view.shape).toEqual(geo.map((g) => g.n));
      index = (idx) => prev(idx.map((v, ax) => geo[ax]!.start + v * geo[ax]!.step));
      applied.push(`slice(${JSON.stringify(specs)})`);
    } else if (kind === 2 && size(shape) <= 64) {
      // expand: size-1 axes grow, and up to one new leading axis
      const lead = at(0) % 2;
      const target = [
        ...(lead ? [1 + (at(1) % 3)] : []),
        ...shape.map((d, ax) => (d === 1 ? 1 + (at(ax + 2) % 3) : d)),
      ];
      view = expand(view, target);
      index = (idx) => prev(idx.slice(lead).map((v, ax) => (shape[ax] === 1 ? 0 : v)));
      applied.push(`expand(${target})`);
    } else if (kind === 3 && r < 5) {
      const axis = at(0) % (r + 1);
      view = unsqueeze(view, axis);
      index = (idx) => prev(idx.filter((_, ax) => ax !== axis));
      applied.push(`unsqueeze(${axis})`);
    } else if (kind === 4) {
      const ones = shape.map((d) => d === 1);
      view = squeeze(view);
      index = (idx) => {
        const parent: number[] = [];
        let k = 0;
        for (const one of ones) parent.push(one ? 0 : idx[k++]!);
        return prev(parent);
      };
      applied.push("squeeze()");
    }
  }
  return { view, base, index, applied };
}

const arbStep = (kinds: readonly number[]) =>
  fc.record({
    kind: fc.constantFrom(...kinds),
    // Unbiased: fast-check's default bias towards 0 would make most slices whole and forward.
    p: fc.array(fc.noBias(fc.nat(1000)), { minLength: 1, maxLength: 12 }),
  });
const arbChainOf = (kinds: readonly number[]) =>
  fc
    .tuple(
      fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
      fc.nat(),
      fc.constantFrom<"float32" | "float64">("float32", "float64"),
      fc.array(arbStep(kinds), { maxLength: 5 }),
    )
    .map(([shape, seed, dtype, steps]) => buildChain(shape, seed, dtype, steps));
const arbChain = arbChainOf([0, 1, 2, 3, 4]);
/** Chains without expand: every element of the view has its own memory, so in-place ops may write it. */
const arbWritableChain = arbChainOf([0, 1, 3, 4]);

describe("view chains (permute, slice, expand, unsqueeze, squeeze) against index arithmetic", () => {
  it("every element of the view is the base element its index maps to", () => {
    fc.assert(
      fc.property(arbChain, ({ view, base, index }) => {
        expect(view.data).toBe(base.data); // views never copy
        const want = Array.from({ length: view.size }, (_, i) => base.data[index(unravel(i, view.shape))]);
        expect(view.toArray()).toEqual(want);
        const c = view.contiguous();
        expect(c.isContiguous()).toBe(true);
        expect(c.toArray()).toEqual(want);
        if (view.isContiguous()) expect(c).toBe(view);
      }),
      { numRuns: 200 },
    );
  });

  it("slice follows Python's rules on a 1-d range, for any start, stop and step", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: -15, max: 15 }),
        fc.option(fc.integer({ min: -15, max: 15 }), { nil: undefined }),
        fc.integer({ min: -4, max: 4 }).filter((s) => s !== 0),
        (n, start, stop, step) => {
          const base = tensor(Array.from({ length: n }, (_, i) => i));
          const g = pySlice(n, start, stop, step);
          const want = Array.from({ length: g.n }, (_, i) => g.start + i * g.step);
          expect(slice(base, [[start, stop, step]]).toArray()).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("permute then its inverse gives back the same view; transpose twice is the identity", () => {
    fc.assert(
      fc.property(arbChain, fc.nat(), ({ view }, seed) => {
        const r = view.ndim;
        const perm = Array.from(new Rng(seed).permutation(r));
        const inverse = new Array<number>(r);
        perm.forEach((src, i) => {
          inverse[src] = i;
        });
        const back = permute(permute(view, perm), inverse);
        expect(back.shape).toEqual(view.shape);
        expect(back.strides).toEqual(view.strides);
        expect(back.toArray()).toEqual(view.toArray());
        if (r >= 2) expect(transpose(transpose(view)).toArray()).toEqual(view.toArray());
      }),
      { numRuns: 100 },
    );
  });
});

// ------------------------------------------------------------------------------------------------

/** Both throw the same error, or both return tensors with equal shape, dtype and values. */
function expectSame(onView: () => Tensor, onCopy: () => Tensor, tolerance = 0): void {
  let a: Tensor | undefined;
  let b: Tensor | undefined;
  let errA: unknown;
  let errB: unknown;
  try {
    a = onView();
  } catch (e) {
    errA = e;
  }
  try {
    b = onCopy();
  } catch (e) {
    errB = e;
  }
  if (errA !== undefined || errB !== undefined) {
    expect(String(errA)).toBe(String(errB));
    return;
  }
  expect(a!.shape).toEqual(b!.shape);
  expect(a!.dtype).toBe(b!.dtype);
  const xs = a!.toArray();
  const ys = b!.toArray();
  if (tolerance === 0) {
    expect(xs).toEqual(ys);
    return;
  }
  xs.forEach((x, i) => {
    const y = ys[i]!;
    if (Number.isFinite(y)) expect(Math.abs(x - y)).toBeLessThanOrEqual(tolerance * (1 + Math.abs(y)));
    else expect(x).toBe(y);
  });
}

type Op = [string, (t: Tensor) => Tensor, number?];

function opsFor(t: Tensor): Op[] {
  const r = t.ndim;
  const last = r > 0 ? t.shape[r - 1]! : 1;
  const row = tensor(
    Array.from({ length: last }, (_, i) => i - 1.5),
    r > 0 ? [last] : [],
  );
  const ops: Op[] = [
    ["neg", neg],
    ["exp", exp],
    ["log", log],
    ["sqrt", sqrt],
    ["abs", abs],
    ["sign", sign],
    ["square", square],
    ["reciprocal", reciprocal],
    ["tanh", tanh],
    ["sigmoid", sigmoid],
    ["relu", relu],
    ["clamp", (x) => clamp(x, -1, 0.5)],
    ["map", (x) => map(x, (v) => v * 3 - 1)],
    ["add self", (x) => add(x, x)],
    ["sub row", (x) => sub(x, row)],
    ["mul scalar", (x) => mul(0.25, x)],
    ["div row", (x) => div(row, x)],
    ["pow", (x) => pow(x, 2)],
    ["maximum", (x) => maximum(x, row)],
    ["minimum", (x) => minimum(row, x)],
    ["equal", (x) => equal(x, 1)],
    ["greater", (x) => greater(x, row)],
    ["where", (x) => where(x, row, x)],
    ["sum all", (x) => sum(x), 1e-6],
    ["mean all", (x) => mean(x, undefined, true), 1e-6],
    ["logSumExp all", (x) => logSumExp(x), 1e-6],
    ["concat", (x) => concat([x, x], r > 0 ? r - 1 : 0)],
    ["stack", (x) => stack([x, x], 0)],
    [
      "pad",
      (x) =>
        pad(
          x,
          x.shape.map(() => [1, 2] as const),
          9,
        ),
    ],
    [
      "sumToShape",
      (x) =>
        sumToShape(
          x,
          x.shape.map((d, i) => (i === 0 ? 1 : d)),
        ),
      1e-6,
    ],
  ];
  for (let ax = -r; ax < r; ax++) {
    ops.push(
      [`sum ${ax}`, (x) => sum(x, ax), 1e-6],
      [`mean ${ax} keepdims`, (x) => mean(x, [ax], true), 1e-6],
      [`max ${ax}`, (x) => max(x, ax)],
      [`min ${ax}`, (x) => min(x, ax, true)],
      [`variance ${ax}`, (x) => variance(x, ax, false, 1), 1e-5],
      [`logSumExp ${ax}`, (x) => logSumExp(x, ax), 1e-6],
      [`argmax ${ax}`, (x) => argmax(x, ax)],
      [`softmax ${ax}`, (x) => softmax(x, ax)],
      [`logSoftmax ${ax}`, (x) => logSoftmax(x, ax)],
    );
  }
  if (r >= 2)
    ops.push(
      ["max over two axes", (x) => max(x, [0, -1], true)],
      ["sum over two axes", (x) => sum(x, [-1, 0]), 1e-6],
    );
  return ops;
}

describe("a view and its contiguous copy agree under every op", () => {
  it("elementwise, broadcasting, reductions, softmax, argmax, joins", () => {
    fc.assert(
      fc.property(arbChain, ({ view }) => {
        const copy = view.copy();
        expect(copy.isContiguous()).toBe(true);
        for (const [name, op, tolerance] of opsFor(view)) {
          try {
            expectSame(
              () => op(view),
              () => op(copy),
              tolerance,
            );
          } catch (e) {
            throw new Error(`op ${name}: ${String(e)}`);
          }
        }
      }),
      { numRuns: 80 },
    );
  });

  it("in-place ops on a writable view change exactly what they change on the copy", () => {
    fc.assert(
      fc.property(arbWritableChain, ({ view }) => {
        const copy = view.copy();
        const before = view.toArray();
        addInPlace(view, 1.5);
        mulInPlace(view, copy);
        addInPlace(copy, 1.5);
        mulInPlace(copy, tensor(before, view.shape, view.dtype));
        expect(view.toArray()).toEqual(copy.toArray());
      }),
      { numRuns: 100 },
    );
  });
});

describe("expand", () => {
  it("shares the buffer with stride 0 on stretched axes, and sumToShape undoes it up to the count", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        (dims, lead, ones) => {
          const small = dims.map((d, i) => (ones[i] ? 1 : d));
          const x = tensor(
            Array.from({ length: size(small) }, (_, i) => i + 1),
            small,
            "float64",
          );
          const target = [...lead, ...dims];
          const e = expand(x, target);
          expect(e.data).toBe(x.data);
          e.shape.forEach((d, i) => {
            const srcAxis = i - lead.length;
            if (srcAxis < 0 || (small[srcAxis] === 1 && d > 1)) expect(e.strides[i]).toBe(0);
          });
          const factor = size(target) / size(small);
          expect(sumToShape(e, small).toArray()).toEqual(x.toArray().map((v) => v * factor));
        },
      ),
      { numRuns: 100 },
    );
  });
});
