import { alignThresholdPow2, type NamedParam, ReversePruner } from "@quant-trim/prune";
import { gridSpec, int4SymmetricPerTensor, int8SymmetricPerChannel, LambdaSchedule } from "@quant-trim/quant";
import { Rng, randn, type Tensor } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** True when x is exactly 2^k for an integer k (checked by rebuilding it, not by trusting log2). */
function isPowerOfTwo(x: number): boolean {
  if (!(x > 0) || !Number.isFinite(x)) return false;
  const k = Math.round(Math.log2(x));
  return 2 ** k === x;
}

/** Weights with a heavy tail (a few large outliers), so that trimming has something to do. */
function params(seed: number, scale = 1): NamedParam[] {
  const rng = new Rng(seed);
  const p = (name: string, shape: number[]): NamedParam => {
    const data = randn(shape, rng, 0, scale);
    const v = data.data as Float32Array;
    for (let i = 0; i < v.length; i += 37) v[i] = v[i]! * 6;
    return { name, param: { data, grad: randn(shape, rng) } };
  };
  return [p("conv.weight", [8, 4, 3, 3]), p("fc.weight", [10, 200])];
}

const values = (ps: NamedParam[]): Float32Array[] => ps.map((p) => (p.param.data as Tensor).toFloat32Array());

function maxAbsPerGroup(v: Float32Array, groups: number): number[] {
  const size = v.length / groups;
  return Array.from({ length: groups }, (_, g) => {
    let m = 0;
    for (let i = g * size; i < (g + 1) * size; i++) m = Math.max(m, Math.abs(v[i]!));
    return m;
  });
}

describe("alignThresholdPow2", () => {
  it("returns the largest qmax·2^k not above τ: τ'/qmax is exactly a power of two and τ/2 < τ' ≤ τ", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-12, max: 1e12, noNaN: true }),
        fc.constantFrom(1, 3, 7, 15, 127, 255, 32767),
        (tau, qmax) => {
          const aligned = alignThresholdPow2(tau, qmax);
          expect(isPowerOfTwo(aligned / qmax)).toBe(true);
          expect(aligned).toBeLessThanOrEqual(tau);
          expect(aligned).toBeGreaterThan(tau / 2);
          // Exact in float32: a float32 weight clamped to it keeps max/qmax = 2^k.
          expect(Math.fround(aligned)).toBe(aligned);
        },
      ),
    );
  });

  it("keeps a τ that is already aligned and maps 0 to 0", () => {
    fc.assert(
      fc.property(fc.integer({ min: -40, max: 40 }), fc.constantFrom(7, 127), (k, qmax) => {
        expect(alignThresholdPow2(qmax * 2 ** k, qmax)).toBe(qmax * 2 ** k);
        // One ulp below an aligned value falls to the power below.
        const below = qmax * 2 ** k * (1 - Number.EPSILON);
        expect(alignThresholdPow2(below, qmax)).toBe(qmax * 2 ** (k - 1));
      }),
    );
    expect(alignThresholdPow2(0, 7)).toBe(0);
  });

  it("refuses a negative or non-finite τ and a qmax that is not a positive integer, naming them", () => {
    expect(() => alignThresholdPow2(-1, 7)).toThrow(/alignThresholdPow2: tau/);
    expect(() => alignThresholdPow2(Number.NaN, 7)).toThrow(/alignThresholdPow2: tau/);
    expect(() => alignThresholdPow2(Number.POSITIVE_INFINITY, 7)).toThrow(/alignThresholdPow2: tau/);
    for (const q of [0, -7, 1.5, Number.NaN, 2 ** 24])
      expect(() => alignThresholdPow2(1, q)).toThrow(/alignThresholdPow2: alignPow2 qmax/);
  });
});

describe("ReversePruner alignPow2", () => {
  const T = 20;
  const schedule = () => new LambdaSchedule({ kind: "quant-trim", totalSteps: T });

  it("snaps every threshold so τ/qmax is exactly 2^k, never above the plain quantile τ", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 1e-3, max: 10, noNaN: true }),
        fc.constantFrom<[boolean | number, number]>([true, 7], [127, 127], [15, 15]),
        (seed, scale, [option, qmax]) => {
          const plain = params(seed, scale);
          const snapped = params(seed, scale);
          const grid = int4SymmetricPerTensor;
          const a = new ReversePruner(plain, {
            grid,
            schedule: { kind: "constant", p: 0.98 },
            onWarning: () => {},
          });
          const b = new ReversePruner(snapped, {
            grid,
            schedule: { kind: "constant", p: 0.98 },
            alignPow2: option,
            onWarning: () => {},
          });
          a.step(0);
          b.step(0);
          const ra = a.report().layers;
          const rb = b.report().layers;
          for (let l = 0; l < ra.length; l++) {
            for (let g = 0; g < rb[l]!.thresholds.length; g++) {
              const tau = rb[l]!.thresholds[g]!;
              expect(isPowerOfTwo(tau / qmax)).toBe(true);
              expect(tau).toBeLessThanOrEqual(ra[l]!.thresholds[g]!);
            }
          }
          // The stored weights follow: each group's max|w| is its aligned τ.
          const after = values(snapped);
          for (let l = 0; l < after.length; l++) {
            const taus = rb[l]!.thresholds;
            expect(maxAbsPerGroup(after[l]!, taus.length)).toEqual(taus.map((t) => Math.fround(t)));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("aligns per channel with a per-channel grid (one aligned τ per output channel)", () => {
    const ps = params(3);
    const rp = new ReversePruner(ps, {
      grid: int8SymmetricPerChannel,
      schedule: { kind: "constant", p: 0.9 },
      alignPow2: true,
      onWarning: () => {},
    });
    rp.step(0);
    const conv = rp.report().layers[0]!;
    expect(conv.thresholds.length).toBe(8);
    for (const t of conv.thresholds) expect(isPowerOfTwo(t / 127)).toBe(true);
  });

  it("off is bit-identical to a pruner without the option, and the FP warm-up is untouched when on", () => {
    const base = params(5);
    const off = params(5);
    const on = params(5);
    const a = new ReversePruner(base, {
      grid: int4SymmetricPerTensor,
      schedule: schedule(),
      onWarning: () => {},
    });
    const b = new ReversePruner(off, {
      grid: int4SymmetricPerTensor,
      schedule: schedule(),
      alignPow2: false,
      onWarning: () => {},
    });
    const c = new ReversePruner(on, {
      grid: int4SymmetricPerTensor,
      schedule: schedule(),
      alignPow2: true,
      onWarning: () => {},
    });
    const warmupSteps = 4; // λ = 0 before 0.2·T
    for (let s = 0; s < T; s++) {
      a.step(s);
      b.step(s);
      c.step(s);
      if (s < warmupSteps) expect(values(on)).toEqual(values(base));
    }
    expect(values(off)).toEqual(values(base));
    expect(b.state()).toEqual(a.state());
    // Once trimming runs the aligned pruner trims at least as much, so it must have moved something.
    expect(values(on)).not.toEqual(values(base));
  });

  it("refuses alignPow2: true without a grid, and a bad qmax, naming the option", () => {
    expect(() => new ReversePruner(params(1), { alignPow2: true, onWarning: () => {} })).toThrow(
      /ReversePruner: layer 'conv.weight': alignPow2: true needs a grid/,
    );
    for (const bad of [0, 2.5, -127])
      expect(() => new ReversePruner(params(1), { alignPow2: bad, onWarning: () => {} })).toThrow(
        /ReversePruner: layer 'conv.weight': alignPow2 qmax must be an integer/,
      );
    expect(
      () => new ReversePruner(params(1), { alignPow2: "yes" as unknown as boolean, onWarning: () => {} }),
    ).toThrow(/ReversePruner: layer 'conv.weight': alignPow2 must be a boolean or a qmax number/);
  });

  it("uses the layer grid's qmax with true: narrow and wide INT4 grids both give 7", () => {
    const ps = params(2);
    const rp = new ReversePruner(ps, {
      grid: gridSpec({ ...int4SymmetricPerTensor, narrowRange: true }),
      schedule: { kind: "constant", p: 0.95 },
      alignPow2: true,
      onWarning: () => {},
    });
    rp.step(0);
    for (const l of rp.report().layers) for (const t of l.thresholds) expect(isPowerOfTwo(t / 7)).toBe(true);
  });
});
