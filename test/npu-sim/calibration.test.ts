import {
  activationObserver,
  EntropyObserver,
  entropyDivergences,
  entropyThreshold,
  profiles,
} from "@quant-trim/npu-sim";
import { MinMaxObserver, MseObserver, PercentileObserver } from "@quant-trim/quant";
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/**
 * KL divergences written the way pytorch-quantization's `_compute_amax_entropy` spells them (linspace /
 * digitize bucketing, explicit P and Q arrays, normalisation, then Σ p·ln(p/q)), as an independent
 * reference for the incremental implementation.
 */
function referenceDivergences(hist: number[], nq: number): number[] {
  const out: number[] = [];
  for (let i = nq; i <= hist.length; i++) {
    const p = hist.slice(0, i);
    p[i - 1]! += hist.slice(i).reduce((a, b) => a + b, 0);
    const space = Array.from({ length: nq + 1 }, (_, g) => (g * i) / nq);
    const bucket = hist.slice(0, i).map((c, j) => {
      if (c === 0) return -1;
      let g = 0;
      while (g + 1 < space.length && space[g + 1]! <= j) g++;
      return g;
    });
    const sums = new Array<number>(nq).fill(0);
    const nonEmpty = new Array<number>(nq).fill(0);
    bucket.forEach((g, j) => {
      if (g >= 0) {
        sums[g]! += hist[j]!;
        nonEmpty[g]!++;
      }
    });
    const q = bucket.map((g) => (g >= 0 ? sums[g]! / nonEmpty[g]! : 0));
    const ps = p.reduce((a, b) => a + b, 0);
    const qs = q.reduce((a, b) => a + b, 0);
    let kl = 0;
    for (let j = 0; j < i; j++) {
      if (p[j] === 0) continue;
      if (q[j] === 0) {
        kl = Number.POSITIVE_INFINITY;
        break;
      }
      kl += (p[j]! / ps) * Math.log(p[j]! / ps / (q[j]! / qs));
    }
    out.push(kl);
  }
  return out;
}

function gaussian(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rng.next();
    x[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  }
  return x;
}

describe("entropy (KL) calibration", () => {
  it("matches a direct restatement of TensorRT's divergence on random histograms", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 50 }), { minLength: 8, maxLength: 40 }),
        fc.integer({ min: 2, max: 8 }),
        (hist, nq) => {
          fc.pre(nq <= hist.length && hist.some((c) => c > 0));
          const got = entropyDivergences(Float64Array.from(hist), nq);
          const want = referenceDivergences(hist, nq);
          expect(got.length).toBe(want.length);
          want.forEach((w, k) => {
            if (w === Number.POSITIVE_INFINITY) expect(got[k]).toBe(w);
            else expect(Math.abs(got[k]! - w)).toBeLessThan(1e-12 + 1e-9 * Math.abs(w));
          });
        },
      ),
    );
  });

  it("clips far outliers of a Gaussian but keeps a uniform distribution's range", () => {
    const rng = new Rng(4);
    const g = gaussian(rng, 20000);
    g[0] = 40; // one far outlier sets max |x|
    const counts = new Float64Array(2048);
    for (const v of g) counts[Math.min(2047, Math.floor((Math.abs(v) / 40) * 2048))]!++;
    const t = entropyThreshold(counts, 40, 128);
    expect(t).toBeGreaterThan(2.5);
    expect(t).toBeLessThan(8);
    const uniform = new Float64Array(2048).fill(10);
    expect(entropyThreshold(uniform, 1, 128)).toBeGreaterThan(0.95);
  });

  it("EntropyObserver clips symmetrically inside the observed range", () => {
    const obs = new EntropyObserver();
    const rng = new Rng(9);
    for (let b = 0; b < 4; b++) {
      const x = gaussian(rng, 5000);
      if (b === 2) x[7] = -60;
      obs.observe(x);
    }
    const r = obs.range();
    expect(r.min[0]!).toBeLessThan(-2);
    expect(r.min[0]!).toBeGreaterThan(-10);
    expect(r.max[0]!).toBeGreaterThan(2);
    expect(r.max[0]!).toBeLessThanOrEqual(-r.min[0]! + 1e-6);
    // A non-negative (post-ReLU) tensor keeps its lower bound at the data's minimum.
    const relu = new EntropyObserver();
    relu.observe(Float32Array.from(gaussian(rng, 4000), (v) => Math.max(v, 0)));
    expect(relu.range().min[0]).toBe(0);
    expect(() => new EntropyObserver({ bins: 100, quantizedBins: 200 })).toThrow(/quantizedBins must be/);
  });

  it("entropyDivergences refuses bad input, naming the argument", () => {
    expect(() => entropyDivergences(Float64Array.of(1, 2, 3), 4)).toThrow(/quantizedBins must be/);
    expect(() => entropyDivergences(Float64Array.of(1, Number.NaN, 3), 2)).toThrow(/counts\[1\]/);
    expect(() => entropyThreshold(Float64Array.of(1, 2, 3), -1, 2)).toThrow(/amax must be/);
  });
});

describe("activationObserver: one observer per calibration method", () => {
  it("maps every method to its observer", () => {
    const grid = profiles["tflite-int8"]!.activation;
    expect(activationObserver({ method: "min-max" }, grid)).toBeInstanceOf(MinMaxObserver);
    const p = activationObserver({ method: "percentile", percentile: 99.9 }, grid);
    expect(p).toBeInstanceOf(PercentileObserver);
    expect((p as PercentileObserver).percentile).toBe(99.9);
    expect(activationObserver({ method: "mse" }, grid)).toBeInstanceOf(MseObserver);
    expect(activationObserver({ method: "entropy", bins: 512, quantizedBins: 64 }, grid)).toBeInstanceOf(
      EntropyObserver,
    );
    expect(() => activationObserver({ method: "magic" } as never, grid)).toThrow(
      /unknown calibration method/,
    );
  });
});
