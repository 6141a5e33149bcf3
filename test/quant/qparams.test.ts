import {
  computeQParams,
  FLOAT32_EPS,
  fakeQuantize,
  type GridSpec,
  gridSpec,
  onnxCompat,
  powerOfTwoAtLeast,
  pytorchCompat,
  qRange,
  quantize,
  tfliteCompat,
} from "@quant-trim/quant";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allGridCombos, assertForSpec, expectedRange, float32In } from "./helpers.js";

const f = Math.fround;
const specs = allGridCombos().filter((s) => s.rounding === "half-even" && s.scaleApplication === "divide");

/** Ranges including degenerate ones: a point, all-positive, all-negative, straddling zero. */
const rangeArb = fc.oneof(
  fc.tuple(float32In(-50, 50), float32In(0, 100)).map(([lo, span]) => [lo, f(lo + span)] as const),
  float32In(-5, 5).map((v) => [v, v] as const),
  fc.tuple(float32In(0, 1e-6), float32In(0, 1e-6)).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const),
);

function nearestEven(v: number): number {
  const lo = Math.floor(v);
  const d = v - lo;
  return d < 0.5 ? lo : d > 0.5 ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
}
function nearestAway(v: number): number {
  return Math.sign(v) * Math.floor(Math.abs(v) + 0.5) + 0;
}

/** PyTorch observer `_calculate_qparams`, everything in float32. */
function pytorchReference(
  min: number,
  max: number,
  qmin: number,
  qmax: number,
  symmetric: boolean,
  signed: boolean,
) {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (symmetric) {
    const a = Math.max(-lo, hi);
    const s = Math.max(f(a / ((qmax - qmin) / 2)), FLOAT32_EPS);
    return { scale: f(s), zeroPoint: signed ? 0 : Math.ceil((qmin + qmax) / 2) };
  }
  const s = Math.max(f(f(hi - lo) / (qmax - qmin)), FLOAT32_EPS);
  const zp = qmin - nearestEven(f(lo / s));
  return { scale: f(s), zeroPoint: Math.min(qmax, Math.max(qmin, zp)) };
}

/** onnxruntime `compute_scale_zp`: width in float32, scale and zero point in float64. */
function onnxruntimeReference(min: number, max: number, qmin: number, qmax: number, symmetric: boolean) {
  let lo = Math.min(min, 0);
  let hi = Math.max(max, 0);
  if (symmetric) {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -a;
    hi = a;
  }
  const s = Math.max(f(hi - lo) / (qmax - qmin), FLOAT32_EPS);
  const zp = symmetric ? nearestEven((qmin + qmax) / 2) : nearestEven(qmin - lo / s);
  return { scale: f(s), zeroPoint: Math.min(qmax, Math.max(qmin, zp)) };
}

/** TFLite: symmetric `absmax / qmax`; asymmetric `ChooseQuantizationParams` in float64. */
function tfliteReference(min: number, max: number, qmin: number, qmax: number, symmetric: boolean) {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (symmetric) {
    const zp = Math.ceil((qmin + qmax) / 2) + 0;
    return { scale: f(Math.max(Math.max(-lo, hi) / (qmax - zp), FLOAT32_EPS)), zeroPoint: zp };
  }
  const s = Math.max((hi - lo) / (qmax - qmin), FLOAT32_EPS);
  const fromMin = qmin - lo / s;
  const fromMax = qmax - hi / s;
  const useMin = Math.abs(qmin) + Math.abs(lo / s) < Math.abs(qmax) + Math.abs(hi / s);
  const zp = nearestAway(useMin ? fromMin : fromMax);
  return { scale: f(s), zeroPoint: Math.min(qmax, Math.max(qmin, zp)) };
}

describe("computeQParams", () => {
  it("each compat preset follows its system's formula on random ranges", () => {
    const layouts = [] as Partial<GridSpec>[];
    for (const bits of [8, 4, 16])
      for (const signed of [true, false])
        for (const symmetric of [true, false])
          for (const narrowRange of [false, true]) layouts.push({ bits, signed, symmetric, narrowRange });
    for (const layout of layouts) {
      const cases = [
        [pytorchCompat, pytorchReference],
        [onnxCompat, onnxruntimeReference],
        [tfliteCompat, tfliteReference],
      ] as const;
      for (const [preset, reference] of cases) {
        const spec = preset.spec(layout);
        const { qmin, qmax } = expectedRange(spec);
        assertForSpec(
          spec,
          rangeArb,
          ([min, max]) => {
            const got = computeQParams(min, max, spec);
            const want = reference(min, max, qmin, qmax, spec.symmetric, spec.signed);
            expect({ scale: got.scale[0], zeroPoint: got.zeroPoint[0] }).toEqual(want);
          },
          40,
        );
      }
    }
  });

  it("scale ≥ eps, integer zero point inside [qmin, qmax], real zero exactly representable", () => {
    for (const spec of specs) {
      const { qmin, qmax } = qRange(spec);
      assertForSpec(
        spec,
        rangeArb,
        ([min, max]) => {
          const qp = computeQParams(min, max, gridSpec({ ...spec, granularity: "per-tensor" }));
          const s = qp.scale[0]!;
          const zp = qp.zeroPoint[0]!;
          expect(s).toBeGreaterThanOrEqual(f(spec.eps));
          expect(Number.isFinite(s) && f(s) === s).toBe(true);
          expect(zp >= qmin && zp <= qmax).toBe(true);
          const one = gridSpec({ ...spec, granularity: "per-tensor" });
          expect(quantize(Float32Array.of(0), qp, one)[0]).toBe(zp);
          expect(fakeQuantize(Float32Array.of(0), qp, one)[0]).toBe(0);
        },
        10,
      );
    }
  });

  it("the range fits the grid up to half a step (exactly for positive-range symmetric grids)", () => {
    for (const base of specs) {
      for (const symmetricDivisor of ["half-range", "positive-range"] as const) {
        const spec = gridSpec({ ...base, granularity: "per-tensor", symmetricDivisor });
        const { qmin, qmax } = qRange(spec);
        assertForSpec(
          spec,
          rangeArb,
          ([min, max]) => {
            const qp = computeQParams(min, max, spec);
            const s = qp.scale[0]!;
            const zp = qp.zeroPoint[0]!;
            const lo = Math.min(min, 0);
            const hi = Math.max(max, 0);
            const exact = spec.symmetric && symmetricDivisor === "positive-range";
            const slack = exact ? 0 : s / 2;
            const tol = 1e-6 * (Math.abs(lo) + Math.abs(hi) + s);
            // Symmetric grids cover [−a, a]; the negative end of an unsigned symmetric grid is the mirror.
            const needLo = spec.symmetric ? -Math.max(-lo, hi) : lo;
            const needHi = spec.symmetric ? Math.max(-lo, hi) : hi;
            expect((qmin - zp) * s).toBeLessThanOrEqual(needLo + slack + tol);
            expect((qmax - zp) * s).toBeGreaterThanOrEqual(needHi - slack - tol);
          },
          10,
        );
      }
    }
  });

  it("power-of-two scales are exact powers of two, at least the float scale, and fit the range", () => {
    for (const spec of specs) {
      if (spec.scaleConstraint !== "power-of-two") continue;
      const pow2 = gridSpec({ ...spec, granularity: "per-tensor" });
      const float = gridSpec({ ...pow2, scaleConstraint: "float" });
      const { qmin, qmax } = qRange(pow2);
      assertForSpec(
        spec,
        rangeArb,
        ([min, max]) => {
          const qp = computeQParams(min, max, pow2);
          const s = qp.scale[0]!;
          const zp = qp.zeroPoint[0]!;
          expect(Number.isInteger(Math.log2(s))).toBe(true);
          expect(s).toBeGreaterThanOrEqual(computeQParams(min, max, float).scale[0]!);
          const lo = Math.min(min, 0);
          const hi = Math.max(max, 0);
          if (!spec.symmetric) {
            // Rounding the scale up leaves room; when there is a step of it, both ends fit exactly.
            const room = qmax - qmin - (hi - lo) / s;
            const slack = room >= 1 ? 0 : s / 2;
            expect((qmin - zp) * s).toBeLessThanOrEqual(lo + slack);
            expect((qmax - zp) * s).toBeGreaterThanOrEqual(hi - slack);
          }
        },
        10,
      );
    }
    expect(powerOfTwoAtLeast(0.75)).toBe(1);
    expect(powerOfTwoAtLeast(1)).toBe(1);
    expect(powerOfTwoAtLeast(1.0000001)).toBe(2);
    expect(powerOfTwoAtLeast(3e-39)).toBe(2 ** -127);
    expect(powerOfTwoAtLeast(2 ** -1070)).toBe(2 ** -1070);
    expect(() => powerOfTwoAtLeast(0)).toThrow(/powerOfTwoAtLeast: expected a finite v > 0, got 0/);
  });

  it("per-channel ranges give per-channel qparams equal to per-tensor ones channel by channel", () => {
    const spec = pytorchCompat.spec({ symmetric: false, granularity: "per-channel" });
    const one = gridSpec({ ...spec, granularity: "per-tensor" });
    fc.assert(
      fc.property(fc.array(rangeArb, { minLength: 1, maxLength: 6 }), (ranges) => {
        const qp = computeQParams(
          ranges.map((r) => r[0]),
          ranges.map((r) => r[1]),
          spec,
        );
        ranges.forEach(([lo, hi], c) => {
          const single = computeQParams(lo, hi, one);
          expect([qp.scale[c], qp.zeroPoint[c]]).toEqual([single.scale[0], single.zeroPoint[0]]);
        });
      }),
      { numRuns: 50 },
    );
  });

  it("an empty range (min > max, e.g. +Infinity/−Infinity) gives scale 1 and the zero point of real 0", () => {
    expect(computeQParams(Infinity, -Infinity, gridSpec({ symmetric: false }))).toEqual({
      scale: Float32Array.of(1),
      zeroPoint: Int32Array.of(0),
    });
    expect(computeQParams(1, -1, gridSpec({ signed: false, symmetric: true })).zeroPoint[0]).toBe(128);
    expect(
      computeQParams(1, -1, gridSpec({ signed: false, symmetric: false, narrowRange: true })).zeroPoint[0],
    ).toBe(1);
    const pc = computeQParams([Infinity, -1], [-Infinity, 1], gridSpec({ granularity: "per-channel" }));
    expect(Array.from(pc.scale)).toEqual([1, f(1 / 127.5)]);
  });

  it("a constant or all-zero range gives a valid grid", () => {
    for (const spec of [
      pytorchCompat.weight,
      pytorchCompat.activation,
      onnxCompat.activation,
      tfliteCompat.activation,
    ]) {
      for (const v of [0, 3, -2]) {
        const qp = computeQParams([v], [v], spec);
        const one = gridSpec({ ...spec, granularity: "per-tensor" });
        const got = fakeQuantize(Float32Array.of(v, 0), qp, one);
        expect(got[1]).toBe(0);
        expect(Math.abs(got[0]! - v)).toBeLessThanOrEqual(qp.scale[0]! / 2 + 1e-6);
      }
    }
  });

  it("minRange widens narrow ranges (onnxruntime MinimumRealRange / SNPE 0.01)", () => {
    const spec = onnxCompat.spec({ bits: 8, signed: false, symmetric: false, minRange: 0.01 });
    expect(computeQParams(0, 0.001, spec).scale[0]).toBe(f(f(0.01) / 255));
    expect(computeQParams(0, 1, spec).scale[0]).toBe(f(1 / 255));
  });

  it("rejects NaN, infinite and mismatched ranges with messages naming them", () => {
    const spec = gridSpec();
    expect(() => computeQParams(Number.NaN, 1, spec)).toThrow(
      /computeQParams: range of channel 0 is \[NaN, 1\]; NaN/,
    );
    expect(() => computeQParams(-Infinity, 1, spec)).toThrow(
      /computeQParams: range of channel 0 is \[-Infinity, 1\]/,
    );
    expect(() => computeQParams([0, 1], [1], gridSpec({ granularity: "per-channel" }))).toThrow(
      /computeQParams: 2 minima but 1 maxima/,
    );
    expect(() => computeQParams([0, 1], [1, 2], spec)).toThrow(
      /per-tensor grid needs one min and one max, got 2/,
    );
    expect(() => computeQParams(-3e38, 3e38, gridSpec({ symmetric: false }))).toThrow(/too wide/);
    expect(() => computeQParams(0, 1, { ...spec, bits: 1 })).toThrow(
      /computeQParams: spec.bits must be an integer in \[2, 16\], got 1/,
    );
  });
});
