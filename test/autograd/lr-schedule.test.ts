import { applyLr, constantLr, cosineLr, linearWarmup, SGD, stepLr } from "@quant-trim/autograd";
import { tensor } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const steps = (n: number) => Array.from({ length: n }, (_, i) => i);
const uniform = (lo: number, hi: number) =>
  fc.integer({ min: 0, max: 1 << 20 }).map((k) => lo + ((hi - lo) * k) / (1 << 20));

describe("constantLr and stepLr", () => {
  it("constantLr never changes", () => {
    const s = constantLr(0.3);
    expect(steps(20).map(s)).toEqual(steps(20).map(() => 0.3));
  });

  it("stepLr holds lr for stepSize steps, then multiplies by gamma", () => {
    const s = stepLr(0.1, 3, 0.5);
    expect(steps(9).map(s)).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025]);
  });

  it("stepLr equals lr·gamma^⌊step/stepSize⌋ for random settings", () => {
    fc.assert(
      fc.property(
        uniform(0, 1),
        fc.integer({ min: 1, max: 20 }),
        uniform(0, 1),
        fc.integer({ min: 0, max: 500 }),
        (lr, stepSize, gamma, step) => {
          let expected = lr;
          for (let k = stepSize; k <= step; k += stepSize) expected *= gamma;
          const got = stepLr(lr, stepSize, gamma)(step);
          expect(Math.abs(got - expected)).toBeLessThanOrEqual(1e-12 * lr);
        },
      ),
      { numRuns: 100, seed: 3 },
    );
  });
});

describe("cosineLr", () => {
  it("starts at lr, passes the midpoint halfway and ends at minLr", () => {
    const s = cosineLr(0.2, 100, 0.02);
    expect(s(0)).toBe(0.2);
    expect(s(50)).toBeCloseTo(0.11, 12);
    expect(s(100)).toBe(0.02);
    expect(s(1000)).toBe(0.02);
    expect(cosineLr(1, 10)(10)).toBe(0);
  });

  it("is symmetric about the midpoint: lr(s) + lr(T − s) = lr + minLr", () => {
    const s = cosineLr(0.5, 40, 0.1);
    for (const k of steps(41)) expect(s(k) + s(40 - k)).toBeCloseTo(0.6, 12);
  });

  it("never increases and stays within [minLr, lr]", () => {
    fc.assert(
      fc.property(uniform(0, 1), uniform(0, 1), fc.integer({ min: 1, max: 300 }), (a, b, total) => {
        const lr = Math.max(a, b);
        const minLr = Math.min(a, b);
        const s = cosineLr(lr, total, minLr);
        let previous = s(0);
        for (let k = 1; k <= total + 3; k++) {
          const now = s(k);
          expect(now).toBeLessThanOrEqual(previous);
          expect(now).toBeGreaterThanOrEqual(minLr);
          previous = now;
        }
        expect(s(0)).toBe(lr);
      }),
      { numRuns: 100, seed: 4 },
    );
  });
});

describe("linearWarmup", () => {
  it("rises linearly from near zero and meets the schedule at the end of the warm-up", () => {
    const s = linearWarmup(4, constantLr(1));
    expect(steps(7).map(s)).toEqual([0.2, 0.4, 0.6, 0.8, 1, 1, 1].map((x) => expect.closeTo(x, 12)));
  });

  it("is strictly increasing during the warm-up, with equal increments, for random lengths", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), uniform(1e-4, 1), (warmup, lr) => {
        const s = linearWarmup(warmup, constantLr(lr));
        expect(s(0)).toBeCloseTo(lr / (warmup + 1), 12);
        const increment = lr / (warmup + 1);
        for (let k = 1; k <= warmup; k++) {
          expect(s(k) - s(k - 1)).toBeCloseTo(increment, 12);
        }
        expect(s(warmup)).toBe(lr);
      }),
      { numRuns: 100, seed: 5 },
    );
  });

  it("hands over to the inner schedule with its step count starting after the warm-up", () => {
    const s = linearWarmup(10, cosineLr(0.3, 90, 0.003));
    expect(s(0)).toBeCloseTo(0.3 / 11, 12);
    expect(s(10)).toBe(0.3);
    expect(s(55)).toBeCloseTo(cosineLr(0.3, 90, 0.003)(45), 15);
    expect(s(100)).toBe(0.003);
    const warmOnly = linearWarmup(0, stepLr(0.1, 2, 0.1));
    expect(warmOnly(0)).toBe(0.1);
    expect(warmOnly(2)).toBeCloseTo(0.01, 15);
  });
});

describe("applyLr", () => {
  it("sets the optimizer's learning rate and returns it", () => {
    const opt = new SGD([{ data: tensor([1]), grad: null }], { lr: 0.5 });
    const s = stepLr(0.1, 2, 0.5);
    expect(applyLr(opt, s, 0)).toBe(0.1);
    expect(opt.lr).toBe(0.1);
    applyLr(opt, s, 5);
    expect(opt.lr).toBe(0.025);
  });

  it("refuses a schedule that yields an invalid rate, keeping the old one", () => {
    const opt = new SGD([{ data: tensor([1]), grad: null }], { lr: 0.5 });
    expect(() => applyLr(opt, () => Number.NaN, 0)).toThrow(/SGD: lr must be a finite number >= 0, got NaN/);
    expect(opt.lr).toBe(0.5);
  });
});

describe("schedule input checks", () => {
  const bad: [string, () => unknown, RegExp][] = [
    ["a negative constant rate", () => constantLr(-1), /constantLr: lr must be a finite number >= 0, got -1/],
    ["a NaN step rate", () => stepLr(Number.NaN, 1, 0.5), /stepLr: lr .* got NaN/],
    ["stepSize 0", () => stepLr(0.1, 0, 0.5), /stepLr: stepSize must be a positive integer, got 0/],
    ["a fractional stepSize", () => stepLr(0.1, 1.5, 0.5), /stepSize .* got 1\.5/],
    ["a negative gamma", () => stepLr(0.1, 1, -0.5), /stepLr: gamma must be a finite number >= 0, got -0\.5/],
    ["totalSteps 0", () => cosineLr(0.1, 0), /cosineLr: totalSteps must be a positive integer, got 0/],
    ["minLr above lr", () => cosineLr(0.1, 10, 0.2), /cosineLr: minLr \(0\.2\) must not exceed lr \(0\.1\)/],
    ["a negative minLr", () => cosineLr(0.1, 10, -0.1), /cosineLr: minLr .* got -0\.1/],
    [
      "negative warm-up",
      () => linearWarmup(-1, constantLr(1)),
      /linearWarmup: warmupSteps must be a non-negative integer, got -1/,
    ],
    [
      "a warm-up without a schedule",
      () => linearWarmup(3, 0.1 as unknown as (s: number) => number),
      /linearWarmup: then must be a schedule function/,
    ],
    ["a negative step", () => cosineLr(0.1, 10)(-1), /cosineLr: step must be a non-negative integer, got -1/],
    ["a fractional step", () => stepLr(0.1, 2, 0.5)(0.5), /stepLr: step .* got 0\.5/],
    ["a NaN step", () => linearWarmup(2, constantLr(1))(Number.NaN), /linearWarmup: step .* got NaN/],
  ];
  for (const [what, make, message] of bad) {
    it(`rejects ${what}`, () => {
      expect(make).toThrow(message);
    });
  }
});
