import {
  divideByScale,
  fakeQuantizeValue,
  gridSpec,
  makeQParams,
  quantize,
  quantizeValue,
  type RoundingMode,
  roundFloor,
  roundHalfAway,
  roundHalfEven,
  roundHalfUp,
  roundNearest,
  roundStochastic,
  roundWith,
} from "@quant-trim/quant";
import { unclampedCode } from "@quant-trim/quant/internal";
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { naiveRound } from "./helpers.js";

const anyDouble = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
  fc.integer({ min: -1000, max: 1000 }).map((k) => k + 0.5),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e-300, max: 1e-300 }),
);

describe("rounding functions", () => {
  it("match rounding by distance to the neighbouring integers, for every double", () => {
    const fns: [RoundingMode, (v: number) => number][] = [
      ["half-even", roundHalfEven],
      ["half-away", roundHalfAway],
      ["half-up", roundHalfUp],
      ["floor", roundFloor],
    ];
    fc.assert(
      fc.property(anyDouble, (v) => {
        for (const [mode, fn] of fns) {
          expect(fn(v)).toBe(naiveRound(v, mode) + 0);
          expect(roundWith(v, mode)).toBe(fn(v));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("known edge cases: ties, the largest double below 0.5, and non-finite values", () => {
    const justBelowHalf = 0.49999999999999994;
    for (const fn of [roundHalfEven, roundHalfAway, roundHalfUp]) {
      expect(fn(justBelowHalf)).toBe(0);
      expect(fn(-justBelowHalf)).toBe(0);
      expect(fn(Infinity)).toBe(Infinity);
      expect(fn(-Infinity)).toBe(-Infinity);
      expect(fn(Number.NaN)).toBeNaN();
    }
    expect([2.5, -2.5, 3.5, -0.5].map(roundHalfEven)).toEqual([2, -2, 4, 0]);
    expect([2.5, -2.5, 3.5, -0.5].map(roundHalfAway)).toEqual([3, -3, 4, -1]);
    expect([2.5, -2.5, 3.5, -0.5].map(roundHalfUp)).toEqual([3, -2, 4, 0]);
    expect(Object.is(roundHalfEven(-0.2), 0)).toBe(true);
    expect(roundNearest(2.5, "half-away")).toBe(3);
    expect(() => roundWith(0.5, "stochastic")).toThrow(/roundWith: stochastic rounding needs a seeded Rng/);
    expect(() => roundWith(0.5, "bankers" as RoundingMode)).toThrow(
      /roundWith: unknown rounding mode "bankers"/,
    );
  });

  it("stochastic rounding lands on a neighbour, fixes integers and agrees with the array kernel draw for draw", () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: Math.fround(-100), max: Math.fround(100), noNaN: true }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 0, max: 1000 }),
        (xs, seed) => {
          const rng = new Rng(seed);
          const scalar = xs.map((v) => roundStochastic(v, rng));
          scalar.forEach((r, i) => {
            expect(r === Math.floor(xs[i]!) || r === Math.ceil(xs[i]!)).toBe(true);
          });
          const spec = gridSpec({ bits: 16, rounding: "stochastic" });
          const q = quantize(Float32Array.from(xs), makeQParams(1), spec, undefined, { rng: new Rng(seed) });
          expect(Array.from(q)).toEqual(scalar);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("per-element helpers follow the array kernels", () => {
    const spec = gridSpec({
      symmetric: false,
      scaleApplication: "multiply-reciprocal",
      rounding: "half-away",
    });
    fc.assert(
      fc.property(fc.float({ min: Math.fround(-20), max: Math.fround(20), noNaN: true }), (x) => {
        const qp = makeQParams(0.1, 3);
        const q = quantize(Float32Array.of(x), qp, spec)[0];
        expect(quantizeValue(x, 0.1, 3, spec)).toBe(q);
        expect(unclampedCode(x, 0.1, 3, spec)).toBe(
          roundHalfAway(divideByScale(x, 0.1, "multiply-reciprocal")) + 3,
        );
        expect(fakeQuantizeValue(x, 0.1, 3, spec)).toBe(Math.fround((q! - 3) * Math.fround(0.1)));
      }),
      { numRuns: 200 },
    );
    expect(divideByScale(1.55, 0.1, "divide")).toBe(Math.fround(Math.fround(1.55) / Math.fround(0.1)));
  });

  it("stochastic rounding is floor(v + u) in scalar and array form alike, even for tiny negatives", () => {
    // u = 0 is one draw in 2^24: a generator stub makes it happen. v + u = −1e-30 must floor to −1.
    const zero = { nextFloat32: () => 0 } as unknown as Rng;
    const v = Math.fround(-1e-30);
    expect(roundStochastic(v, zero)).toBe(-1);
    const spec = gridSpec({ bits: 8, rounding: "stochastic" });
    expect(quantize(Float32Array.of(v), makeQParams(1), spec, undefined, { rng: zero })[0]).toBe(-1);
  });

  it("scalar quantizeValue rejects NaN like the array kernel; fakeQuantizeValue keeps it NaN", () => {
    const spec = gridSpec();
    expect(() => quantize(Float32Array.of(Number.NaN), makeQParams(0.1), spec)).toThrow(
      /NaN has no integer code/,
    );
    expect(() => quantizeValue(Number.NaN, 0.1, 0, spec)).toThrow(/quantizeValue: x is NaN/);
    expect(fakeQuantizeValue(Number.NaN, 0.1, 0, spec)).toBeNaN();
    expect(quantizeValue(Number.POSITIVE_INFINITY, 0.1, 0, spec)).toBe(127);
  });
});
