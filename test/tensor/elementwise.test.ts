import {
  abs,
  add,
  addInPlace,
  arange,
  assign,
  axpyInPlace,
  clamp,
  div,
  divInPlace,
  equal,
  exp,
  expand,
  fill,
  greater,
  greaterEqual,
  less,
  lessEqual,
  log,
  map,
  maximum,
  minimum,
  mul,
  mulInPlace,
  neg,
  notEqual,
  pow,
  Rng,
  reciprocal,
  relu,
  reshape,
  scaleInPlace,
  sigmoid,
  sign,
  slice,
  sqrt,
  square,
  sub,
  subInPlace,
  Tensor,
  tanh,
  tensor,
  transpose,
  where,
  zeros,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  arbLayout,
  arbShape,
  arbTensor,
  type DType,
  type Layout,
  sampleValues,
  unravel,
  viewOf,
} from "./arbitraries.js";

// ------------------------------------------------------------------------------------------------
// Broadcast operands, built on the random views of ./arbitraries.ts.

/** A shape that broadcasts to `out`: some leading axes dropped, some axes set to 1. */
const arbOperandShape = (out: readonly number[]) =>
  fc
    .tuple(fc.nat(out.length), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));

const arbBroadcastPair = (specials?: boolean) =>
  arbShape()
    .chain((out) => fc.tuple(arbOperandShape(out), arbOperandShape(out)))
    .chain(([sa, sb]) => fc.tuple(arbTensor(sa, specials), arbTensor(sb, specials)));

// ------------------------------------------------------------------------------------------------
// Naive references: index every element through Tensor.get.

function refBroadcastShape(...shapes: readonly (readonly number[])[]): number[] {
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: nd }, (_, i) => {
    const sizes = shapes.map((s) => s[s.length - nd + i] ?? 1).filter((d) => d !== 1);
    return sizes.length === 0 ? 1 : sizes[0]!;
  });
}

function getBroadcast(t: Tensor, outIdx: readonly number[]): number {
  const lead = outIdx.length - t.ndim;
  return t.get(...t.shape.map((d, j) => (d === 1 ? 0 : outIdx[lead + j]!)));
}

const roundTo = (dtype: DType, v: number) => (dtype === "float32" ? Math.fround(v) : v);
const dtypeOf = (...ts: readonly (Tensor | number)[]): DType =>
  ts.some((t) => t instanceof Tensor && t.dtype === "float64") ? "float64" : "float32";

function refBinary(a: Tensor | number, b: Tensor | number, f: (x: number, y: number) => number) {
  const dtype = dtypeOf(a, b);
  const sa = a instanceof Tensor ? a.shape : [];
  const sb = b instanceof Tensor ? b.shape : [];
  const shape = refBroadcastShape(sa, sb);
  const size = shape.reduce((p, d) => p * d, 1);
  // A number operand is rounded to the result dtype first.
  const at = (x: Tensor | number, idx: number[]) =>
    x instanceof Tensor ? getBroadcast(x, idx) : roundTo(dtype, x);
  const values = Array.from({ length: size }, (_, i) => {
    const idx = unravel(i, shape);
    return roundTo(dtype, f(at(a, idx), at(b, idx)));
  });
  return { dtype, shape, values };
}

function ieeePow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/** NaN if either is NaN; +0 beats -0. */
function refMax(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
  if (x > y) return x;
  if (y > x) return y;
  return Object.is(x, -0) ? y : x;
}

type Binary = (a: Tensor | number, b: Tensor | number) => Tensor;
const BINARY: [string, Binary, (x: number, y: number) => number][] = [
  ["add", add, (x, y) => x + y],
  ["sub", sub, (x, y) => x - y],
  ["mul", mul, (x, y) => x * y],
  ["div", div, (x, y) => x / y],
  ["pow", pow, ieeePow],
  ["maximum", maximum, (x, y) => refMax(x, y)],
  ["minimum", minimum, (x, y) => -refMax(-x, -y)],
  ["equal", equal, (x, y) => (x === y ? 1 : 0)],
  ["notEqual", notEqual, (x, y) => (x !== y ? 1 : 0)],
  ["less", less, (x, y) => (x < y ? 1 : 0)],
  ["lessEqual", lessEqual, (x, y) => (x <= y ? 1 : 0)],
  ["greater", greater, (x, y) => (x > y ? 1 : 0)],
  ["greaterEqual", greaterEqual, (x, y) => (x >= y ? 1 : 0)],
];

function sigmoidRef(x: number): number {
  // Different formula from the kernel on purpose: tanh form, exact enough to compare with a tolerance.
  return 0.5 * (1 + Math.tanh(x / 2));
}

type Unary = (x: Tensor) => Tensor;
const UNARY: [string, Unary, (x: number) => number][] = [
  ["neg", neg, (x) => -x],
  ["exp", exp, Math.exp],
  ["log", log, Math.log],
  ["sqrt", sqrt, Math.sqrt],
  ["abs", abs, Math.abs],
  ["sign", sign, Math.sign],
  ["square", square, (x) => x * x],
  ["reciprocal", reciprocal, (x) => 1 / x],
  ["tanh", tanh, Math.tanh],
  ["relu", relu, (x) => (Number.isNaN(x) || x > 0 ? x : 0)],
];

function valuesOf(t: Tensor): number[] {
  return Array.from(t.values());
}

// ------------------------------------------------------------------------------------------------

describe("binary ops broadcast like NumPy (against an index-based reference)", () => {
  for (const [name, op, f] of BINARY) {
    it(`${name}: random shapes up to rank 4, size-1 and size-0 axes, non-contiguous views, NaN/Inf`, () => {
      fc.assert(
        fc.property(arbBroadcastPair(), ([a, b]) => {
          const got = op(a, b);
          const want = refBinary(a, b, f);
          expect(got.shape).toEqual(want.shape);
          expect(got.dtype).toBe(want.dtype);
          expect(got.isContiguous()).toBe(true);
          expect(valuesOf(got)).toEqual(want.values);
        }),
        { numRuns: 60 },
      );
    });
  }

  it("number operands on either side are rounded to the result dtype first", () => {
    fc.assert(
      fc.property(
        arbShape(3).chain((s) => arbTensor(s)),
        fc.double({ min: -5, max: 5, noNaN: true }),
        fc.constantFrom(...BINARY),
        (t, s, [, op, f]) => {
          expect(valuesOf(op(t, s))).toEqual(refBinary(t, s, f).values);
          expect(valuesOf(op(s, t))).toEqual(refBinary(s, t, f).values);
        },
      ),
      { numRuns: 100 },
    );
    expect(add(zeros([1]), 0.1).item()).toBe(Math.fround(0.1));
    expect(add(zeros([1], "float64"), 0.1).item()).toBe(0.1);
  });

  it("long rows exercise the unrolled kernels and their remainders (flat and strided)", () => {
    const rng = new Rng(7);
    for (const n of [1, 7, 8, 9, 1003]) {
      const a = tensor(sampleValues(3 * n, rng.nextUint32(), true), [3, n]);
      const b = tensor(sampleValues(3 * n, rng.nextUint32(), true), [3, n], "float64");
      const row = tensor(sampleValues(n, rng.nextUint32(), false), [n]);
      for (const [, op, f] of BINARY.slice(0, 4)) {
        expect(valuesOf(op(a, a))).toEqual(refBinary(a, a, f).values); // flat path
        expect(valuesOf(op(a, b))).toEqual(refBinary(a, b, f).values); // flat path, mixed dtypes
        expect(valuesOf(op(a, row))).toEqual(refBinary(a, row, f).values); // row broadcast
        const at = transpose(reshape(a, [n, 3]));
        expect(valuesOf(op(at, a))).toEqual(refBinary(at, a, f).values); // strided rows
      }
    }
  });

  it("dtype: float64 if any tensor operand is float64, else float32; results never alias inputs", () => {
    const f32 = arange(3);
    const f64 = arange(3, undefined, 1, "float64");
    expect(add(f32, f32).dtype).toBe("float32");
    expect(add(f32, f64).dtype).toBe("float64");
    expect(mul(f64, 2).dtype).toBe("float64");
    expect(less(2, f32).dtype).toBe("float32");
    expect(add(f32, 0).data).not.toBe(f32.data);
  });

  it("maximum/minimum propagate NaN from either side; comparisons with NaN are false except notEqual", () => {
    const a = tensor([Number.NaN, 1, Number.NaN]);
    const b = tensor([1, Number.NaN, Number.NaN]);
    expect(valuesOf(maximum(a, b))).toEqual([Number.NaN, Number.NaN, Number.NaN]);
    expect(valuesOf(minimum(a, b))).toEqual([Number.NaN, Number.NaN, Number.NaN]);
    expect(valuesOf(equal(a, b))).toEqual([0, 0, 0]);
    expect(valuesOf(notEqual(a, b))).toEqual([1, 1, 1]);
    expect(valuesOf(lessEqual(a, b))).toEqual([0, 0, 0]);
  });

  it("pow follows C where JavaScript differs: 1^y = 1 and (-1)^±Inf = 1", () => {
    const x = tensor([1, 1, -1, -1, 2, -8, Number.NaN], undefined, "float64");
    const y = tensor([Number.NaN, Infinity, Infinity, -Infinity, Number.NaN, 1 / 3, 0], undefined, "float64");
    expect(valuesOf(pow(x, y))).toEqual([1, 1, 1, 1, Number.NaN, Number.NaN, 1]);
  });

  it("IEEE division: ±x/0 is ±Infinity and 0/0 is NaN (nothing is replaced)", () => {
    expect(valuesOf(div(tensor([1, -1, 0, -0]), tensor([0, 0, 0, 1])))).toEqual([
      Infinity,
      -Infinity,
      Number.NaN,
      -0,
    ]);
  });

  it("errors name the op, both shapes, the axis and what was expected", () => {
    expect(() => add(zeros([2, 3]), zeros([4]))).toThrow(
      "add: shapes [2, 3] and [4] cannot be broadcast together: axis -1 has sizes 3 and 4; expected equal sizes or 1",
    );
    expect(() => greaterEqual(zeros([5, 2, 1]), zeros([3, 1, 4]))).toThrow(
      /^greaterEqual: shapes \[5, 2, 1\] and \[3, 1, 4\] cannot be broadcast together: axis -3 has sizes 5 and 3/,
    );
    expect(() => add(2, 3)).toThrow("add: expected at least one Tensor argument, got two numbers (2, 3)");
    expect(() => mul(zeros([1]), "2" as unknown as number)).toThrow(
      "mul: b must be a Tensor or a number, got string",
    );
  });
});

describe("where", () => {
  it("picks a where cond is non-zero (NaN counts as true), broadcasting all three", () => {
    const arbTriple = arbShape()
      .chain((out) => fc.tuple(arbOperandShape(out), arbOperandShape(out), arbOperandShape(out)))
      .chain(([sc, sa, sb]) => fc.tuple(arbTensor(sc), arbTensor(sa), arbTensor(sb)));
    fc.assert(
      fc.property(arbTriple, ([c, a, b]) => {
        const got = where(c, a, b);
        const shape = refBroadcastShape(c.shape, a.shape, b.shape);
        const dtype = dtypeOf(a, b);
        const size = shape.reduce((p, d) => p * d, 1);
        const want = Array.from({ length: size }, (_, i) => {
          const idx = unravel(i, shape);
          return roundTo(dtype, getBroadcast(c, idx) !== 0 ? getBroadcast(a, idx) : getBroadcast(b, idx));
        });
        expect(got.shape).toEqual(shape);
        expect(got.dtype).toBe(dtype);
        expect(valuesOf(got)).toEqual(want);
      }),
      { numRuns: 80 },
    );
  });

  it("accepts numbers for a and b and reports bad shapes", () => {
    expect(valuesOf(where(tensor([1, 0, Number.NaN, -0]), 5, -5))).toEqual([5, -5, 5, -5]);
    expect(() => where(zeros([2]), zeros([3]), 1)).toThrow(
      "where: shapes [2] and [3] and [] cannot be broadcast together: axis -1 has sizes 2 and 3",
    );
  });
});

describe("unary ops", () => {
  for (const [name, op, f] of UNARY) {
    it(`${name} matches Math on every layout, keeps the dtype, propagates NaN/Inf`, () => {
      fc.assert(
        fc.property(
          arbShape().chain((s) => arbTensor(s)),
          (x) => {
            const got = op(x);
            expect(got.shape).toEqual(x.shape);
            expect(got.dtype).toBe(x.dtype);
            const want = valuesOf(x).map((v) => roundTo(x.dtype, f(v)));
            expect(valuesOf(got)).toEqual(want);
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it("sigmoid is accurate, never overflows and propagates NaN", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -800, max: 800, noNaN: true }), { maxLength: 20 }), (xs) => {
        const got = valuesOf(sigmoid(tensor(xs, undefined, "float64")));
        got.forEach((v, i) => {
          expect(Number.isFinite(v)).toBe(true);
          expect(Math.abs(v - sigmoidRef(xs[i]!))).toBeLessThanOrEqual(1e-15 + 1e-12 * sigmoidRef(xs[i]!));
        });
      }),
      { numRuns: 100 },
    );
    expect(valuesOf(sigmoid(tensor([-Infinity, Infinity, Number.NaN, 0])))).toEqual([0, 1, Number.NaN, 0.5]);
  });

  it("relu maps -0 to +0 and keeps NaN; sign keeps NaN", () => {
    expect(valuesOf(relu(tensor([-0, -1, Number.NaN, 2])))).toEqual([0, 0, Number.NaN, 2]);
    expect(valuesOf(sign(tensor([-3, 0, Number.NaN, 5])))).toEqual([-1, 0, Number.NaN, 1]);
  });

  it("clamp matches min(max(x, lo), hi) with infinite bounds allowed and NaN kept", () => {
    fc.assert(
      fc.property(
        arbShape().chain((s) => arbTensor(s)),
        fc.constantFrom(-Infinity, -2, -0.5, 0),
        fc.constantFrom(0, 0.5, 3, Infinity),
        (x, lo, hi) => {
          const want = valuesOf(x).map((v) =>
            roundTo(x.dtype, Number.isNaN(v) ? v : Math.min(Math.max(v, lo), hi)),
          );
          expect(valuesOf(clamp(x, lo, hi))).toEqual(want);
        },
      ),
      { numRuns: 60 },
    );
    expect(() => clamp(zeros([1]), 2, 1)).toThrow("clamp: expected lo <= hi (both not NaN), got lo=2, hi=1");
    expect(() => clamp(zeros([1]), Number.NaN, 1)).toThrow(/clamp: expected lo <= hi/);
  });

  it("map applies any function and keeps shape and dtype", () => {
    const x = transpose(reshape(arange(6, undefined, 1, "float64"), [2, 3]));
    const y = map(x, (v) => v * 10 + 1);
    expect(y.shape).toEqual([3, 2]);
    expect(y.dtype).toBe("float64");
    expect(valuesOf(y)).toEqual([1, 31, 11, 41, 21, 51]);
  });

  it("rejects non-tensors with the op name", () => {
    expect(() => exp(3 as unknown as Tensor)).toThrow("exp: x must be a Tensor, got number");
  });
});

// ------------------------------------------------------------------------------------------------

/** A writable view `out` (every element its own memory) over a buffer, plus the buffer's contents. */
function writableView(shape: readonly number[], lay: Layout): Tensor {
  return viewOf(shape, { ...lay, expandAxes: lay.expandAxes.map(() => false) });
}

const arbInPlaceCase = arbShape()
  .chain((out) => fc.tuple(fc.constant(out), arbOperandShape(out)))
  .chain(([out, sb]) =>
    fc.tuple(
      arbLayout(out.length).map((l) => writableView(out, l)),
      arbTensor(sb),
    ),
  );

describe("in-place ops (work on non-contiguous views, touch nothing outside them)", () => {
  const cases: [string, (o: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
    ["addInPlace", addInPlace, (x, y) => x + y],
    ["subInPlace", subInPlace, (x, y) => x - y],
    ["mulInPlace", mulInPlace, (x, y) => x * y],
    ["divInPlace", divInPlace, (x, y) => x / y],
    ["assign", assign, (_, y) => y],
    ["axpyInPlace(alpha=-0.75)", (o, b) => axpyInPlace(o, -0.75, b), (x, y) => x + -0.75 * y],
  ];
  for (const [name, op, f] of cases) {
    it(`${name}: out ⊙= b equals the reference, in place`, () => {
      fc.assert(
        fc.property(arbInPlaceCase, ([out, b]) => {
          const before = Array.from(out.data);
          const mine = new Set<number>();
          const idxs = Array.from({ length: out.size }, (_, i) => unravel(i, out.shape));
          const want = idxs.map((idx) => roundTo(out.dtype, f(out.get(...idx), getBroadcast(b, idx))));
          for (const idx of idxs)
            mine.add(out.offset + idx.reduce((p, v, ax) => p + v * out.strides[ax]!, 0));
          const bufferBefore = out.data;
          expect(op(out, b)).toBe(out);
          expect(out.data).toBe(bufferBefore);
          expect(idxs.map((idx) => out.get(...idx))).toEqual(want);
          // Elements of the buffer outside the view are untouched.
          out.data.forEach((v, k) => {
            if (!mine.has(k)) expect(v).toEqual(before[k]);
          });
        }),
        { numRuns: 60 },
      );
    });
  }

  it("scaleInPlace and fill on a strided view", () => {
    const base = reshape(arange(12), [3, 4]);
    const view = slice(base, [null, [0, 4, 2]]); // columns 0 and 2
    scaleInPlace(view, 10);
    expect(valuesOf(base)).toEqual([0, 1, 20, 3, 40, 5, 60, 7, 80, 9, 100, 11]);
    fill(transpose(view), -1);
    expect(valuesOf(base)).toEqual([-1, 1, -1, 3, -1, 5, -1, 7, -1, 9, -1, 11]);
    fill(base, Number.NaN);
    expect(valuesOf(base).every(Number.isNaN)).toBe(true);
  });

  it("reads a copy when b overlaps out differently (x += xᵀ)", () => {
    const m = reshape(arange(9), [3, 3]);
    addInPlace(m, transpose(m));
    expect(valuesOf(m)).toEqual([0, 4, 8, 4, 8, 12, 8, 12, 16]);
    const v = arange(6);
    addInPlace(slice(v, [[1, 6]]), slice(v, [[0, 5]])); // shifted overlap
    expect(valuesOf(v)).toEqual([0, 1, 3, 5, 7, 9]);
    const w = arange(4);
    mulInPlace(w, w); // identical layout: safe without a copy
    expect(valuesOf(w)).toEqual([0, 1, 4, 9]);
  });

  it("in-place errors name the op and say that out's shape cannot change", () => {
    expect(() => addInPlace(zeros([3]), zeros([2, 3]))).toThrow(
      "addInPlace: b of shape [2, 3] does not broadcast to out's shape [3]; expected b's trailing axes to equal " +
        "out's or be 1 (an in-place op cannot change out's shape)",
    );
    expect(() => axpyInPlace(zeros([2, 3]), 2, zeros([2]))).toThrow(
      /^axpyInPlace: x of shape \[2\] does not broadcast to out's shape \[2, 3\]/,
    );
    expect(() => subInPlace(expand(zeros([1, 3]), [4, 3]), 1)).toThrow(
      /^subInPlace: out \(shape \[4, 3\], strides \[0, 1\]\) has overlapping elements/,
    );
    expect(() => scaleInPlace(zeros([2]), zeros([2]) as unknown as number)).toThrow(
      /^scaleInPlace: s must be a number, got a Tensor of shape \[2\]/,
    );
  });
});
