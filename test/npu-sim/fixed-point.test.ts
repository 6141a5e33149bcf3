import {
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierInt64,
  multiplyByQuantizedMultiplierSingleRounding,
  quantizedMultiplierValue,
  quantizeMultiplier,
  roundingDivideByPot,
  saturatingRoundingDoublingHighMul,
} from "@quant-trim/npu-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  INT32_MAX,
  INT32_MIN,
  int32,
  loadVectors,
  multiplier,
  refMbqmDouble,
  refMbqmInt64,
  refMbqmSingle,
  refQuantizeMultiplier,
  refRdbpot,
  refSrdhm,
} from "./reference.js";

const vectors = loadVectors();
const RUNS = { numRuns: 3000 };

describe("reference vectors (integer-semantics §8)", () => {
  it("quantizeMultiplier", () => {
    for (const row of vectors.quantizeMultiplier) {
      expect(quantizeMultiplier(row.value), row.expr).toEqual({
        multiplier: row.multiplier,
        shift: row.shift,
      });
    }
  });

  it("saturatingRoundingDoublingHighMul", () => {
    for (const { a, b, result } of vectors.saturatingRoundingDoublingHighMul) {
      expect(saturatingRoundingDoublingHighMul(a, b), `(${a}, ${b})`).toBe(result);
    }
  });

  it("roundingDivideByPot", () => {
    for (const { x, exponent, result } of vectors.roundingDivideByPot) {
      expect(roundingDivideByPot(x, exponent), `(${x}, ${exponent})`).toBe(result);
    }
  });

  it("double vs single rounding with M = 2^30, shift −1", () => {
    const { multiplier: m, shift, rows } = vectors.doubleVsSingleRounding;
    for (const { x, double, single } of rows) {
      expect(multiplyByQuantizedMultiplier(x, m, shift), `double ${x}`).toBe(double);
      expect(multiplyByQuantizedMultiplierSingleRounding(x, m, shift), `single ${x}`).toBe(single);
    }
  });

  it("both roundings agree at shift 0 on [−8, 8]", () => {
    const { multiplier: m, shift, xFrom, xTo, examples } = vectors.shiftZeroAgreement;
    for (let x = xFrom; x <= xTo; x++) {
      expect(multiplyByQuantizedMultiplier(x, m, shift)).toBe(
        multiplyByQuantizedMultiplierSingleRounding(x, m, shift),
      );
    }
    for (const { x, result } of examples) expect(multiplyByQuantizedMultiplier(x, m, shift)).toBe(result);
  });

  it("the double-vs-single sweep differs on exactly the documented number of inputs", () => {
    const { real, multiplier: m, shift, xFrom, xTo, differing } = vectors.doubleVsSingleSweep;
    expect(quantizeMultiplier(real)).toEqual({ multiplier: m, shift });
    let count = 0;
    for (let x = xFrom; x <= xTo; x++) {
      if (
        multiplyByQuantizedMultiplier(x, m, shift) !==
        multiplyByQuantizedMultiplierSingleRounding(x, m, shift)
      ) {
        count++;
      }
    }
    expect(count).toBe(differing);
  });

  it("int64-accumulator variant with the multiplier of 0.5", () => {
    const { multiplier: m, shift, rows } = vectors.int64Variant;
    for (const { x, result } of rows)
      expect(multiplyByQuantizedMultiplierInt64(x, m, shift), `${x}`).toBe(result);
  });
});

describe("properties against the BigInt reference", () => {
  it("SRDHM on random int32 pairs and the extremes", () => {
    fc.assert(
      fc.property(int32(), int32(), (a, b) => {
        expect(saturatingRoundingDoublingHighMul(a, b)).toBe(refSrdhm(a, b));
      }),
      RUNS,
    );
  });

  it("SRDHM on constructed ties a·b = (2k+1)·2^30 (ties toward +∞)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), fc.integer(), fc.boolean(), (j, k, negate) => {
        // a = odd · 2^j, b = ±2^(30 − j): a·b is an odd multiple of 2^30, exactly halfway.
        const odd = (2 * (k % 2 ** (30 - j)) + 1) | 0;
        const a = odd * 2 ** j;
        if (a < INT32_MIN || a > INT32_MAX) return;
        const b = (negate ? -1 : 1) * 2 ** (30 - j);
        const got = saturatingRoundingDoublingHighMul(a, b);
        expect(got).toBe(refSrdhm(a, b));
        expect(got).toBe(Math.floor((a * b) / 2 ** 31 + 0.5)); // exact here: |a·b| < 2^62 is a power-of-two multiple
      }),
      RUNS,
    );
  });

  it("RDBPOT on random int32 and every exponent", () => {
    fc.assert(
      fc.property(int32(), fc.integer({ min: 0, max: 31 }), (x, e) => {
        expect(roundingDivideByPot(x, e)).toBe(refRdbpot(x, e));
      }),
      RUNS,
    );
  });

  it("RDBPOT on constructed ties x = (2k+1)·2^(e−1) rounds away from zero", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 31 }), fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), (e, k) => {
        const x = (2 * k + 1) * 2 ** (e - 1);
        if (x < INT32_MIN || x > INT32_MAX) return;
        const got = roundingDivideByPot(x, e);
        expect(got).toBe(refRdbpot(x, e));
        expect(got).toBe(Math.sign(x) * Math.ceil(Math.abs(x) / 2 ** e));
      }),
      RUNS,
    );
  });

  it("double-rounding MBQM on random int32, multipliers and shifts in [−31, 30]", () => {
    fc.assert(
      fc.property(int32(), multiplier(), fc.integer({ min: -31, max: 30 }), (x, m, s) => {
        expect(multiplyByQuantizedMultiplier(x, m, s)).toBe(refMbqmDouble(x, m, s));
      }),
      RUNS,
    );
  });

  it("single-rounding MBQM on random int32, multipliers and shifts in [−31, 30] (int64 result cast to int32)", () => {
    fc.assert(
      fc.property(int32(), multiplier(), fc.integer({ min: -31, max: 30 }), (x, m, s) => {
        expect(multiplyByQuantizedMultiplierSingleRounding(x, m, s)).toBe(refMbqmSingle(x, m, s));
      }),
      RUNS,
    );
  });

  it("both MBQM forms on constructed ties (M = 2^30, x = (2k+1)·2^(−shift))", () => {
    fc.assert(
      fc.property(fc.integer({ min: -30, max: 0 }), fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), (s, k) => {
        const x = (2 * k + 1) * 2 ** -s; // x·2^30 / 2^(31−s) = x / 2^(1−s) = k + 1/2
        if (x < INT32_MIN || x > INT32_MAX) return;
        const m = 2 ** 30;
        expect(multiplyByQuantizedMultiplier(x, m, s)).toBe(refMbqmDouble(x, m, s));
        expect(multiplyByQuantizedMultiplierSingleRounding(x, m, s)).toBe(refMbqmSingle(x, m, s));
        expect(multiplyByQuantizedMultiplierSingleRounding(x, m, s)).toBe(k + 1); // one rounding: ties up
      }),
      RUNS,
    );
  });

  it("int64 variant on random 48-bit accumulators whose result fits int32", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 47), max: 2 ** 47 - 1 }),
        multiplier(),
        fc.integer({ min: -31, max: 7 }),
        (x, m, s) => {
          const want = refMbqmInt64(x, m, s);
          if (want < INT32_MIN || want > INT32_MAX) {
            expect(() => multiplyByQuantizedMultiplierInt64(x, m, s)).toThrow(/int32/);
          } else {
            expect(multiplyByQuantizedMultiplierInt64(x, m, s)).toBe(want);
          }
        },
      ),
      RUNS,
    );
  });

  it("quantizeMultiplier matches the reference; M in [2^30, 2^31) within half a unit of real·2^(31−shift)", () => {
    const reals = fc.oneof(
      fc.double({ min: 2 ** -40, max: 2 ** 30, noNaN: true, noDefaultInfinity: true }),
      fc.double({ min: 2 ** -33, max: 2 ** -31, noNaN: true }),
      fc.double({ min: 5e-324, max: 1e-300, noNaN: true }),
      fc.integer({ min: 1, max: 2 ** 20 }).map((k) => 1 - k * 2 ** -53), // just below 1: renormalisation
    );
    fc.assert(
      fc.property(reals, (real) => {
        const got = quantizeMultiplier(real);
        expect(got).toEqual(refQuantizeMultiplier(real));
        if (got.multiplier === 0) {
          expect(real).toBeLessThan(2 ** -32);
          return;
        }
        expect(got.multiplier).toBeGreaterThanOrEqual(2 ** 30);
        expect(got.multiplier).toBeLessThan(2 ** 31);
        // real·2^(31−shift) is exact (a power-of-two scaling of a normal double).
        expect(Math.abs(real * 2 ** (31 - got.shift) - got.multiplier)).toBeLessThanOrEqual(0.5);
        expect(Math.abs(quantizedMultiplierValue(got) - real)).toBeLessThanOrEqual(2 ** (got.shift - 32));
      }),
      RUNS,
    );
  });
});

describe("bad input", () => {
  it("quantizeMultiplier rejects NaN, ±Infinity and negatives", () => {
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0.5, -1e-300]) {
      expect(() => quantizeMultiplier(v)).toThrow(/quantizeMultiplier: real/);
    }
  });

  it("the primitives reject values outside int32 and shifts out of range", () => {
    expect(() => saturatingRoundingDoublingHighMul(2 ** 31, 1)).toThrow(
      /saturatingRoundingDoublingHighMul: a/,
    );
    expect(() => saturatingRoundingDoublingHighMul(1, 0.5)).toThrow(/saturatingRoundingDoublingHighMul: b/);
    expect(() => roundingDivideByPot(1, 32)).toThrow(/roundingDivideByPot: exponent/);
    expect(() => roundingDivideByPot(1, -1)).toThrow(/roundingDivideByPot: exponent/);
    expect(() => roundingDivideByPot(INT32_MIN - 1, 1)).toThrow(/roundingDivideByPot: x/);
    expect(() => multiplyByQuantizedMultiplier(1, 2 ** 30, 31)).toThrow(
      /multiplyByQuantizedMultiplier: shift/,
    );
    expect(() => multiplyByQuantizedMultiplier(1, 2 ** 30, -32)).toThrow(/shift/);
    expect(() => multiplyByQuantizedMultiplier(1, 2 ** 31, 0)).toThrow(
      /multiplyByQuantizedMultiplier: multiplier/,
    );
    expect(() => multiplyByQuantizedMultiplierSingleRounding(1, -1, 0)).toThrow(
      /multiplyByQuantizedMultiplierSingleRounding: multiplier/,
    );
    expect(() => multiplyByQuantizedMultiplierSingleRounding(1.5, 2 ** 30, 0)).toThrow(/: x/);
    expect(() => multiplyByQuantizedMultiplierInt64(2 ** 47, 2 ** 30, 0)).toThrow(
      /multiplyByQuantizedMultiplierInt64: x/,
    );
    expect(() => multiplyByQuantizedMultiplierInt64(1, 2 ** 30, 8)).toThrow(
      /multiplyByQuantizedMultiplierInt64: shift/,
    );
  });
});
