import {
  computeQParams,
  dequantize,
  fakeQuantize,
  fakeQuantizeInto,
  type GridSpec,
  gridSpec,
  makeQParams,
  minMax,
  type QParams,
  qRange,
  quantize,
} from "@quant-trim/quant";
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allGridCombos,
  assertForSpec,
  channelOfIndex,
  expectedRange,
  float32In,
  naiveQuantize,
  shapedData,
} from "./helpers.js";

const specs = allGridCombos();
const RUNS = 5; // per spec; there are 640 specs

/** Data, a shape [outer, channels, inner] and a random range per channel (not always covering the data). */
const caseArb = shapedData().chain(({ shape, x }) =>
  fc.record({
    shape: fc.constant(shape),
    x: fc.constant(x),
    lo: fc.array(float32In(-10, 10), { minLength: shape[1]!, maxLength: shape[1]! }),
    span: fc.array(float32In(0, 12), { minLength: shape[1]!, maxLength: shape[1]! }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  }),
);

function randomQParams(spec: GridSpec, lo: number[], span: number[]): QParams {
  const n = spec.granularity === "per-tensor" ? 1 : lo.length;
  const mins = lo.slice(0, n);
  const maxs = mins.map((v, c) => Math.fround(v + span[c]!));
  return computeQParams(mins, maxs, spec);
}

function ownQParams(spec: GridSpec, x: Float32Array, shape: number[]): QParams {
  const r = minMax(x, spec, shape);
  return computeQParams(r.min, r.max, spec);
}

const isNearest = (s: GridSpec) => s.rounding !== "floor" && s.rounding !== "stochastic";

describe("quantize / fakeQuantize properties over every grid combination", () => {
  it("codes lie in [qmin, qmax] and match the element-wise reference", () => {
    expect(specs.length).toBe(640);
    for (const spec of specs) {
      const { qmin, qmax } = expectedRange(spec);
      expect(qRange(spec)).toEqual({ qmin, qmax });
      assertForSpec(
        spec,
        caseArb,
        ({ shape, x, lo, span, seed }) => {
          const qp = randomQParams(spec, lo, span);
          const q = quantize(x, qp, spec, shape, { rng: new Rng(seed) });
          for (const v of q)
            if (v < qmin || v > qmax) throw new Error(`code ${v} outside [${qmin}, ${qmax}]`);
          expect(Array.from(q)).toEqual(Array.from(naiveQuantize(x, qp, spec, shape, new Rng(seed))));
        },
        RUNS,
      );
    }
  });

  it("fakeQuantize = dequantize ∘ quantize, and the mask marks unclamped in-range codes", () => {
    for (const spec of specs) {
      const { qmin, qmax } = expectedRange(spec);
      assertForSpec(
        spec,
        caseArb,
        ({ shape, x, lo, span, seed }) => {
          const qp = randomQParams(spec, lo, span);
          const mask = new Uint8Array(x.length);
          const fq = fakeQuantize(x, qp, spec, shape, { rng: new Rng(seed), mask });
          const q = quantize(x, qp, spec, shape, { rng: new Rng(seed) });
          expect(fq).toEqual(dequantize(q, qp, spec, shape));
          const ch = channelOfIndex(shape, spec);
          for (let i = 0; i < x.length; i++) {
            const qi = q[i]!;
            const atEnd = qi === qmin || qi === qmax;
            if (!atEnd) expect(mask[i]).toBe(1);
            if (mask[i] === 0) {
              // Clipped: the code sits at an end and the real value lies beyond it (LSQ relies on this).
              expect(atEnd).toBe(true);
              expect(qi === qmin ? x[i]! < fq[i]! : x[i]! > fq[i]!).toBe(true);
            } else {
              // In range: x lies within half a step (nearest) or one step (floor, stochastic) of the code.
              const s = qp.scale[ch[i]!]!;
              const err = Math.abs(x[i]! - fq[i]!);
              expect(err).toBeLessThanOrEqual(
                (isNearest(spec) ? 0.5 : 1) * s + 2 ** -21 * (Math.abs(x[i]!) + s),
              );
            }
          }
        },
        RUNS,
      );
    }
  });

  it("error of in-range values is at most s/2 (nearest modes) or below s (floor, stochastic)", () => {
    for (const spec of specs) {
      const { qmin, qmax } = expectedRange(spec);
      const bound = isNearest(spec) ? 0.5 : 1;
      assertForSpec(
        spec,
        caseArb,
        ({ shape, x, seed }) => {
          const qp = ownQParams(spec, x, shape);
          const fq = fakeQuantize(x, qp, spec, shape, { rng: new Rng(seed) });
          const ch = channelOfIndex(shape, spec);
          for (let i = 0; i < x.length; i++) {
            const s = qp.scale[ch[i]!]!;
            const zp = qp.zeroPoint[ch[i]!]!;
            const xi = x[i]!;
            if (xi < (qmin - zp) * s || xi > (qmax - zp) * s) continue;
            // float32 slack: one rounding of x/s (or of 1/s and the product) and one of the output.
            const slack = 2 ** -21 * (Math.abs(xi) + s);
            const err = Math.abs(fq[i]! - xi);
            if (!(err <= bound * s + slack)) throw new Error(`x=${xi} fq=${fq[i]} s=${s} err ${err}`);
          }
        },
        RUNS,
      );
    }
  });

  it("fakeQuantize is idempotent (floor/stochastic: on power-of-two scales, where x̂/s is exact)", () => {
    for (const spec of specs) {
      if (!isNearest(spec) && spec.scaleConstraint !== "power-of-two") continue;
      assertForSpec(
        spec,
        caseArb,
        ({ shape, x, lo, span, seed }) => {
          const qp = randomQParams(spec, lo, span);
          const once = fakeQuantize(x, qp, spec, shape, { rng: new Rng(seed) });
          const twice = fakeQuantize(once, qp, spec, shape, { rng: new Rng(seed + 1) });
          expect(twice).toEqual(once);
        },
        RUNS,
      );
    }
  });

  it("fakeQuantize is monotone non-decreasing within a channel (deterministic modes)", () => {
    for (const spec of specs) {
      if (spec.rounding === "stochastic") continue;
      assertForSpec(
        spec,
        caseArb,
        ({ shape, x, lo, span }) => {
          const qp = randomQParams(spec, lo, span);
          const fq = fakeQuantize(x, qp, spec, shape);
          const ch = channelOfIndex(shape, spec);
          for (let i = 0; i < x.length; i++)
            for (let j = 0; j < x.length; j++)
              if (ch[i] === ch[j] && x[i]! <= x[j]! && !(fq[i]! <= fq[j]!)) {
                throw new Error(`x ${x[i]} ≤ ${x[j]} but fq ${fq[i]} > ${fq[j]}`);
              }
        },
        RUNS,
      );
    }
  });

  it("zero maps to the zero point and back to exactly 0", () => {
    for (const spec of specs) {
      assertForSpec(
        spec,
        caseArb,
        ({ shape, x, lo, span, seed }) => {
          const qp = randomQParams(spec, lo, span);
          const zeros = new Float32Array(x.length);
          const q = quantize(zeros, qp, spec, shape, { rng: new Rng(seed) });
          const fq = fakeQuantize(zeros, qp, spec, shape, { rng: new Rng(seed) });
          const ch = channelOfIndex(shape, spec);
          for (let i = 0; i < x.length; i++) {
            expect(q[i]).toBe(qp.zeroPoint[ch[i]!]);
            expect(fq[i] === 0).toBe(true);
          }
        },
        RUNS,
      );
    }
  });

  it("per-channel equals per-tensor applied to each channel slice", () => {
    for (const spec of specs) {
      if (spec.granularity !== "per-channel" || spec.rounding === "stochastic") continue;
      const sliceSpec = gridSpec({ ...spec, granularity: "per-tensor" });
      assertForSpec(
        spec,
        caseArb,
        ({ shape, x, lo, span }) => {
          const qp = randomQParams(spec, lo, span);
          const full = fakeQuantize(x, qp, spec, shape);
          const ch = channelOfIndex(shape, spec);
          for (let c = 0; c < shape[1]!; c++) {
            const idx = [...ch.keys()].filter((i) => ch[i] === c);
            const slice = Float32Array.from(idx, (i) => x[i]!);
            const part = fakeQuantize(slice, makeQParams(qp.scale[c]!, qp.zeroPoint[c]!), sliceSpec);
            expect(Array.from(part)).toEqual(idx.map((i) => full[i]!));
          }
        },
        RUNS,
      );
    }
  });

  it("ties follow the rounding mode", () => {
    // Half-step inputs are exact with a power-of-two scale: x = (k + 0.5) · 2^-3.
    const s = 0.125;
    const ks = [-3, -2, -1, 0, 1, 2];
    const x = Float32Array.from(ks, (k) => (k + 0.5) * s);
    const expected: Record<string, number[]> = {
      "half-even": [-2, -2, 0, 0, 2, 2], // −2.5 −1.5 −0.5 0.5 1.5 2.5
      "half-away": [-3, -2, -1, 1, 2, 3],
      "half-up": [-2, -1, 0, 1, 2, 3],
      floor: [-3, -2, -1, 0, 1, 2],
    };
    for (const [rounding, codes] of Object.entries(expected)) {
      for (const scaleApplication of ["divide", "multiply-reciprocal"] as const) {
        const spec = gridSpec({ rounding: rounding as GridSpec["rounding"], scaleApplication });
        expect(Array.from(quantize(x, makeQParams(s, 0), spec)), rounding).toEqual(codes);
      }
    }
    // With an odd zero point the tie is decided before the zero point is added (as every system does).
    const shifted = gridSpec({ symmetric: false, rounding: "half-even" });
    expect(Array.from(quantize(Float32Array.of(0.5 * s), makeQParams(s, 3), shifted))).toEqual([3]);
  });

  it("stochastic rounding is unbiased, reproducible per seed, and fixes integers", () => {
    const spec = gridSpec({ rounding: "stochastic" });
    const qp = makeQParams(0.25, 0);
    const n = 20000;
    const x = new Float32Array(n).fill(0.3 * 0.25);
    const q = quantize(x, qp, spec, undefined, { rng: new Rng(7) });
    const mean = q.reduce((a, b) => a + b, 0) / n;
    expect(Math.abs(mean - Math.fround(0.3 * 0.25) / 0.25)).toBeLessThan(0.02);
    expect(quantize(x, qp, spec, undefined, { rng: new Rng(7) })).toEqual(q);
    expect(new Set(q)).toEqual(new Set([0, 1]));
    const onGrid = Float32Array.from({ length: 100 }, (_, i) => (i - 50) * 0.25);
    expect(Array.from(quantize(onGrid, qp, spec, undefined, { rng: new Rng(1) }))).toEqual(
      Array.from({ length: 100 }, (_, i) => Math.min(127, Math.max(-128, i - 50))),
    );
  });

  it("non-finite inputs: ±Infinity saturates with mask 0, NaN stays NaN in fakeQuantize and throws in quantize", () => {
    for (const rounding of ["half-even", "half-away", "half-up", "floor", "stochastic"] as const) {
      const spec = gridSpec({ symmetric: false, rounding });
      const qp = makeQParams(0.1, 3);
      const mask = new Uint8Array(3);
      const fq = fakeQuantize(Float32Array.of(Infinity, -Infinity, Number.NaN), qp, spec, undefined, {
        mask,
        rng: new Rng(1),
      });
      expect(fq[0]).toBe(Math.fround((127 - 3) * Math.fround(0.1)));
      expect(fq[1]).toBe(Math.fround((-128 - 3) * Math.fround(0.1)));
      expect(fq[2]).toBeNaN();
      expect(Array.from(mask)).toEqual([0, 0, 0]);
      expect(
        Array.from(quantize(Float32Array.of(Infinity, -Infinity), qp, spec, undefined, { rng: new Rng(1) })),
      ).toEqual([127, -128]);
      expect(() =>
        quantize(Float32Array.of(1, Number.NaN), qp, spec, undefined, { rng: new Rng(1) }),
      ).toThrow(/quantize: x\[1\] is NaN/);
    }
  });

  it("fakeQuantizeInto works in place and with negative axes", () => {
    const spec = gridSpec({ granularity: "per-channel", axis: -1, symmetric: false });
    const x = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 3);
    const r = minMax(x, spec, [4, 3]);
    expect(r.min.length).toBe(3);
    const qp = computeQParams(r.min, r.max, spec);
    const expected = fakeQuantize(x, qp, spec, [4, 3]);
    const same = gridSpec({ ...spec, axis: 1 });
    expect(fakeQuantize(x, qp, same, [4, 3])).toEqual(expected);
    const inPlace = x.slice();
    fakeQuantizeInto(inPlace, inPlace, qp, spec, [4, 3]);
    expect(inPlace).toEqual(expected);
  });
});
