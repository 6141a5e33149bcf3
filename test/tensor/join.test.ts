import { concat, pad, permute, Rng, slice, stack, type Tensor, tensor, zeros } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DType, size, unravel } from "./arbitraries.js";

/**
 * A tensor of `shape` with values from `seed`: contiguous, or (layout 1) a reversed-axes permutation of a
 * buffer, or (layout 2) every other element of a buffer twice as long on the last axis, read backwards.
 */
function makeTensor(shape: readonly number[], seed: number, layout: number, dtype: DType): Tensor {
  const rng = new Rng(seed);
  const values = (n: number) =>
    Array.from({ length: n }, () => (rng.next() < 0.1 ? Number.NaN : rng.int(19) - 9));
  const r = shape.length;
  if (layout === 1 && r >= 2) {
    const reversed = [...shape].reverse();
    return permute(tensor(values(size(shape)), reversed, dtype), [...Array(r).keys()].reverse());
  }
  if (layout === 2 && r >= 1) {
    const wide = [...shape];
    wide[r - 1] = 2 * wide[r - 1]!;
    const base = tensor(values(size(wide)), wide, dtype);
    const specs = shape.map((_, i) => (i === r - 1 ? ([-1, undefined, -2] as const) : null));
    return slice(base, specs);
  }
  return tensor(values(size(shape)), shape, dtype);
}

const arbTensorOf = (shape: readonly number[]) =>
  fc
    .tuple(fc.nat(), fc.nat(2), fc.constantFrom<DType>("float32", "float32", "float64"))
    .map(([seed, layout, dtype]) => makeTensor(shape, seed, layout, dtype));

const joinedDType = (ts: readonly Tensor[]): DType =>
  ts.some((t) => t.dtype === "float64") ? "float64" : "float32";

describe("concat", () => {
  const arbCase = fc
    .tuple(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
      fc.nat(),
    )
    .chain(([shape, axisSizes, axisSeed]) => {
      const axis = (axisSeed % (2 * shape.length)) - shape.length; // in [-r, r)
      const ax = axis < 0 ? axis + shape.length : axis;
      const shapes = axisSizes.map((d) => shape.map((s, i) => (i === ax ? d : s)));
      return fc.tuple(fc.tuple(...shapes.map(arbTensorOf)), fc.constant(axis));
    });

  it("places each input at its offset along the axis (any axis, any layout, mixed dtypes)", () => {
    fc.assert(
      fc.property(arbCase, ([ts, axis]) => {
        const got = concat(ts, axis);
        const ax = axis < 0 ? axis + ts[0]!.ndim : axis;
        const shape = [...ts[0]!.shape];
        shape[ax] = ts.reduce((p, t) => p + t.shape[ax]!, 0);
        expect(got.shape).toEqual(shape);
        expect(got.dtype).toBe(joinedDType(ts));
        const want = Array.from({ length: size(shape) }, (_, i) => {
          const idx = unravel(i, shape);
          let k = 0;
          while (idx[ax]! >= ts[k]!.shape[ax]!) idx[ax] = idx[ax]! - ts[k++]!.shape[ax]!;
          return ts[k]!.get(...idx);
        });
        expect(got.toArray()).toEqual(want);
      }),
      { numRuns: 150 },
    );
  });

  it("errors name the op, the shapes and the axis", () => {
    expect(() => concat([zeros([2, 3]), zeros([2, 4])])).toThrow(
      "concat: tensor 1 has shape [2, 4] but tensor 0 has [2, 3]; expected the same rank and equal sizes " +
        "on every axis except axis 0",
    );
    expect(() => concat([zeros([2, 3]), zeros([3])], -1)).toThrow(
      /^concat: tensor 1 has shape \[3\] but tensor 0/,
    );
    expect(() => concat([])).toThrow("concat: expected at least one tensor, got an empty list");
    expect(() => concat([zeros([2])], 1)).toThrow("concat: axis 1 is out of range for a tensor of rank 1");
    expect(() => concat([zeros([])])).toThrow(/^concat: cannot concatenate rank-0 tensors/);
  });
});

describe("stack", () => {
  const arbCase = fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.nat(),
    )
    .chain(([shape, k, axisSeed]) => {
      const r = shape.length;
      const axis = (axisSeed % (2 * r + 2)) - (r + 1); // in [-(r+1), r]
      return fc.tuple(fc.tuple(...Array.from({ length: k }, () => arbTensorOf(shape))), fc.constant(axis));
    });

  it("inserts a new axis of length k holding the inputs in order", () => {
    fc.assert(
      fc.property(arbCase, ([ts, axis]) => {
        const got = stack(ts, axis);
        const r = ts[0]!.ndim;
        const ax = axis < 0 ? axis + r + 1 : axis;
        const shape = [...ts[0]!.shape];
        shape.splice(ax, 0, ts.length);
        expect(got.shape).toEqual(shape);
        expect(got.dtype).toBe(joinedDType(ts));
        const want = Array.from({ length: size(shape) }, (_, i) => {
          const idx = unravel(i, shape);
          const [k] = idx.splice(ax, 1);
          return ts[k!]!.get(...idx);
        });
        expect(got.toArray()).toEqual(want);
      }),
      { numRuns: 150 },
    );
  });

  it("errors", () => {
    expect(() => stack([zeros([2, 3]), zeros([3, 2])])).toThrow(
      "stack: tensor 1 has shape [3, 2] but tensor 0 has [2, 3]; expected equal shapes",
    );
    expect(() => stack([zeros([2])], 2)).toThrow("stack: axis 2 is out of range for a tensor of rank 2");
    expect(() => stack([])).toThrow("stack: expected at least one tensor, got an empty list");
  });
});

describe("pad", () => {
  const arbCase = fc
    .array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 })
    .chain((shape) =>
      fc.tuple(
        arbTensorOf(shape),
        fc.array(fc.tuple(fc.nat(2), fc.nat(2)), { minLength: shape.length, maxLength: shape.length }),
        fc.constantFrom(0, -0, -1.5, 0.1, Number.NaN, Infinity),
      ),
    );

  it("surrounds the input with `value` (rounded to t's dtype)", () => {
    fc.assert(
      fc.property(arbCase, ([t, pads, value]) => {
        const got = pad(t, pads, value);
        const shape = t.shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
        expect(got.shape).toEqual(shape);
        expect(got.dtype).toBe(t.dtype);
        const fill = t.dtype === "float32" ? Math.fround(value) : value;
        const want = Array.from({ length: size(shape) }, (_, i) => {
          const idx = unravel(i, shape).map((v, ax) => v - pads[ax]![0]);
          return idx.every((v, ax) => v >= 0 && v < t.shape[ax]!) ? t.get(...idx) : fill;
        });
        expect(got.toArray()).toEqual(want);
      }),
      { numRuns: 150 },
    );
  });

  it("requires one non-negative integer pair per axis", () => {
    expect(() => pad(zeros([2, 3]), [[1, 1]])).toThrow(
      "pad: got 1 pad pairs for shape [2, 3]; expected one [before, after] pair per axis (2)",
    );
    expect(() => pad(zeros([2]), [[-1, 0]])).toThrow(
      "pad: pad pair 0 is [-1,0]; expected [before, after] with non-negative integers",
    );
    expect(() => pad(zeros([2]), [[0.5, 0]])).toThrow(/^pad: pad pair 0 is \[0.5,0\]/);
  });
});
