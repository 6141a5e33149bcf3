import {
  argmax,
  expand,
  logSoftmax,
  logSumExp,
  max,
  mean,
  min,
  permute,
  Rng,
  slice,
  softmax,
  sum,
  sumToShape,
  Tensor,
  tensor,
  variance,
  zeros,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbShape, arbTensor, size, unravel } from "./arbitraries.js";

/** Axes arguments in every accepted form: undefined, one (maybe negative) axis, or a shuffled list. */
const arbAxes = (rank: number): fc.Arbitrary<number | number[] | undefined> => {
  const list = fc
    .shuffledSubarray([...Array(rank).keys()])
    .chain((axes) =>
      fc
        .array(fc.boolean(), { minLength: axes.length, maxLength: axes.length })
        .map((neg) => axes.map((a, i) => (neg[i] ? a - rank : a))),
    );
  if (rank === 0) return fc.oneof(fc.constant(undefined), list);
  return fc.oneof(fc.constant(undefined), fc.integer({ min: -rank, max: rank - 1 }), list);
};

const arbReduceCase = (specials?: boolean) =>
  arbShape()
    .chain((s) => fc.tuple(arbTensor(s, specials), arbAxes(s.length), fc.boolean()))
    .map(([t, axes, keepdims]) => ({ t, axes, keepdims }));

/** Group every element of t by its output slot (reduced axes collapsed), in row-major order. */
function groups(t: Tensor, axes: number | readonly number[] | undefined, keepdims: boolean) {
  const r = t.ndim;
  const list = axes === undefined ? [...Array(r).keys()] : typeof axes === "number" ? [axes] : axes;
  const reduced = new Set(list.map((a) => (a < 0 ? a + r : a)));
  const kept = t.shape.map((d, i) => (reduced.has(i) ? 1 : d));
  const slots: number[][] = Array.from({ length: size(kept) }, () => []);
  for (let i = 0; i < t.size; i++) {
    const idx = unravel(i, t.shape);
    let slot = 0;
    for (let ax = 0; ax < r; ax++) slot = slot * kept[ax]! + (reduced.has(ax) ? 0 : idx[ax]!);
    slots[slot]!.push(t.get(...idx));
  }
  const shape = keepdims ? kept : t.shape.filter((_, i) => !reduced.has(i));
  return { slots, shape };
}

const roundTo = (t: Tensor, v: number) => (t.dtype === "float32" ? Math.fround(v) : v);

/** |got − want| ≤ atol + rtol·|want|, with NaN = NaN and infinities equal only to themselves. */
function expectClose(
  got: readonly number[],
  want: readonly number[],
  rtol: number,
  atol: readonly number[] | number,
) {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    const w = want[i]!;
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      expect(g).toBe(w);
      return;
    }
    const tol = (typeof atol === "number" ? atol : atol[i]!) + rtol * Math.abs(w);
    if (!(Math.abs(g - w) <= tol)) expect.fail(`element ${i}: got ${g}, want ${w} (tolerance ${tol})`);
  });
}

const rtolOf = (t: Tensor) => (t.dtype === "float32" ? 3e-7 : 1e-13);
const naiveSum = (xs: readonly number[]) => xs.reduce((p, x) => p + x, 0);
const absSum = (xs: readonly number[]) => xs.reduce((p, x) => p + Math.abs(x), 0);
/** NaN if any element is NaN (the order of a slice never matters for max/min). */
function naiveMax(xs: readonly number[]): number {
  let m = -Infinity;
  for (const x of xs) {
    if (Number.isNaN(x)) return Number.NaN;
    if (x > m || (x === 0 && m === 0 && Object.is(m, -0))) m = x;
  }
  return m;
}
const naiveMin = (xs: readonly number[]) => -naiveMax(xs.map((x) => -x));

// ------------------------------------------------------------------------------------------------

describe("sum, mean, max, min over random axes, with and without keepdims", () => {
  it("sum and mean agree with a float64 reference", () => {
    fc.assert(
      fc.property(arbReduceCase(), ({ t, axes, keepdims }) => {
        const { slots, shape } = groups(t, axes, keepdims);
        const s = sum(t, axes, keepdims);
        const m = mean(t, axes, keepdims);
        expect(s.shape).toEqual(shape);
        expect(m.shape).toEqual(shape);
        expect(s.dtype).toBe(t.dtype);
        const atol = slots.map((xs) => 1e-13 * absSum(xs));
        expectClose(
          Array.from(s.values()),
          slots.map((xs) => roundTo(t, naiveSum(xs))),
          rtolOf(t),
          atol,
        );
        expectClose(
          Array.from(m.values()),
          slots.map((xs) => roundTo(t, naiveSum(xs) / xs.length)),
          rtolOf(t),
          atol.map((a, i) => a / Math.max(1, slots[i]!.length)),
        );
      }),
      { numRuns: 150 },
    );
  });

  it("max and min are exact; NaN anywhere in a slice gives NaN", () => {
    fc.assert(
      fc.property(
        arbReduceCase().filter(({ t, axes }) => groups(t, axes, false).slots.every((xs) => xs.length > 0)),
        ({ t, axes, keepdims }) => {
          const { slots, shape } = groups(t, axes, keepdims);
          const mx = max(t, axes, keepdims);
          const mn = min(t, axes, keepdims);
          expect(mx.shape).toEqual(shape);
          expect(Array.from(mx.values())).toEqual(slots.map((xs) => roundTo(t, naiveMax(xs))));
          expect(Array.from(mn.values())).toEqual(slots.map((xs) => roundTo(t, naiveMin(xs))));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("float32 tensors are accumulated in float64 (1e8 + 100 ones − 1e8 = 100)", () => {
    const xs = [1e8, ...new Array<number>(100).fill(1), -1e8];
    const t = tensor(xs); // float32: 1e8 + 1 would round back to 1e8
    expect(sum(t).item()).toBe(100);
    expect(mean(t).item()).toBe(Math.fround(100 / 102));
  });

  it("mean of an empty slice is NaN and sum is 0; max of an empty slice is an error", () => {
    expect(Array.from(mean(zeros([2, 0]), 1).values())).toEqual([Number.NaN, Number.NaN]);
    expect(Array.from(sum(zeros([2, 0]), 1).values())).toEqual([0, 0]);
    expect(max(zeros([0, 3]), 1).shape).toEqual([0]);
    expect(() => max(zeros([2, 0]), 1)).toThrow(
      "max: cannot reduce shape [2, 0] over axes [1]: the slices are empty and max has no identity; " +
        "expected every reduced axis to have size > 0",
    );
    expect(() => min(zeros([0]))).toThrow(/^min: cannot reduce shape \[0\] over axes \[0\]/);
  });

  it("axis errors name the op, the axis and the shape", () => {
    expect(() => sum(zeros([2, 3]), 2)).toThrow("sum: axis 2 is out of range for a tensor of rank 2");
    expect(() => mean(zeros([2, 3]), [-3])).toThrow("mean: axis -3 is out of range for a tensor of rank 2");
    expect(() => max(zeros([2, 3]), [1, -1])).toThrow(
      "max: axis -1 is repeated in axes [1, -1] for shape [2, 3]",
    );
    expect(() => sum(zeros([2]), 0.5)).toThrow(/^sum: axis 0.5 is out of range/);
  });
});

describe("variance", () => {
  it("matches a two-pass float64 reference for correction 0 and 1", () => {
    fc.assert(
      fc.property(arbReduceCase(false), fc.constantFrom(0, 1), ({ t, axes, keepdims }, correction) => {
        const { slots, shape } = groups(t, axes, keepdims);
        const v = variance(t, axes, keepdims, correction);
        expect(v.shape).toEqual(shape);
        const want = slots.map((xs) => {
          const mu = naiveSum(xs) / xs.length;
          const ss = naiveSum(xs.map((x) => (x - mu) ** 2));
          return roundTo(t, ss / Math.max(xs.length - correction, 0));
        });
        expectClose(
          Array.from(v.values()),
          want,
          rtolOf(t),
          slots.map((xs) => 1e-12 * (1 + absSum(xs)) ** 2),
        );
      }),
      { numRuns: 120 },
    );
  });

  it("follows NumPy at the edges: N − correction ≤ 0 divides by zero; Inf or NaN inputs give NaN", () => {
    const f64 = (xs: number[]) => tensor(xs, undefined, "float64");
    expect(variance(f64([3]), undefined, false, 1).item()).toBeNaN(); // 0/0
    expect(variance(f64([1, 2]), undefined, false, 2).item()).toBe(Infinity); // 0.5/0
    expect(variance(f64([1, Infinity])).item()).toBeNaN();
    expect(variance(f64([1, Number.NaN])).item()).toBeNaN();
    expect(variance(f64([2, 4, 4, 4, 5, 5, 7, 9])).item()).toBe(4);
    expect(() => variance(f64([1]), undefined, false, Number.NaN)).toThrow(
      "variance: correction must be a finite number, got NaN",
    );
  });
});

describe("logSumExp", () => {
  it("matches log Σ exp on moderate inputs", () => {
    fc.assert(
      fc.property(arbReduceCase(false), ({ t, axes, keepdims }) => {
        const { slots, shape } = groups(t, axes, keepdims);
        const got = logSumExp(t, axes, keepdims);
        expect(got.shape).toEqual(shape);
        const want = slots.map((xs) => roundTo(t, Math.log(naiveSum(xs.map(Math.exp)))));
        expectClose(Array.from(got.values()), want, rtolOf(t) * 4, 1e-12);
      }),
      { numRuns: 120 },
    );
  });

  it("is stable for large inputs and handles infinities and NaN as IEEE", () => {
    const f64 = (xs: number[]) => tensor(xs, undefined, "float64");
    expect(logSumExp(f64([1e4, 1e4])).item()).toBeCloseTo(1e4 + Math.LN2, 10);
    expect(logSumExp(f64([-1e4, -1e4 - 1])).item()).toBeCloseTo(-1e4 + Math.log1p(Math.exp(-1)), 10);
    expect(logSumExp(tensor([1000, 0])).item()).toBe(1000);
    expect(logSumExp(f64([-Infinity, -Infinity])).item()).toBe(-Infinity);
    expect(logSumExp(f64([Infinity, 3, -Infinity])).item()).toBe(Infinity);
    expect(logSumExp(f64([Infinity, Number.NaN])).item()).toBeNaN();
    expect(logSumExp(f64([1, Number.NaN])).item()).toBeNaN();
    expect(logSumExp(zeros([0])).item()).toBe(-Infinity);
    const rows = logSumExp(
      tensor([
        [-Infinity, -Infinity],
        [0, 0],
      ]),
      1,
      true,
    );
    expect(rows.shape).toEqual([2, 1]);
    expect(Array.from(rows.values())).toEqual([-Infinity, Math.fround(Math.LN2)]);
  });
});

describe("argmax", () => {
  it("returns the first maximum, or the first NaN, along any axis", () => {
    const arbCase = arbShape()
      .filter((s) => s.length > 0)
      .chain((s) => fc.tuple(arbTensor(s), fc.integer({ min: -s.length, max: s.length - 1 }), fc.boolean()))
      .filter(([t, axis]) => t.shape[axis < 0 ? axis + t.ndim : axis]! > 0);
    fc.assert(
      fc.property(arbCase, ([t, axis, keepdims]) => {
        const { slots, shape } = groups(t, axis, keepdims);
        const got = argmax(t, axis, keepdims);
        expect(got.shape).toEqual(shape);
        const want = slots.map((xs) => {
          const nan = xs.findIndex(Number.isNaN);
          if (nan >= 0) return nan;
          return xs.indexOf(naiveMax(xs));
        });
        expect(Array.from(got.values())).toEqual(want);
      }),
      { numRuns: 150 },
    );
  });

  it("ties and NaN, and errors", () => {
    const t = tensor([
      [1, 3, 3],
      [Number.NaN, 5, Number.NaN],
      [-Infinity, -Infinity, -Infinity],
    ]);
    expect(Array.from(argmax(t, 1).values())).toEqual([1, 0, 0]);
    expect(Array.from(argmax(t, 0).values())).toEqual([1, 1, 1]);
    expect(argmax(t, -1, true).shape).toEqual([3, 1]);
    expect(() => argmax(zeros([2, 0]), 1)).toThrow(
      "argmax: axis 1 of shape [2, 0] has size 0; expected a non-empty axis to take the argmax of",
    );
    expect(() => argmax(zeros([2]), 1)).toThrow("argmax: axis 1 is out of range for a tensor of rank 1");
  });
});

describe("softmax and logSoftmax", () => {
  const arbCase = arbShape()
    .filter((s) => s.length > 0)
    .chain((s) =>
      fc.tuple(
        arbTensor(s, false),
        fc.integer({ min: -s.length, max: s.length - 1 }),
        fc.constantFrom(1, 30, 1e4),
      ),
    );

  /** Lanes along `axis` as arrays of values, in row-major order of the other axes. */
  function lanes(t: Tensor, axis: number): number[][] {
    const ax = axis < 0 ? axis + t.ndim : axis;
    const perm = [...Array(t.ndim).keys()].filter((a) => a !== ax).concat([ax]);
    const moved = permute(t, perm).toArray();
    const n = t.shape[ax]!;
    return Array.from({ length: n === 0 ? 0 : moved.length / n }, (_, i) => moved.slice(i * n, (i + 1) * n));
  }

  it("softmax lanes are the float64 reference, lie in [0, 1] and sum to 1, even for inputs ~1e4", () => {
    fc.assert(
      fc.property(arbCase, ([t0, axis, scale]) => {
        // The same view (strides, offset) over a scaled copy of the buffer.
        const t = new Tensor(
          t0.data.map((v) => v * scale),
          t0.shape,
          t0.strides,
          t0.offset,
        );
        const got = softmax(t, axis);
        expect(got.shape).toEqual(t.shape);
        expect(got.dtype).toBe(t.dtype);
        const tol = t.dtype === "float32" ? 2e-6 : 1e-13;
        for (const [g, x] of lanes(got, axis).map((lane, i) => [lane, lanes(t, axis)[i]!] as const)) {
          const m = Math.max(...x);
          const e = x.map((v) => Math.exp(v - m));
          const z = naiveSum(e);
          expectClose(
            g,
            e.map((v) => v / z),
            tol,
            tol,
          );
          expect(g.every((v) => v >= 0 && v <= 1)).toBe(true);
          expect(Math.abs(naiveSum(g) - 1)).toBeLessThanOrEqual(tol * g.length);
        }
      }),
      { numRuns: 120 },
    );
  });

  it("logSoftmax = x − logSumExp(x) = log(softmax(x)), finite for inputs ~1e4", () => {
    fc.assert(
      fc.property(arbCase, ([t0, axis, scale]) => {
        const t = tensor(
          t0.toArray().map((v) => v * scale),
          t0.shape,
          "float64",
        );
        const got = logSoftmax(t, axis);
        const viaLse = lanes(t, axis).map((x) => {
          const m = Math.max(...x);
          const lse = m + Math.log(naiveSum(x.map((v) => Math.exp(v - m))));
          return x.map((v) => v - lse);
        });
        lanes(got, axis).forEach((lane, i) => {
          expect(lane.every(Number.isFinite)).toBe(true);
          expectClose(lane, viaLse[i]!, 1e-12, 1e-9);
        });
        const sm = lanes(softmax(t, axis), axis);
        lanes(got, axis).forEach((lane, i) => {
          lane.forEach((v, j) => {
            if (sm[i]![j]! > 1e-300) expect(Math.abs(v - Math.log(sm[i]![j]!))).toBeLessThanOrEqual(1e-9);
          });
        });
      }),
      { numRuns: 100 },
    );
  });

  it("infinities and NaN propagate as IEEE arithmetic does", () => {
    const f64 = (xs: number[]) => tensor(xs, undefined, "float64");
    expect(Array.from(softmax(f64([Infinity, 1])).values())).toEqual([Number.NaN, 0]);
    expect(Array.from(logSoftmax(f64([Infinity, 1])).values())).toEqual([Number.NaN, -Infinity]);
    expect(Array.from(softmax(f64([-Infinity, 0])).values())).toEqual([0, 1]);
    expect(Array.from(logSoftmax(f64([-Infinity, 0])).values())).toEqual([-Infinity, 0]);
    expect(Array.from(softmax(f64([-Infinity, -Infinity])).values()).every(Number.isNaN)).toBe(true);
    expect(Array.from(softmax(f64([1, Number.NaN])).values()).every(Number.isNaN)).toBe(true);
    expect(Array.from(logSoftmax(f64([1e4, 0])).values())).toEqual([0, -1e4]);
  });

  it("errors name the op", () => {
    expect(() => softmax(zeros([2, 3]), 2)).toThrow("softmax: axis 2 is out of range for a tensor of rank 2");
    expect(() => logSoftmax(zeros([]))).toThrow("logSoftmax: axis -1 is out of range for a tensor of rank 0");
  });
});

describe("sumToShape (the inverse of broadcasting)", () => {
  /** An output shape and a shape that broadcasts to it. */
  const arbCase = arbShape()
    .chain((out) =>
      fc.tuple(
        fc.constant(out),
        fc
          .tuple(fc.nat(out.length), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
          .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))),
      ),
    )
    .chain(([out, small]) => fc.tuple(arbTensor(out), fc.constant(small)));

  it("sums every element into the slot it was broadcast from", () => {
    fc.assert(
      fc.property(arbCase, ([t, shape]) => {
        const got = sumToShape(t, shape);
        expect(got.shape).toEqual(shape);
        expect(got.dtype).toBe(t.dtype);
        const slots: number[][] = Array.from({ length: size(shape) }, () => []);
        const lead = t.ndim - shape.length;
        for (let i = 0; i < t.size; i++) {
          const idx = unravel(i, t.shape);
          let slot = 0;
          for (let j = 0; j < shape.length; j++)
            slot = slot * shape[j]! + (shape[j] === 1 ? 0 : idx[lead + j]!);
          slots[slot]!.push(t.get(...idx));
        }
        expectClose(
          Array.from(got.values()),
          slots.map((xs) => roundTo(t, naiveSum(xs))),
          rtolOf(t),
          slots.map((xs) => 1e-13 * absSum(xs)),
        );
        expect(got.data).not.toBe(t.data);
      }),
      { numRuns: 150 },
    );
  });

  it("undoes expand: sumToShape(expand(x, S), x.shape) = x · (size(S) / size(x))", () => {
    const x = tensor([[1], [2], [3]], undefined, "float64");
    expect(Array.from(sumToShape(expand(x, [4, 3, 5]), [3, 1]).values())).toEqual([20, 40, 60]);
    expect(Array.from(sumToShape(expand(x, [4, 3, 5]), [1, 5]).values())).toEqual([24, 24, 24, 24, 24]);
    expect(sumToShape(expand(x, [2, 3, 1]), []).item()).toBe(12);
  });

  it("rejects shapes that do not broadcast to t's shape", () => {
    expect(() => sumToShape(zeros([2, 3]), [4])).toThrow(
      "sumToShape: cannot sum [2, 3] down to [4]; expected a shape that broadcasts to [2, 3] " +
        "(at most 2 axes, each trailing axis equal to t's or 1)",
    );
    expect(() => sumToShape(zeros([3]), [1, 3])).toThrow(/^sumToShape: cannot sum \[3\] down to \[1, 3\]/);
    expect(() => sumToShape(zeros([3]), [-1])).toThrow(
      /^sumToShape: shape \[-1\] must contain non-negative integers/,
    );
  });
});

describe("reductions of views", () => {
  it("reduce a transposed slice the same as its contiguous copy", () => {
    const rng = new Rng(3);
    const base = tensor(
      Array.from({ length: 60 }, () => rng.uniform(-1, 1)),
      [3, 4, 5],
    );
    const v = slice(permute(base, [2, 0, 1]), [[4, undefined, -2], null, [1, 4]]);
    const c = v.contiguous();
    expect(v.isContiguous()).toBe(false);
    for (const axes of [undefined, 0, 1, 2, [0, 2], [-1, -2]] as const) {
      expect(Array.from(sum(v, axes, true).values())).toEqual(Array.from(sum(c, axes, true).values()));
      expect(Array.from(max(v, axes).values())).toEqual(Array.from(max(c, axes).values()));
    }
    expect(Array.from(softmax(v, 1).values())).toEqual(Array.from(softmax(c, 1).values()));
    expect(Array.from(argmax(v, 0).values())).toEqual(Array.from(argmax(c, 0).values()));
  });
});
