import { absQuantile, kSigmaThreshold, MAD_TO_SIGMA, maxAbs, robustKSigmaThreshold } from "@quant-trim/prune";
import {
  absQuantileHistogram,
  absQuantileTop,
  quantileRank,
  selectKth,
  ThresholdWorkspace,
} from "@quant-trim/prune/internal";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const finite = { noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e3), max: Math.fround(1e3) };

/** Sort-based reference: the smallest |w| with at least num/den of the values ≤ it (exact integer test). */
function referenceQuantile(values: Float32Array, num: number, den: number): number {
  const sorted = Array.from(values, Math.abs).sort((a, b) => a - b);
  const n = sorted.length;
  for (let i = 0; i < n; i++) {
    let atMost = i + 1;
    while (atMost < n && sorted[atMost] === sorted[i]) atMost++;
    if (atMost * den >= num * n) return sorted[i]!;
  }
  return sorted[n - 1]!;
}

const ratio = fc.integer({ min: 1, max: 1000 }).map((num) => ({ num, den: 1000 }));

describe("quantile thresholds", () => {
  it("quantileRank is ⌈p·n⌉ − 1 even where p·n has rounding error", () => {
    expect(quantileRank(100, 0.07)).toBe(6); // 0.07·100 = 7.000000000000001 in floating point
    expect(quantileRank(100, 0.99)).toBe(98);
    expect(quantileRank(10, 1)).toBe(9);
    expect(quantileRank(10, 1e-9)).toBe(0);
    // ...but a real fraction above an integer still rounds up, at any size (a 256×784 weight here)
    expect(quantileRank(200704, (198696 + 1e-4) / 200704)).toBe(198696);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1 << 22 }), fc.double({ min: 0, max: 1 }), (n, f) => {
        const m = Math.max(1, Math.floor(f * (n - 1)));
        expect(quantileRank(n, m / n)).toBe(m - 1); // intended as exactly m of n
        expect(quantileRank(n, (m + 1e-4) / n)).toBe(m); // a ten-thousandth above m
      }),
      { numRuns: 300 },
    );
  });

  it("selectKth returns the k-th smallest, like a sort", () => {
    fc.assert(
      fc.property(
        fc.float64Array({ minLength: 1, maxLength: 300, noNaN: true, noDefaultInfinity: true }),
        fc.nat(),
        (arr, kRaw) => {
          const k = kRaw % arr.length;
          const sorted = Array.from(arr).sort((a, b) => a - b);
          expect(selectKth(arr.slice(), arr.length, k)).toBe(sorted[k]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("selectKth stays correct on adversarial inputs (all equal, sorted, reversed, organ pipe)", () => {
    const n = 5000;
    const cases = [
      Float64Array.from({ length: n }, () => 3),
      Float64Array.from({ length: n }, (_, i) => i),
      Float64Array.from({ length: n }, (_, i) => n - i),
      Float64Array.from({ length: n }, (_, i) => Math.min(i, n - i)),
      Float64Array.from({ length: n }, (_, i) => i % 2),
    ];
    for (const c of cases) {
      const sorted = Array.from(c).sort((a, b) => a - b);
      for (const k of [0, 1, n >> 1, n - 2, n - 1]) expect(selectKth(c.slice(), n, k)).toBe(sorted[k]);
    }
  });

  it("exact mode matches the sort-based reference", () => {
    const ws = new ThresholdWorkspace();
    fc.assert(
      fc.property(fc.float32Array({ minLength: 1, maxLength: 200, ...finite }), ratio, (w, { num, den }) => {
        const p = num / den;
        const tau = absQuantile("t", w, 0, w.length, p, ws, { method: "exact" });
        expect(tau).toBe(referenceQuantile(w, num, den));
      }),
      { numRuns: 200 },
    );
  });

  it("exact mode works on a sub-range and leaves the buffer untouched", () => {
    const ws = new ThresholdWorkspace();
    fc.assert(
      fc.property(
        fc.float32Array({ minLength: 3, maxLength: 100, ...finite }),
        fc.nat(),
        fc.nat(),
        ratio,
        (w, a, b, { num, den }) => {
          const start = a % w.length;
          const end = start + 1 + (b % (w.length - start));
          const before = w.slice();
          const tau = absQuantile("t", w, start, end, num / den, ws, { method: "exact" });
          expect(tau).toBe(referenceQuantile(w.subarray(start, end), num, den));
          expect(w).toEqual(before);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("histogram mode matches the sort-based reference too (within one bin, in fact exactly)", () => {
    const ws = new ThresholdWorkspace();
    fc.assert(
      fc.property(
        fc.float32Array({ minLength: 1, maxLength: 400, ...finite }),
        ratio,
        fc.integer({ min: 1, max: 64 }),
        (w, { num, den }, bins) => {
          const max = maxAbs("t", w, 0, w.length);
          const hist = absQuantileHistogram(w, 0, w.length, num / den, bins, ws, max);
          expect(hist).toBe(referenceQuantile(w, num, den));
          // Hence the rule never trims more than the fraction 1 − p.
          let above = 0;
          for (const x of w) if (Math.abs(x) > hist) above++;
          expect(above * den).toBeLessThanOrEqual((den - num) * w.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("histogram mode handles ties, zeros, one huge outlier and subnormal groups", () => {
    const ws = new ThresholdWorkspace();
    const cases = [
      Float32Array.from({ length: 500 }, (_, i) => (i % 3) - 1),
      Float32Array.from({ length: 500 }, (_, i) => (i === 7 ? 1e30 : Math.cos(i))),
      Float32Array.from([1.401298464324817e-45, -2.382207389352189e-44, 0]),
      new Float32Array(50),
    ];
    for (const w of cases) {
      for (const num of [1, 250, 500, 990, 999, 1000]) {
        const max = maxAbs("t", w, 0, w.length);
        expect(absQuantileHistogram(w, 0, w.length, num / 1000, 16, ws, max)).toBe(
          referenceQuantile(w, num, 1000),
        );
      }
    }
  });

  it("the one-pass top buffer matches the reference wherever it applies", () => {
    const ws = new ThresholdWorkspace();
    fc.assert(
      fc.property(fc.float32Array({ minLength: 1, maxLength: 300, ...finite }), ratio, (w, { num, den }) => {
        expect(absQuantileTop(w, 0, w.length, num / den, ws)).toBe(referenceQuantile(w, num, den));
      }),
      { numRuns: 200 },
    );
    // Ascending input: every element is inserted (its worst case), still exact.
    const asc = Float32Array.from({ length: 1000 }, (_, i) => i);
    expect(absQuantileTop(asc, 0, 1000, 0.9, ws)).toBe(referenceQuantile(asc, 900, 1000));
  });

  it("auto: top buffer when few values lie above τ, else a copy up to exactLimit, else the histogram", () => {
    const w = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i));
    const expected = referenceQuantile(w, 1, 2);
    const copy = new ThresholdWorkspace();
    expect(absQuantile("t", w, 0, 300, 0.5, copy, { exactLimit: 300, bins: 4 })).toBe(expected);
    expect(copy.counts.length).toBe(0);
    expect(copy.scratch.length).toBe(300);
    const hist = new ThresholdWorkspace();
    expect(absQuantile("t", w, 0, 300, 0.5, hist, { exactLimit: 299, bins: 4 })).toBe(expected);
    expect(hist.counts.length).toBe(16);
    const top = new ThresholdWorkspace();
    expect(absQuantile("t", w, 0, 300, 0.99, top, { exactLimit: 1 })).toBe(referenceQuantile(w, 99, 100));
    expect(top.scratch.length).toBe(4); // n − rank = 300 − 296
    expect(top.counts.length).toBe(0);
  });

  it("every method names NaN and Infinity in the group", () => {
    const ws = new ThresholdWorkspace();
    const bad = Float32Array.from({ length: 300 }, (_, i) => (i === 150 ? Number.NaN : i));
    const inf = Float32Array.from({ length: 300 }, (_, i) => (i === 10 ? -Infinity : i));
    for (const method of ["auto", "exact", "histogram"] as const) {
      for (const p of [0.5, 0.99, 1]) {
        expect(() => absQuantile("f", bad, 0, 300, p, ws, { method })).toThrow(
          /f: weights contain NaN or Infinity/,
        );
        expect(() => absQuantile("f", inf, 0, 300, p, ws, { method })).toThrow(/NaN or Infinity/);
      }
    }
  });

  it("p = 1 gives max|w| in both modes", () => {
    const ws = new ThresholdWorkspace();
    fc.assert(
      fc.property(fc.float32Array({ minLength: 1, maxLength: 100, ...finite }), (w) => {
        const max = maxAbs("t", w, 0, w.length);
        expect(absQuantile("t", w, 0, w.length, 1, ws, { method: "exact" })).toBe(max);
        expect(absQuantileHistogram(w, 0, w.length, 1, 16, ws, max)).toBe(max);
      }),
      { numRuns: 50 },
    );
  });

  it("maxAbs names NaN and Infinity", () => {
    expect(() => maxAbs("f", new Float32Array([1, Number.NaN]), 0, 2)).toThrow(/NaN or Infinity/);
    expect(() => maxAbs("f", new Float32Array([1, -Infinity]), 0, 2)).toThrow(/NaN or Infinity/);
  });

  it("finite float64 weights whose magnitudes would overflow a sum are not mistaken for Infinity", () => {
    const w = Float64Array.of(1e308, -1e308, 5e307, 0.5);
    const ws = new ThresholdWorkspace();
    expect(maxAbs("f", w, 0, 4)).toBe(1e308);
    expect(absQuantileTop(w, 0, 4, 0.5, ws)).toBe(5e307);
    expect(absQuantile("f", w, 0, 4, 0.5, ws, { method: "exact" })).toBe(5e307);
    expect(absQuantileTop(Float64Array.of(1, Number.NaN, 2), 0, 3, 0.5, ws)).toBeNaN();
  });
});

describe("kSigma thresholds", () => {
  it("k·std matches a two-pass float64 reference", () => {
    fc.assert(
      fc.property(
        fc.float32Array({ minLength: 1, maxLength: 200, ...finite }),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        (w, k) => {
          const n = w.length;
          const mean = w.reduce((a, b) => a + b, 0) / n;
          const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
          expect(kSigmaThreshold(w, 0, n, k)).toBeCloseTo(k * std, 6);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("robust: |median| + k·1.4826·MAD, with the lower median", () => {
    const ws = new ThresholdWorkspace();
    fc.assert(
      fc.property(
        fc.float32Array({ minLength: 1, maxLength: 200, ...finite }),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        (w, k) => {
          const n = w.length;
          const lowerMedian = (xs: number[]) => xs.sort((a, b) => a - b)[(n - 1) >> 1]!;
          const med = lowerMedian(Array.from(w));
          const mad = lowerMedian(Array.from(w, (x) => Math.abs(x - med)));
          expect(robustKSigmaThreshold(w, 0, n, k, ws)).toBeCloseTo(
            Math.abs(med) + k * MAD_TO_SIGMA * mad,
            6,
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it("the robust bound ignores outliers that inflate k·std", () => {
    const w = new Float32Array(1000);
    for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 12.9898) * 0.5; // bounded, spread values
    const clean = robustKSigmaThreshold(w, 0, w.length, 3, new ThresholdWorkspace());
    const plainClean = kSigmaThreshold(w, 0, w.length, 3);
    w[0] = 50;
    w[1] = -50;
    expect(robustKSigmaThreshold(w, 0, w.length, 3, new ThresholdWorkspace())).toBeCloseTo(clean, 1);
    expect(kSigmaThreshold(w, 0, w.length, 3)).toBeGreaterThan(4 * plainClean);
  });
});
