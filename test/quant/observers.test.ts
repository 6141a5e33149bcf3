import {
  computeQParams,
  EmaMinMaxObserver,
  fakeQuantize,
  gridSpec,
  int4SymmetricPerTensor,
  MinMaxObserver,
  MseObserver,
  type Observer,
  type ObserverState,
  PercentileObserver,
  restoreObserver,
  uint8AsymmetricPerTensor,
} from "@quant-trim/quant";
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { float32In } from "./helpers.js";

const perChannelSpec = gridSpec({ granularity: "per-channel", axis: 1, symmetric: false });

/** Batches of [outer, channels, inner] data with occasional NaN/±Infinity. */
const batchesArb = fc
  .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }))
  .chain(([a, c, k]) =>
    fc.record({
      shape: fc.constant([a, c, k]),
      batches: fc.array(
        fc
          .array(
            fc.oneof(
              { weight: 12, arbitrary: float32In(-100, 100) },
              { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity) },
            ),
            { minLength: a * c * k, maxLength: a * c * k },
          )
          .map((xs) => Float32Array.from(xs)),
        { minLength: 1, maxLength: 4 },
      ),
    }),
  );

/** Exact per-channel finite values of all batches (channel = index along axis 1). */
function finiteByChannel(shape: readonly number[], batches: Float32Array[]): number[][] {
  const [, c, k] = shape as [number, number, number];
  const out: number[][] = Array.from({ length: c }, () => []);
  for (const b of batches)
    b.forEach((v, i) => {
      if (Number.isFinite(v)) out[Math.floor(i / k) % c]!.push(v);
    });
  return out;
}

describe("MinMaxObserver", () => {
  it("tracks the exact min/max of finite values per channel and counts the rest", () => {
    fc.assert(
      fc.property(batchesArb, ({ shape, batches }) => {
        const obs = new MinMaxObserver({ granularity: "per-channel", axis: 1 });
        for (const b of batches) obs.observe(b, shape);
        const byChannel = finiteByChannel(shape, batches);
        const r = obs.range();
        byChannel.forEach((vs, c) => {
          expect(r.min[c]).toBe(vs.length ? Math.min(...vs) + 0 : Infinity); // −0 is reported as 0
          expect(r.max[c]).toBe(vs.length ? Math.max(...vs) + 0 : -Infinity);
        });
        const bad = batches.reduce((n, b) => n + b.filter((v) => !Number.isFinite(v)).length, 0);
        expect(obs.nonFiniteCount).toBe(bad);
        const qp = obs.qparams(perChannelSpec); // valid even for channels that saw nothing finite
        expect(qp.scale.every((s) => s > 0 && Number.isFinite(s))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it("'reject' throws on NaN/Infinity and leaves the statistics untouched", () => {
    const obs = new MinMaxObserver({ nonFinite: "reject" });
    obs.observe(Float32Array.of(1, 2));
    expect(() => obs.observe(Float32Array.of(-5, Number.NaN))).toThrow(
      /MinMaxObserver.observe: x\[1\] = NaN is not finite \(nonFinite: 'reject'\)/,
    );
    expect(obs.range()).toEqual({ min: Float32Array.of(1), max: Float32Array.of(2) });
    expect(obs.nonFiniteCount).toBe(0);
  });

  it("unused, empty and constant inputs give valid qparams; freeze stops updates", () => {
    const spec = uint8AsymmetricPerTensor;
    const obs = new MinMaxObserver();
    expect(obs.range()).toEqual({ min: Float32Array.of(Infinity), max: Float32Array.of(-Infinity) });
    expect(obs.qparams(spec)).toEqual({ scale: Float32Array.of(1), zeroPoint: Int32Array.of(0) });
    obs.observe(new Float32Array(0));
    expect(obs.range().min[0]).toBe(Infinity);
    obs.observe(new Float32Array(8).fill(2.5));
    expect(obs.range()).toEqual({ min: Float32Array.of(2.5), max: Float32Array.of(2.5) });
    const qp = obs.qparams(spec);
    expect(fakeQuantize(Float32Array.of(2.5), qp, spec)[0]).toBeCloseTo(2.5, 5);
    obs.freeze();
    expect(obs.frozen).toBe(true);
    obs.observe(Float32Array.of(-100, 100));
    expect(obs.range().max[0]).toBe(2.5);
    obs.unfreeze().observe(Float32Array.of(-100, 100));
    expect(obs.range().max[0]).toBe(100);
  });

  it("accepts a spec whose axis names the same axis once the rank is known (−1 ≡ 2 at rank 3)", () => {
    const obs = new MinMaxObserver({ granularity: "per-channel", axis: -1 });
    const spec = gridSpec({ granularity: "per-channel", axis: 2 });
    expect(() => obs.qparams(spec)).toThrow(/axis 2.*axis -1/);
    obs.observe(Float32Array.of(1, -2, 3, -4, 5, -6), [1, 2, 3]);
    expect(Array.from(obs.qparams(spec).scale)).toEqual(
      Array.from(obs.qparams(gridSpec({ granularity: "per-channel", axis: -1 })).scale),
    );
    expect(() => obs.qparams(gridSpec({ granularity: "per-channel", axis: 1 }))).toThrow(/axis 1/);
  });

  it("rejects channel-count changes, missing shapes and mismatched specs", () => {
    const obs = new MinMaxObserver({ granularity: "per-channel", axis: 0 });
    obs.observe(new Float32Array(6), [3, 2]);
    expect(() => obs.observe(new Float32Array(6), [2, 3])).toThrow(
      /MinMaxObserver.observe: shape \[2, 3\] has 2 channels on axis 0, but this observer tracks 3/,
    );
    expect(() => obs.observe(new Float32Array(6))).toThrow(/needs the shape/);
    expect(() => obs.qparams(gridSpec())).toThrow(
      /MinMaxObserver.qparams: spec is per-tensor \(axis 0\) but this observer is per-channel \(axis 0\)/,
    );
    expect(() => obs.qparams(gridSpec({ granularity: "per-channel", axis: 1 }))).toThrow(/axis 1/);
    expect(() => new MinMaxObserver({ granularity: "per-row" as "per-tensor" })).toThrow(
      /MinMaxObserver: granularity/,
    );
    expect(() => new MinMaxObserver({ nonFinite: "drop" as "exclude" })).toThrow(
      /nonFinite must be 'exclude' or 'reject'/,
    );
  });
});

describe("EmaMinMaxObserver", () => {
  it("first batch sets the range, later batches move it by the averaging constant (float32)", () => {
    fc.assert(
      fc.property(batchesArb, fc.constantFrom(0.01, 0.5, 1), ({ shape, batches }, c) => {
        const obs = new EmaMinMaxObserver({ granularity: "per-channel", axis: 1, averagingConstant: c });
        const k = shape[2]!;
        const C = shape[1]!;
        const lo = new Array<number>(C).fill(Infinity);
        const hi = new Array<number>(C).fill(-Infinity);
        const f = Math.fround;
        for (const b of batches) {
          obs.observe(b, shape);
          for (let ch = 0; ch < C; ch++) {
            const vs = Array.from(b).filter((v, i) => Number.isFinite(v) && Math.floor(i / k) % C === ch);
            if (!vs.length) continue;
            const bmin = Math.min(...vs) + 0;
            const bmax = Math.max(...vs) + 0;
            if (lo[ch] === Infinity) {
              lo[ch] = bmin;
              hi[ch] = bmax;
            } else {
              lo[ch] = f(lo[ch]! + f(f(c) * f(bmin - lo[ch]!)));
              hi[ch] = f(hi[ch]! + f(f(c) * f(bmax - hi[ch]!)));
              if (lo[ch]! > hi[ch]!) lo[ch] = hi[ch] = f(lo[ch]! / 2 + hi[ch]! / 2);
            }
          }
        }
        expect(Array.from(obs.range().min)).toEqual(lo);
        expect(Array.from(obs.range().max)).toEqual(hi);
      }),
      { numRuns: 100 },
    );
  });

  it("keeps min ≤ max when float32 rounding would cross the averages (the case CI found)", () => {
    const obs = new EmaMinMaxObserver({ averagingConstant: 1 });
    obs.observe(Float32Array.of(-9.536744300930877e-7, 0));
    obs.observe(Float32Array.of(-3.49588790412921e-23));
    const mid = Math.fround(0 / 2 + Math.fround(-3.49588790412921e-23) / 2);
    expect(Array.from(obs.range().min)).toEqual([mid]);
    expect(Array.from(obs.range().max)).toEqual([mid]);
    // a later batch averages from there; it does not restart the range as if it were empty
    obs.observe(Float32Array.of(0, 1.401298464324817e-45));
    expect(obs.range().max[0]).toBe(Math.fround(mid + Math.fround(1.401298464324817e-45 - mid)));
    expect(() => restoreObserver(obs.state())).not.toThrow();
  });

  it("defaults to 0.01 and validates the constant", () => {
    const obs = new EmaMinMaxObserver();
    expect(obs.averagingConstant).toBe(0.01);
    obs.observe(Float32Array.of(0, 1)).observe(Float32Array.of(0, 2));
    expect(obs.range().max[0]).toBe(Math.fround(1 + Math.fround(Math.fround(0.01) * 1)));
    expect(() => new EmaMinMaxObserver({ averagingConstant: 0 })).toThrow(
      /averagingConstant must be in \(0, 1\], got 0/,
    );
    expect(() => new EmaMinMaxObserver({ averagingConstant: 1.5 })).toThrow(/got 1.5/);
  });
});

describe("PercentileObserver", () => {
  it("estimates the percentile within one bin width, and the width stays below 2·span/(bins − 3)", () => {
    const bins = 64;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            center: float32In(-1000, 1000),
            spread: fc.constantFrom(0, 1e-3, 1, 50),
            n: fc.integer({ min: 1, max: 200 }),
            seed: fc.integer({ min: 0, max: 1e6 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.constantFrom(99, 99.9, 90, 100),
        (batchSpecs, p) => {
          const obs = new PercentileObserver({ percentile: p, bins });
          const all: number[] = [];
          for (const { center, spread, n, seed } of batchSpecs) {
            const rng = new Rng(seed);
            const b = Float32Array.from({ length: n }, () => center + spread * rng.normal());
            obs.observe(b);
            all.push(...b);
          }
          all.sort((a, b) => a - b);
          const span = all[all.length - 1]! - all[0]!;
          const w = obs.binWidth();
          expect(w).toBeLessThanOrEqual((2 * span) / (bins - 3) + 1e-12 * Math.abs(all[0]!));
          const r = obs.range();
          const exact = (q: number) => all[Math.floor(q * (all.length - 1))]!;
          const tol = w * (1 + 1e-9) + 1e-6 * Math.max(Math.abs(all[0]!), Math.abs(all[all.length - 1]!));
          expect(Math.abs(r.max[0]! - exact(p / 100))).toBeLessThanOrEqual(tol);
          expect(Math.abs(r.min[0]! - exact(1 - p / 100))).toBeLessThanOrEqual(tol);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("clips a rare outlier that min/max would keep", () => {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 20000 }, () => rng.normal());
    x[123] = 1000;
    const p = new PercentileObserver({ percentile: 99.9 }).observe(x);
    const m = new MinMaxObserver().observe(x);
    expect(m.range().max[0]).toBe(1000);
    expect(p.range().max[0]).toBeGreaterThan(2.5);
    expect(p.range().max[0]).toBeLessThan(4);
  });

  it("validates its options", () => {
    expect(() => new PercentileObserver({ percentile: 40 })).toThrow(
      /percentile must be in \(50, 100\], got 40/,
    );
    expect(() => new PercentileObserver({ bins: 3 })).toThrow(
      /bins must be an integer in \[8, 2\^20\], got 3/,
    );
  });
});

describe("MseObserver", () => {
  it("never does worse than the min/max range on the data it saw (up to histogram resolution)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(0, 1, 10, 100), (seed, outlier) => {
        const rng = new Rng(seed);
        const x = Float32Array.from({ length: 2000 }, () => rng.normal());
        x[0] = outlier;
        const spec = int4SymmetricPerTensor;
        const mse = new MseObserver({ spec }).observe(x);
        const mm = new MinMaxObserver().observe(x);
        const err = (qp: ReturnType<typeof computeQParams>) => {
          const fq = fakeQuantize(x, qp, spec);
          return fq.reduce((a, v, i) => a + (v - x[i]!) ** 2, 0);
        };
        const chosen = err(mse.qparams());
        expect(chosen).toBeLessThanOrEqual(err(mm.qparams(spec)) * 1.02);
        // and close to the best clipping ratio found by brute force on the raw data
        let best = Infinity;
        const a = Math.max(-mm.range().min[0]!, mm.range().max[0]!);
        for (let k = 0; k < 100; k++) {
          const r = 1 - (k * 0.95) / 99;
          best = Math.min(best, err(computeQParams(-r * a, r * a, spec)));
        }
        expect(chosen).toBeLessThanOrEqual(best * 1.05);
      }),
      { numRuns: 15 },
    );
  });

  it("per-channel search matches a per-tensor search on each channel", () => {
    const rng = new Rng(11);
    const x = Float32Array.from({ length: 3 * 400 }, (_, i) => rng.normal() * (1 + (i % 3)));
    const spec = gridSpec({ bits: 4, granularity: "per-channel", axis: 1 });
    const obs = new MseObserver({ spec }).observe(x, [400, 3]);
    const r = obs.range();
    for (let c = 0; c < 3; c++) {
      const slice = x.filter((_, i) => i % 3 === c);
      const single = new MseObserver({ spec: gridSpec({ ...spec, granularity: "per-tensor" }) }).observe(
        slice,
      );
      expect([r.min[c], r.max[c]]).toEqual([single.range().min[0], single.range().max[0]]);
    }
  });

  it("requires a spec and validates options", () => {
    expect(() => new MseObserver(undefined as never)).toThrow(/MseObserver: options.spec .* is required/);
    expect(() => new MseObserver({ spec: gridSpec(), candidates: 0 })).toThrow(
      /candidates must be an integer/,
    );
    expect(() => new MseObserver({ spec: gridSpec(), minRatio: 0 })).toThrow(/minRatio must be in \(0, 1\]/);
    const constant = new MseObserver({ spec: gridSpec() }).observe(new Float32Array(10).fill(-3));
    expect(constant.range()).toEqual({ min: Float32Array.of(-3), max: Float32Array.of(-3) });
  });
});

describe("observer state", () => {
  const makers: [string, () => Observer][] = [
    ["MinMaxObserver", () => new MinMaxObserver({ granularity: "per-channel", axis: 1 })],
    [
      "EmaMinMaxObserver",
      () => new EmaMinMaxObserver({ granularity: "per-channel", axis: 1, averagingConstant: 0.1 }),
    ],
    [
      "PercentileObserver",
      () => new PercentileObserver({ granularity: "per-channel", axis: 1, bins: 32, percentile: 99 }),
    ],
    ["MseObserver", () => new MseObserver({ spec: perChannelSpec, bins: 32, candidates: 10 })],
  ];

  it("round-trips through JSON and continues exactly like the original", () => {
    for (const [name, make] of makers) {
      fc.assert(
        fc.property(batchesArb, ({ shape, batches }) => {
          const a = make();
          for (const b of batches.slice(0, -1)) a.observe(b, shape);
          const json = JSON.stringify(a.state());
          const b = restoreObserver(JSON.parse(json) as ObserverState);
          expect(b.type, name).toBe(name);
          expect(b.state()).toEqual(a.state());
          a.observe(batches[batches.length - 1]!, shape);
          b.observe(batches[batches.length - 1]!, shape);
          expect(b.range()).toEqual(a.range());
          expect(b.qparams(perChannelSpec)).toEqual(a.qparams(perChannelSpec));
          expect(b.nonFiniteCount).toBe(a.nonFiniteCount);
          const frozen = restoreObserver(make().freeze().state());
          expect(frozen.frozen).toBe(true);
        }),
        { numRuns: 25 },
      );
    }
  });

  it("rejects malformed states without changing the observer", () => {
    const obs = new PercentileObserver({ bins: 16 }).observe(Float32Array.of(1, 2, 3));
    const good = obs.state();
    const before = JSON.stringify(good);
    const broken: [Record<string, unknown>, RegExp][] = [
      [
        { type: "MinMaxObserver" },
        /PercentileObserver.loadState: state is for "MinMaxObserver", not PercentileObserver/,
      ],
      [{ version: 2 }, /unsupported state version 2/],
      [{ granularity: "per-channel" }, /state is per-channel/],
      [{ channels: 2 }, /invalid channel count 2/],
      [{ min: ["x"] }, /min\[0\] = "x" is not a finite number or null/],
      [{ min: [5] }, /channel 0 has inconsistent bounds \[5, 3\]/],
      [{ nonFiniteCount: -1 }, /nonFiniteCount must be a non-negative integer/],
      [
        { histogram: { bins: 16, channels: [{ lo: 1, width: 0.1, total: 9, first: 0, counts: [1, 2] }] } },
        /counts sum to 3 but total is 9/,
      ],
      [
        { histogram: { bins: 16, channels: [{ lo: 1, width: 0.1, total: 3, first: 15, counts: [1, 2] }] } },
        /counts run past the last bin/,
      ],
      [
        { histogram: { bins: 32, channels: [{ lo: 1, width: 0.1, total: 1, first: 0, counts: [1] }] } },
        /state has 32 bins but this observer uses 16/,
      ],
      [{ min: [null], max: [null] }, /channel 0 has 3 counted values but bounds/],
    ];
    for (const [patch, message] of broken) {
      expect(() => obs.loadState({ ...good, ...patch } as ObserverState)).toThrow(message);
      expect(JSON.stringify(obs.state())).toBe(before);
    }
    expect(() => restoreObserver({ ...good, type: "KlObserver" })).toThrow(
      /restoreObserver: unknown observer type "KlObserver"/,
    );
  });
});
