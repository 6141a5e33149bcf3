import {
  binomialStandardError,
  mean,
  predictedClasses,
  profileSpread,
  sampleStd,
  summarizeSeeds,
  top1Agreement,
  worstGap,
} from "@quant-trim/recipes";
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
const accuracy = fc.double({ noNaN: true, min: 0, max: 1 });

describe("seed statistics", () => {
  it("matches textbook values", () => {
    expect(mean([2, 4, 4, 4, 5, 5, 7, 9])).toBe(5);
    // Σ(x − 5)² = 32 over n − 1 = 7.
    expect(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 14);
    expect(sampleStd([0.981, 0.975])).toBeCloseTo(0.006 / Math.SQRT2, 14);
  });

  it("has no std for one seed — null, never 0 — and 0 for identical seeds", () => {
    expect(sampleStd([0.97])).toBeNull();
    expect(summarizeSeeds([0.97])).toEqual({ mean: 0.97, std: null, n: 1, values: [0.97] });
    expect(sampleStd([0.5, 0.5, 0.5])).toBe(0);
  });

  it("agrees with the one-pass formula, ignores shifts and scales with |k|", () => {
    fc.assert(
      fc.property(fc.array(finite, { minLength: 2, maxLength: 20 }), finite, finite, (xs, shift, k) => {
        const n = xs.length;
        const m = xs.reduce((a, b) => a + b, 0) / n;
        const onePass = Math.sqrt(Math.max(0, (xs.reduce((a, b) => a + b * b, 0) - n * m * m) / (n - 1)));
        const s = sampleStd(xs)!;
        const scale = Math.max(1, ...xs.map(Math.abs));
        expect(mean(xs)).toBeCloseTo(m, 6);
        expect(Math.abs(s - onePass)).toBeLessThanOrEqual(1e-6 * scale);
        expect(Math.abs(sampleStd(xs.map((x) => x + shift))! - s)).toBeLessThanOrEqual(
          1e-6 * (scale + Math.abs(shift)),
        );
        expect(Math.abs(sampleStd(xs.map((x) => k * x))! - Math.abs(k) * s)).toBeLessThanOrEqual(
          1e-6 * Math.abs(k) * scale + 1e-9,
        );
      }),
      { numRuns: 200 },
    );
  });

  it("refuses empty and non-finite input, naming the function", () => {
    expect(() => mean([])).toThrow("mean: values is empty");
    expect(() => sampleStd([1, Number.NaN])).toThrow("sampleStd: values[1] must be a finite number, got NaN");
    expect(() => summarizeSeeds([Infinity])).toThrow("summarizeSeeds: values[0]");
  });
});

describe("binomialStandardError", () => {
  it("is √(p(1 − p)/n)", () => {
    expect(binomialStandardError(0.5, 100)).toBeCloseTo(0.05, 15);
    expect(binomialStandardError(0.98, 2000)).toBeCloseTo(Math.sqrt((0.98 * 0.02) / 2000), 15);
    expect(binomialStandardError(1, 2000)).toBe(0);
  });

  it("matches the spread of accuracies measured on simulated test sets", () => {
    // 4,000 simulated test sets of 200 examples each, every example right with probability 0.9.
    const rng = new Rng(3);
    const p = 0.9;
    const n = 200;
    const accuracies: number[] = [];
    for (let t = 0; t < 4000; t++) {
      let right = 0;
      for (let i = 0; i < n; i++) if (rng.uniform() < p) right++;
      accuracies.push(right / n);
    }
    const empirical = sampleStd(accuracies)!;
    // The std estimate from 4,000 sets is itself within ~1.1 % (1 sigma); allow 5 %.
    expect(Math.abs(empirical / binomialStandardError(p, n) - 1)).toBeLessThan(0.05);
  });

  it("refuses an accuracy outside [0, 1] and a non-positive sample count", () => {
    expect(() => binomialStandardError(1.2, 10)).toThrow(
      "binomialStandardError: accuracy must be a number in [0, 1], got 1.2",
    );
    expect(() => binomialStandardError(0.5, 0)).toThrow(
      "binomialStandardError: samples must be an integer ≥ 1, got 0",
    );
    expect(() => binomialStandardError(0.5, 2.5)).toThrow("samples must be an integer");
  });
});

describe("worst gap and spread over profiles", () => {
  const profiles = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), accuracy, {
    minKeys: 1,
    maxKeys: 12,
  });

  it("names the profile of the worst gap and of the extremes", () => {
    const acc = { "tflite-int8": 0.97, "pow2-int8": 0.91, w4a8: 0.95 };
    expect(worstGap(0.98, acc)).toEqual({ gap: 0.98 - 0.91, profile: "pow2-int8" });
    expect(profileSpread(acc)).toEqual({ spread: 0.97 - 0.91, best: "tflite-int8", worst: "pow2-int8" });
    // Every profile better than FP: a negative gap, not clamped to 0.
    expect(worstGap(0.9, { a: 0.92, b: 0.95 })).toEqual({ gap: 0.9 - 0.92, profile: "a" });
    // Ties go to the first listed.
    expect(profileSpread({ a: 0.5, b: 0.5 })).toEqual({ spread: 0, best: "a", worst: "a" });
  });

  it("bounds every profile's gap and accuracy", () => {
    fc.assert(
      fc.property(accuracy, profiles, (fp, acc) => {
        const { gap, profile } = worstGap(fp, acc);
        const { spread, best, worst } = profileSpread(acc);
        expect(gap).toBe(fp - acc[profile]!);
        expect(spread).toBe(acc[best]! - acc[worst]!);
        expect(spread).toBeGreaterThanOrEqual(0);
        for (const a of Object.values(acc)) {
          expect(fp - a).toBeLessThanOrEqual(gap);
          expect(a).toBeLessThanOrEqual(acc[best]!);
          expect(a).toBeGreaterThanOrEqual(acc[worst]!);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("refuses empty records and values that are not accuracies", () => {
    expect(() => worstGap(0.9, {})).toThrow("worstGap: perProfile is empty");
    expect(() => worstGap(97, { a: 0.9 })).toThrow(
      "worstGap: fpAccuracy must be an accuracy in [0, 1], got 97",
    );
    expect(() => profileSpread({ a: 0.9, b: Number.NaN })).toThrow("profileSpread: perProfile['b']");
    expect(() => profileSpread([0.9] as never)).toThrow("profileSpread: perProfile must be an object");
  });
});

describe("top-1 agreement", () => {
  it("counts equal predictions, whatever the labels", () => {
    expect(top1Agreement([1, 2, 3, 4], [1, 2, 0, 4])).toBe(0.75);
    expect(top1Agreement(new Int32Array([0, 0]), [1, 1])).toBe(0);
  });

  it("is symmetric, 1 against itself, and counts matches exactly", () => {
    const arb = fc
      .integer({ min: 1, max: 40 })
      .chain((n) =>
        fc.tuple(
          fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }),
          fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }),
        ),
      );
    fc.assert(
      fc.property(arb, ([a, b]) => {
        expect(top1Agreement(a, b)).toBe(top1Agreement(b, a));
        expect(top1Agreement(a, a)).toBe(1);
        expect(top1Agreement(a, b) * a.length).toBeCloseTo(a.filter((x, i) => x === b[i]).length, 9);
      }),
      { numRuns: 100 },
    );
  });

  it("takes the first maximum of each logit row", () => {
    expect(Array.from(predictedClasses([0.1, 0.7, 0.2, 5, 5, -1, -3, -2, -1], 3))).toEqual([1, 0, 2]);
    const rows = fc.integer({ min: 1, max: 6 }).chain((classes) =>
      fc.tuple(
        fc.constant(classes),
        fc.array(fc.float({ noNaN: true, min: Math.fround(-10), max: Math.fround(10) }), {
          minLength: classes * 3,
          maxLength: classes * 3,
        }),
      ),
    );
    fc.assert(
      fc.property(rows, ([classes, logits]) => {
        const got = predictedClasses(logits, classes);
        for (let r = 0; r < 3; r++) {
          const row = logits.slice(r * classes, (r + 1) * classes);
          expect(got[r]).toBe(row.indexOf(Math.max(...row)));
        }
      }),
      { numRuns: 100 },
    );
  });

  it("refuses mismatched lengths, empty input, non-class values and ragged logits", () => {
    expect(() => top1Agreement([1, 2], [1])).toThrow("top1Agreement: a holds 2 predictions but b holds 1");
    expect(() => top1Agreement([], [])).toThrow("top1Agreement: no predictions to compare");
    expect(() => top1Agreement([1, 0.5], [1, 1])).toThrow("top1Agreement: a[1] is 0.5, not a class index");
    expect(() => predictedClasses([1, 2, 3], 2)).toThrow(
      "predictedClasses: logits must hold rows of 2 values, got 3",
    );
    expect(() => predictedClasses([1, Number.NaN], 2)).toThrow(
      "predictedClasses: logits row 0, class 1 is NaN",
    );
    expect(() => predictedClasses([1], 0)).toThrow("predictedClasses: classes must be an integer ≥ 1, got 0");
  });
});
