import { type NamedParam, ReversePruner, type UntrimmableLayer } from "@quant-trim/prune";
import { gridSpec } from "@quant-trim/quant";
import { Rng, randn } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const param = (name: string, shape: number[], seed = 1): NamedParam => {
  const rng = new Rng(seed);
  return { name, param: { data: randn(shape, rng), grad: null } };
};

/** The mlp's two weight matrices (784-256-10). */
const mlpWeights = () => [param("1.weight", [256, 784], 1), param("3.weight", [10, 256], 2)];

const int8PerChannel = gridSpec({ bits: 8, signed: true, symmetric: true, granularity: "per-channel" });

describe("ReversePruner.untrimmableLayers and onWarning", () => {
  it("lists INT8 per-channel mlp layers (groups of 784 and 256 < 1000 weights) and warns once, naming both", () => {
    const calls: Array<[string, UntrimmableLayer[]]> = [];
    const rp = new ReversePruner(mlpWeights(), {
      grid: int8PerChannel,
      onWarning: (m, l) => calls.push([m, l]),
    });
    const expected = [
      { name: "1.weight", granularity: "per-channel", groupSize: 784, p: 0.999, minGroupSize: 1000 },
      { name: "3.weight", granularity: "per-channel", groupSize: 256, p: 0.999, minGroupSize: 1000 },
    ];
    expect(rp.untrimmableLayers()).toEqual(expected);
    expect(calls).toHaveLength(1);
    expect(calls[0]![1]).toEqual(expected);
    expect(calls[0]![0]).toBe(
      "ReversePruner: reverse pruning can never trim any of its layers: '1.weight' (per-channel groups of 784 weights at p 0.999; a group needs 1000), '3.weight' (per-channel groups of 256 weights at p 0.999; a group needs 1000)",
    );
  });

  it("tells the truth: at full strength a listed layer moves no weight, an unlisted one does", () => {
    const params = mlpWeights();
    const int8 = new ReversePruner(params, { grid: int8PerChannel, onWarning: () => {} });
    int8.step(0);
    expect(int8.report().layers.map((l) => l.trimmed)).toEqual([0, 0]);
    // INT4 (pFinal 0.99): a group needs 100 weights; both layers' groups qualify, so nothing is listed.
    const int4 = new ReversePruner(params, {
      grid: gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" }),
      onWarning: () => {
        throw new Error("no warning expected");
      },
    });
    expect(int4.untrimmableLayers()).toEqual([]);
    int4.step(0);
    expect(int4.report().layers.every((l) => l.trimmed > 0)).toBe(true);
  });

  it("names only the layers that cannot trim, with a per-layer pFinal and a constant schedule's own p", () => {
    const params = [param("a.weight", [4, 50]), param("b.weight", [4, 500])];
    const messages: string[] = [];
    const rp = new ReversePruner(params, {
      granularity: "per-channel",
      pFinal: 0.99,
      onWarning: (m) => messages.push(m),
    });
    expect(rp.untrimmableLayers().map((l) => [l.name, l.minGroupSize])).toEqual([["a.weight", 100]]);
    expect(messages).toEqual([
      "ReversePruner: reverse pruning can never trim 1 of its 2 layers: 'a.weight' (per-channel groups of 50 weights at p 0.99; a group needs 100)",
    ]);
    const constant = new ReversePruner(params, {
      granularity: "per-channel",
      schedule: { kind: "constant", p: 0.9 },
      onWarning: () => {},
    });
    expect(constant.untrimmableLayers()).toEqual([]);
    const keepAll = new ReversePruner(params, { pFinal: 1, onWarning: () => {} });
    expect(keepAll.untrimmableLayers().map((l) => l.minGroupSize)).toEqual([null, null]);
    // kSigma thresholds depend on the weights: such layers are never listed.
    const sigma = new ReversePruner(params, { rule: { rule: "kSigma", k: 0.1 }, onWarning: () => {} });
    expect(sigma.untrimmableLayers()).toEqual([]);
  });

  it("is listed exactly when a projection at that p moves nothing (random group sizes and levels)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1500 }),
        fc.oneof(fc.constantFrom(0.5, 0.9, 0.99, 0.999), fc.double({ min: 0.001, max: 1, noNaN: true })),
        fc.integer({ min: 0, max: 1000 }),
        (n, p, seed) => {
          // Distinct values, so a group with a movable weight always has one strictly above its quantile.
          const params = [param("x.weight", [1, n], seed)];
          const rp = new ReversePruner(params, { schedule: { kind: "constant", p }, onWarning: () => {} });
          const listed = rp.untrimmableLayers().length === 1;
          rp.step(0);
          const moved = rp.report().layers[0]!.trimmed;
          expect(listed).toBe(moved === 0);
          const min = listed ? rp.untrimmableLayers()[0]!.minGroupSize : null;
          if (min !== null) expect(min).toBeGreaterThan(n);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("the smallest trimmable group really is the smallest", () => {
    for (const p of [0.5, 0.9, 0.97, 0.99, 0.999, 0.9999]) {
      const w = (n: number, seed: number) => [param("x.weight", [1, n], seed)];
      const silent = { onWarning: () => {} };
      const rp = new ReversePruner(w(1, 0), { schedule: { kind: "constant", p }, ...silent });
      const min = rp.untrimmableLayers()[0]!.minGroupSize!;
      const trims = (n: number) => {
        const r = new ReversePruner(w(n, n), { schedule: { kind: "constant", p }, ...silent });
        r.step(0);
        return r.report().layers[0]!.trimmed > 0;
      };
      expect(trims(min)).toBe(true);
      expect(trims(min - 1)).toBe(false);
    }
  });

  it("refuses an onWarning that is not a function", () => {
    expect(() => new ReversePruner(mlpWeights(), { onWarning: "loud" as never })).toThrow(
      /ReversePruner: onWarning must be a function/,
    );
  });
});
