import { MagnitudePruner, type NamedParam, packMask, ReversePruner, unpackMask } from "@quant-trim/prune";
import { Rng, randn, Tensor } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

function params(seed: number, shapes: Record<string, number[]>): NamedParam[] {
  const rng = new Rng(seed);
  return Object.entries(shapes).map(([name, shape]) => ({
    name,
    param: { data: randn(shape, rng), grad: randn(shape, rng) },
  }));
}

const shapes = { "a.weight": [6, 10], "a.bias": [6], "b.weight": [3, 2, 2, 2] };

describe("MagnitudePruner", () => {
  it("layer scope: each layer loses exactly ⌊s·n⌋ weights, the smallest ones", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        (seed, s) => {
          const ps = params(seed, shapes);
          const before = ps.map((p) => p.param.data.toFloat32Array());
          const mp = new MagnitudePruner(ps, { sparsity: s });
          mp.step(0);
          for (const name of ["a.weight", "b.weight"]) {
            const i = ps.findIndex((p) => p.name === name);
            const w = ps[i]!.param.data.toFloat32Array();
            const mask = mp.mask(name);
            const n = w.length;
            expect(mask.filter((m) => m === 0).length).toBe(Math.floor(s * n + 1e-9));
            // Every pruned magnitude ≤ every kept magnitude; kept weights are untouched.
            let maxPruned = -1;
            let minKept = Number.POSITIVE_INFINITY;
            for (let j = 0; j < n; j++) {
              const m = Math.abs(before[i]![j]!);
              if (mask[j] === 0) {
                maxPruned = Math.max(maxPruned, m);
                expect(w[j]).toBe(0);
              } else {
                minKept = Math.min(minKept, m);
                expect(w[j]).toBe(before[i]![j]);
              }
            }
            expect(maxPruned).toBeLessThanOrEqual(minKept);
          }
          // Biases are never touched.
          expect(ps[1]!.param.data.toFloat32Array()).toEqual(before[1]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("global scope: the ⌊s·n⌋ smallest magnitudes across all layers, whichever layer holds them", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        (seed, s) => {
          const ps = params(seed, { "a.weight": [6, 10], "b.weight": [3, 2, 2, 2] });
          // Different scales per layer, so a global threshold prunes the layers unevenly.
          const a = ps[0]!.param.data.data;
          for (let j = 0; j < a.length; j++) a[j]! *= 0.3;
          const before = ps.map((p) => p.param.data.toFloat32Array());
          const mp = new MagnitudePruner(ps, { sparsity: s, scope: "global" });
          mp.step(0);
          let pruned = 0;
          let maxPruned = -1;
          let minKept = Number.POSITIVE_INFINITY;
          ps.forEach((p, i) => {
            const mask = mp.mask(p.name);
            mask.forEach((m, j) => {
              const mag = Math.abs(before[i]![j]!);
              if (m === 0) {
                pruned++;
                maxPruned = Math.max(maxPruned, mag);
              } else minKept = Math.min(minKept, mag);
            });
          });
          expect(pruned).toBe(Math.floor(s * 84 + 1e-9));
          expect(maxPruned).toBeLessThanOrEqual(minKept);
          expect(mp.report().sparsity).toBeCloseTo(pruned / 84, 12);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("gradual cubic schedule (Zhu & Gupta): masks grow only on schedule, then stay fixed", () => {
    const ps = params(2, { "w.weight": [20, 20] });
    const mp = new MagnitudePruner(ps, {
      sparsity: 0.8,
      schedule: { kind: "gradual", startStep: 10, endStep: 50, every: 10 },
    });
    expect(mp.sparsityAt(5)).toBe(0);
    expect(mp.sparsityAt(10)).toBe(0);
    expect(mp.sparsityAt(30)).toBeCloseTo(0.8 * (1 - 0.5 ** 3), 12);
    expect(mp.sparsityAt(50)).toBe(0.8);
    let prevMask = mp.mask("w.weight");
    for (let t = 0; t <= 70; t++) {
      // Perturb the weights like an optimizer would; masked entries must come back to zero.
      const w = ps[0]!.param.data.data;
      for (let j = 0; j < w.length; j += 7) w[j]! += 0.01;
      const updated = mp.step(t);
      expect(updated).toBe(t >= 10 && t <= 50 && t % 10 === 0);
      const mask = mp.mask("w.weight");
      let regrown = 0;
      let nonZeroPruned = 0;
      for (let j = 0; j < mask.length; j++) {
        if (prevMask[j] === 0 && mask[j] !== 0) regrown++; // masks must be monotone
        if (mask[j] === 0 && w[j] !== 0) nonZeroPruned++;
      }
      expect([regrown, nonZeroPruned]).toEqual([0, 0]);
      if (t >= 50) expect(mask.filter((m) => m === 0).length).toBe(320);
      prevMask = mask;
    }
  });

  it("catches up on a final update it never saw (steps skipped or a late start)", () => {
    const ps = params(8, { "w.weight": [10, 10] });
    const mp = new MagnitudePruner(ps, { sparsity: 0.3, schedule: { kind: "oneShot", step: 0 } });
    expect(mp.step(7)).toBe(true);
    expect(mp.report().sparsity).toBe(0.3);
    expect(mp.step(8)).toBe(false);
  });

  it("maskGradients zeroes the gradients of pruned weights only", () => {
    const ps = params(3, shapes);
    const mp = new MagnitudePruner(ps, { sparsity: 0.5, schedule: { kind: "oneShot", step: 0 } });
    mp.step(0);
    const g0 = ps[0]!.param.grad!.toFloat32Array();
    mp.maskGradients();
    const mask = mp.mask("a.weight");
    const g = ps[0]!.param.grad!.toFloat32Array();
    g.forEach((v, j) => {
      expect(v).toBe(mask[j] === 0 ? 0 : g0[j]);
    });
    ps[2]!.param.grad = null;
    expect(() => mp.maskGradients()).not.toThrow();
  });

  it("combines with ReversePruner: masked weights stay zero and the rest stay inside [−τ, τ]", () => {
    const ps = params(4, { "w.weight": [16, 16] });
    const mp = new MagnitudePruner(ps, { sparsity: 0.5 });
    const rp = new ReversePruner(ps, { pFinal: 0.9 });
    mp.step(0);
    rp.step(0);
    const w = ps[0]!.param.data.toFloat32Array();
    const mask = mp.mask("w.weight");
    const tau = rp.report().layers[0]!.thresholds[0]!;
    w.forEach((v, j) => {
      if (mask[j] === 0) expect(v).toBe(0);
      expect(Math.abs(v)).toBeLessThanOrEqual(tau);
    });
  });

  it("state round-trips, masks included", () => {
    const ps = params(6, shapes);
    const mp = new MagnitudePruner(ps, {
      sparsity: 0.6,
      schedule: { kind: "gradual", startStep: 0, endStep: 4 },
    });
    for (let t = 0; t <= 2; t++) mp.step(t);
    const json = JSON.stringify(mp.state());
    const other = new MagnitudePruner(params(6, shapes), {
      sparsity: 0.6,
      schedule: { kind: "gradual", startStep: 0, endStep: 4 },
    });
    other.loadState(json);
    expect(other.state()).toEqual(mp.state());
    expect(other.mask("b.weight")).toEqual(mp.mask("b.weight"));
  });

  it("packMask/unpackMask round-trip any mask", () => {
    fc.assert(
      fc.property(fc.uint8Array({ min: 0, max: 1, maxLength: 100 }), (mask) => {
        expect(unpackMask("t", "x", packMask(mask), mask.length)).toEqual(mask);
      }),
      { numRuns: 100 },
    );
  });

  it("unpackMask refuses every text but the canonical one", () => {
    // 3 bits (one byte) encode as 'BQ==' for [1, 0, 1]; these spell the same bits differently
    expect(packMask(Uint8Array.of(1, 0, 1))).toBe("BQ==");
    expect(unpackMask("t", "x", "BQ==", 3)).toEqual(Uint8Array.of(1, 0, 1));
    for (const text of ["BR==", "DQ==", "BQ=A", "B=Q="]) {
      expect(() => unpackMask("t", "x", text, 3)).toThrow(/mask of 'x' is not the (canonical )?base64/);
    }
  });

  it("rejects bad input with clear messages", () => {
    const ps = params(1, shapes);
    expect(() => new MagnitudePruner(ps, { sparsity: 1 })).toThrow(
      /sparsity must be a number in \[0, 1\), got 1/,
    );
    expect(() => new MagnitudePruner(ps, { sparsity: -0.1 })).toThrow(/got -0.1/);
    expect(() => new MagnitudePruner(ps, { sparsity: 0.5, scope: "net" as never })).toThrow(/scope must be/);
    expect(
      () =>
        new MagnitudePruner(ps, { sparsity: 0.5, schedule: { kind: "gradual", startStep: 5, endStep: 2 } }),
    ).toThrow(/endStep 2 is before startStep 5/);
    expect(() => new MagnitudePruner(ps, { sparsity: 0.5, include: ["c.weight"] })).toThrow(
      /include 'c.weight' matches no parameter; available: a.weight, a.bias, b.weight/,
    );
    expect(() => new MagnitudePruner(ps, { sparsity: 0.5, sparse: 1 } as never)).toThrow(
      /unknown MagnitudePruner option 'sparse'/,
    );
    const mp = new MagnitudePruner(ps, { sparsity: 0.5 });
    expect(() => mp.mask("a.bias")).toThrow(/unknown layer 'a.bias'/);
    expect(() =>
      mp.loadState({
        format: "quant-trim/magnitude-pruner@1",
        lastStep: 0,
        sparsity: 0.5,
        masks: { "a.weight": "AA==", "b.weight": "" },
      }),
    ).toThrow(/mask of 'a.weight' is not the base64 of 8 bytes/);
    ps[0]!.param.grad = new Tensor(new Float32Array(3), [3]);
    expect(() => mp.maskGradients()).toThrow(/gradient of 'a.weight' has shape \[3\]/);
  });
});
