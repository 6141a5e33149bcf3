import { Parameter, Variable } from "@quant-trim/autograd";
import { computeQParams, fakeQuant, fakeQuantize, gridSpec, lsqFakeQuant, qRange } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const int8 = gridSpec({ bits: 8, signed: true, symmetric: false, granularity: "per-tensor" });
const int4pc = gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel", axis: 0 });

function sample(shape: number[], seed: number, lo = -3, hi = 3): T.Tensor {
  return T.rand(shape, new T.Rng(seed), lo, hi);
}

describe("fakeQuant (autograd op)", () => {
  it("forward is the grid's fakeQuantize blended by λ, for every λ", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, lambda) => {
          const x = sample([3, 5], seed);
          const qp = computeQParams([-1, -2, -0.5], [1, 2.5, 0.5], int4pc);
          const xs = x.toFloat32Array();
          const xhat = fakeQuantize(xs, qp, int4pc, [3, 5]);
          const y = fakeQuant(new Variable(x), int4pc, qp, { lambda }).data.toArray();
          y.forEach((v, i) => {
            expect(v).toBe(Math.fround(xs[i]! + lambda * (xhat[i]! - xs[i]!)));
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it("λ = 0 is the float model, λ = 1 is full fake quantization", () => {
    const x = sample([4, 4], 1);
    const qp = computeQParams(-3, 3, int8);
    expect(fakeQuant(new Variable(x), int8, qp, { lambda: 0 }).data.toArray()).toEqual(x.toArray());
    expect(fakeQuant(new Variable(x), int8, qp).data.toArray()).toEqual(
      Array.from(fakeQuantize(x.toFloat32Array(), qp, int8)),
    );
  });

  it("passes ±Infinity through the blend for λ < 1 (the formula alone would give NaN)", () => {
    const x = T.tensor([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1, Number.NaN]);
    const qp = computeQParams(-3, 3, int8);
    const fq = (lambda: number) => fakeQuant(new Variable(x), int8, qp, { lambda }).data.toArray();
    const lq = (lambda: number) =>
      lsqFakeQuant(new Variable(x), new Parameter(T.tensor([qp.scale[0]!])), null, int8, {
        lambda,
      }).data.toArray();
    const ends = Array.from(fakeQuantize(x.toFloat32Array().slice(0, 2), qp, int8)); // the end codes
    for (const f of [fq, lq]) {
      expect(f(0)).toEqual([Infinity, -Infinity, 1, Number.NaN]);
      expect(f(0.5).slice(0, 2)).toEqual([Infinity, -Infinity]);
      expect(Number.isNaN(f(0.5)[3]!)).toBe(true);
      expect(f(1).slice(0, 2)).toEqual(ends);
    }
  });

  it("backward is the identity (straight-through) for every λ, or the in-range mask with clipMask", () => {
    const x = new Variable(T.tensor([-5, -1, 0.3, 1, 5]), { requiresGrad: true });
    const qp = computeQParams(-2, 2, int8);
    const g = T.tensor([1, 2, 3, 4, 5]);
    fakeQuant(x, int8, qp, { lambda: 0.3 }).backward(g);
    expect(x.grad!.toArray()).toEqual([1, 2, 3, 4, 5]);
    x.grad = null;
    fakeQuant(x, int8, qp, { clipMask: true }).backward(g);
    expect(x.grad!.toArray()).toEqual([0, 2, 3, 4, 0]);
  });

  it("rejects λ outside [0, 1]", () => {
    const qp = computeQParams(-1, 1, int8);
    expect(() => fakeQuant(new Variable(T.zeros([2])), int8, qp, { lambda: 1.5 })).toThrow(
      /lambda must be in \[0, 1\], got 1.5/,
    );
  });
});

describe("lsqFakeQuant", () => {
  /** The LSQ gradients computed from their definition, element by element, independently of the op. */
  function reference(
    x: Float32Array,
    xhat: Float32Array,
    g: Float32Array,
    s: number,
    z: number,
    qmin: number,
    qmax: number,
    lambda: number,
  ) {
    const gf = 1 / Math.sqrt(x.length * qmax);
    let ds = 0;
    let dz = 0;
    for (let i = 0; i < x.length; i++) {
      const code = Math.round(x[i]! / s) + z; // no ties in the sampled data
      if (code < qmin) {
        ds += g[i]! * (qmin - z);
        dz += g[i]! * -s;
      } else if (code > qmax) {
        ds += g[i]! * (qmax - z);
        dz += g[i]! * -s;
      } else ds += g[i]! * ((xhat[i]! - x[i]!) / s);
    }
    return { ds: ds * gf * lambda, dz: dz * gf * lambda };
  }

  it("scale and zero-point gradients follow the LSQ formulas (asymmetric, per-tensor)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0.1, max: 1, noNaN: true }),
        (seed, lambda) => {
          const x = sample([40], seed, -4, 4);
          const s = new Parameter(T.tensor([0.05]));
          const z = new Parameter(T.tensor([10.2]));
          const xv = new Variable(x, { requiresGrad: true });
          const y = lsqFakeQuant(xv, s, z, int8, { lambda });
          const g = sample([40], seed + 1);
          y.backward(g);
          const xhat = fakeQuantize(
            x.toFloat32Array(),
            { scale: new Float32Array([0.05]), zeroPoint: new Int32Array([10]) },
            int8,
          );
          const { qmin, qmax } = qRange(int8);
          const ref = reference(
            x.toFloat32Array(),
            xhat,
            g.toFloat32Array(),
            Math.fround(0.05),
            10,
            qmin,
            qmax,
            lambda,
          );
          expect(s.grad!.item()).toBeCloseTo(ref.ds, 5);
          expect(z.grad!.item()).toBeCloseTo(ref.dz, 5);
          expect(xv.grad!.toArray()).toEqual(g.toArray());
        },
      ),
      { numRuns: 40 },
    );
  });

  it("per-channel scales get the sums over their own channel only", () => {
    const x = sample([3, 8], 5, -2, 2);
    const s = new Parameter(T.tensor([0.1, 0.2, 0.4]));
    lsqFakeQuant(new Variable(x), s, null, int4pc).backward(T.ones([3, 8]));
    const { qmin, qmax } = qRange(int4pc);
    const xs = x.toFloat32Array();
    for (let c = 0; c < 3; c++) {
      const row = xs.slice(c * 8, c * 8 + 8);
      const sc = [0.1, 0.2, 0.4][c]!;
      const xhat = fakeQuantize(
        row,
        { scale: new Float32Array([sc]), zeroPoint: new Int32Array([0]) },
        gridSpec({ ...int4pc, granularity: "per-tensor" }),
      );
      const ref = reference(row, xhat, new Float32Array(8).fill(1), Math.fround(sc), 0, qmin, qmax, 1);
      // The gradient scale uses the whole tensor's element count (24), not the channel's (8).
      expect(s.grad!.get(c)).toBeCloseTo(ref.ds * Math.sqrt(8 / 24), 5);
    }
  });

  it("matches finite differences where the quantizer is differentiable (every element clipped)", () => {
    // All inputs beyond the range: x̂ = s·(qmax − z) or s·(qmin − z), smooth in s.
    const grid = gridSpec({ bits: 4, signed: true, symmetric: true });
    const x = T.tensor([5, 6, -7, 9, -8]);
    const total = (sv: number) =>
      T.sum(lsqFakeQuant(new Variable(x), new Parameter(T.tensor([sv])), null, grid).data).item();
    const h = 1e-3;
    const numeric = (total(0.3 + h) - total(0.3 - h)) / (2 * h);
    const s = new Parameter(T.tensor([0.3]));
    lsqFakeQuant(new Variable(x), s, null, grid).backward(T.ones([5]));
    const gf = 1 / Math.sqrt(5 * 7);
    // Clipped: 5, 6, 9 at qmax = 7; −7, −8 at qmin = −8 → d(Σx̂)/ds = 7·3 + (−8)·2 = 5.
    expect(numeric).toBeCloseTo(5, 3);
    expect(s.grad!.item() / gf).toBeCloseTo(numeric, 3);
  });

  it("rejects power-of-two grids, mismatched channels and a zero point on a symmetric grid", () => {
    const x = new Variable(T.zeros([2, 3]));
    expect(() =>
      lsqFakeQuant(
        x,
        new Parameter(T.ones([1])),
        null,
        gridSpec({ bits: 8, signed: true, symmetric: true, scaleConstraint: "power-of-two" }),
      ),
    ).toThrow(/power-of-two/);
    expect(() => lsqFakeQuant(x, new Parameter(T.ones([3])), null, int4pc)).toThrow(/3 scales for 2 channel/);
    expect(() => lsqFakeQuant(x, new Parameter(T.ones([2])), new Parameter(T.ones([2])), int4pc)).toThrow(
      /symmetric grid has a fixed zero point/,
    );
    const asym = gridSpec({ bits: 8, signed: false, symmetric: false });
    expect(() =>
      lsqFakeQuant(x, new Parameter(T.ones([1])), new Parameter(T.tensor([Number.NaN])), asym),
    ).toThrow(/zeroPoint\[0\] is NaN/);
  });
});
