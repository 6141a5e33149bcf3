import { groupLayout, trimWeights } from "@quant-trim/prune";
import { clampGroup, storableThreshold, zeroTailGroup } from "@quant-trim/prune/internal";
import { Tensor } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const finite = { noNaN: true, noDefaultInfinity: true, min: Math.fround(-100), max: Math.fround(100) };

/** A [channels, perChannel] float32 weight with random values, a p and a granularity. */
const weightCase = fc
  .record({ c: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 40 }) })
  .chain(({ c, k }) =>
    fc.record({
      shape: fc.constant([c, k]),
      values: fc.float32Array({ minLength: c * k, maxLength: c * k, ...finite }),
      p: fc.double({ min: 0.05, max: 1, noNaN: true }),
      granularity: fc.constantFrom("per-tensor" as const, "per-channel" as const),
      method: fc.constantFrom("exact" as const, "histogram" as const),
    }),
  );

function groupOf(i: number, shape: readonly number[], granularity: string): number {
  return granularity === "per-tensor" ? 0 : Math.floor(i / shape[1]!);
}

describe("trimWeights (one projection)", () => {
  it("every |w| ≤ τ of its group, weights inside are unchanged bit-for-bit, signs are kept", () => {
    fc.assert(
      fc.property(weightCase, ({ shape, values, p, granularity, method }) => {
        const w = new Tensor(values.slice(), shape);
        const r = trimWeights(w, { p, granularity, rule: { rule: "quantile", method, bins: 16 } });
        let moved = 0;
        const bad: string[] = [];
        for (let i = 0; i < values.length; i++) {
          const tau = r.thresholds[groupOf(i, shape, granularity)]!;
          const before = values[i]!;
          const after = w.data[i]!;
          if (!(Math.abs(after) <= tau)) bad.push(`|w[${i}]| = ${Math.abs(after)} > τ = ${tau}`);
          if (Math.abs(before) <= tau) {
            if (!Object.is(after, before)) bad.push(`w[${i}] inside changed: ${before} → ${after}`);
          } else {
            moved++;
            if (after !== Math.sign(before) * tau)
              bad.push(`w[${i}] = ${before} clamped to ${after}, τ = ${tau}`);
          }
        }
        expect(bad).toEqual([]);
        expect(r.trimmedTotal).toBe(moved);
      }),
      { numRuns: 150 },
    );
  });

  it("is idempotent under the quantile rule (exact and histogram)", () => {
    fc.assert(
      fc.property(weightCase, ({ shape, values, p, granularity, method }) => {
        const w = new Tensor(values.slice(), shape);
        const opts = { p, granularity, rule: { rule: "quantile" as const, method, bins: 16 } };
        const first = trimWeights(w, opts);
        const once = w.data.slice();
        const second = trimWeights(w, opts);
        expect(w.data).toEqual(once);
        expect(second.thresholds).toEqual(first.thresholds);
        expect(second.trimmedTotal).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it("the projection is idempotent for a fixed τ under kSigma too", () => {
    fc.assert(
      fc.property(weightCase, fc.double({ min: 0.5, max: 4, noNaN: true }), ({ shape, values }, k) => {
        const w = new Tensor(values.slice(), shape);
        const r = trimWeights(w, { rule: { rule: "kSigma", k } });
        const once = w.data.slice();
        expect(clampGroup(w.data, 0, w.size, r.thresholds[0]!)).toBe(0);
        expect(w.data).toEqual(once);
      }),
      { numRuns: 50 },
    );
  });

  it("p = 1 changes nothing and reports τ = max|w| per group", () => {
    fc.assert(
      fc.property(weightCase, ({ shape, values, granularity, method }) => {
        const w = new Tensor(values.slice(), shape);
        const r = trimWeights(w, { p: 1, granularity, rule: { rule: "quantile", method } });
        expect(w.data).toEqual(values);
        expect(r.trimmedTotal).toBe(0);
        const { count, size } = groupLayout(shape, granularity);
        for (let g = 0; g < count; g++) {
          let m = 0;
          for (let i = g * size; i < (g + 1) * size; i++) m = Math.max(m, Math.abs(values[i]!));
          expect(r.thresholds[g]).toBe(m);
        }
      }),
      { numRuns: 50 },
    );
  });

  it("per-channel groups never leak: changing one channel never changes another's result", () => {
    fc.assert(
      fc.property(
        weightCase.filter((c) => c.shape[0]! >= 2),
        fc.nat(),
        fc.float32Array({ minLength: 40, maxLength: 40, ...finite }),
        fc.constantFrom("quantile", "kSigma", "robust"),
        ({ shape, values, p, method }, chRaw, replacement, ruleName) => {
          const [c, k] = shape as [number, number];
          const ch = chRaw % c;
          const other = values.slice();
          for (let j = 0; j < k; j++) other[ch * k + j] = replacement[j]!;
          const rule =
            ruleName === "quantile"
              ? { rule: "quantile" as const, method, bins: 16 }
              : { rule: "kSigma" as const, k: 1.5, robust: ruleName === "robust" };
          const a = new Tensor(values.slice(), shape);
          const b = new Tensor(other, shape);
          const ra = trimWeights(a, { p, granularity: "per-channel", rule });
          const rb = trimWeights(b, { p, granularity: "per-channel", rule });
          for (let g = 0; g < c; g++) {
            if (g === ch) continue;
            expect(rb.thresholds[g]).toBe(ra.thresholds[g]);
            expect(b.data.subarray(g * k, (g + 1) * k)).toEqual(a.data.subarray(g * k, (g + 1) * k));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("mask mode zeroes exactly the tail", () => {
    const w = new Tensor(new Float32Array([0.5, -3, 1, -0.25, 8, 2]), [2, 3]);
    const r = trimWeights(w, { p: 3 / 6, mode: "mask" });
    expect(r.thresholds[0]).toBe(1);
    expect(Array.from(w.data)).toEqual([0.5, 0, 1, -0.25, 0, 0]);
    expect(r.trimmedTotal).toBe(3);
  });

  it("clamp keeps the sign of the trimmed weights", () => {
    const w = new Tensor(new Float32Array([0.5, -3, 1, -0.25, 8, 2]), [2, 3]);
    trimWeights(w, { p: 3 / 6 });
    expect(Array.from(w.data)).toEqual([0.5, -1, 1, -0.25, 1, 1]);
  });

  it("float32 buffers get a threshold rounded down to a float32", () => {
    const tau = 0.1; // not a float32
    const t = storableThreshold(tau, new Float32Array(1));
    expect(t).toBe(Math.fround(t));
    expect(t).toBeLessThanOrEqual(tau);
    expect(storableThreshold(tau, new Float64Array(1))).toBe(tau);
    const d = new Float32Array([1, -1, 0.05]);
    clampGroup(d, 0, 3, t);
    for (const x of d) expect(Math.abs(x)).toBeLessThanOrEqual(tau);
    expect(zeroTailGroup(d, 0, 3, 0.07)).toBe(2);
  });

  it("rejects bad input with the reason", () => {
    const w = new Tensor(new Float32Array(6), [2, 3]);
    expect(() => trimWeights(w, {})).toThrow(/trimWeights: the quantile rule needs p/);
    expect(() => trimWeights(w, { p: 0 })).toThrow(/p must be a number in \(0, 1\], got 0/);
    expect(() => trimWeights(w, { p: 1.5 })).toThrow(/got 1.5/);
    expect(() => trimWeights(w, { p: Number.NaN })).toThrow(/got NaN/);
    expect(() => trimWeights(w, { rule: { rule: "kSigma", k: 0 } })).toThrow(
      /k must be a finite number > 0, got 0/,
    );
    expect(() => trimWeights(w, { rule: { rule: "kSigma", k: -2 } })).toThrow(/got -2/);
    expect(() => trimWeights(w, { p: 0.9, granularity: "per-row" as never })).toThrow(/granularity/);
    expect(() => trimWeights(w, { p: 0.9, mode: "zero" as never })).toThrow(/mode must be/);
    expect(() => trimWeights(w, { p: 0.9, q: 1 } as never)).toThrow(/unknown trim option 'q'/);
    expect(() => trimWeights(w, { rule: { rule: "topk" } as never })).toThrow(
      /unknown threshold rule "topk"/,
    );
    expect(() => trimWeights(w, { p: 0.9, rule: { rule: "quantile", bins: 0 } })).toThrow(
      /bins must be an integer ≥ 1/,
    );
    const nan = new Tensor(new Float32Array([1, Number.NaN, 0, 0, 0, 0]), [2, 3]);
    expect(() => trimWeights(nan, { p: 0.9 })).toThrow(/NaN or Infinity/);
    const view = new Tensor(new Float32Array(6), [3, 2], [1, 3]);
    expect(() => trimWeights(view, { p: 0.9 })).toThrow(/non-contiguous/);
  });
});
