import { LambdaSchedule, type LambdaScheduleOptions } from "@quant-trim/quant";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** The curriculum written out from the method page, as a reference. */
function curriculum(t: number, T: number, w: number, q: number, r: number, h: number): number {
  if (t < w * T) return 0;
  if (t < q * T) return h * ((t - w * T) / (q * T - w * T)) ** 4;
  if (t < r * T) return h + (1 - h) * ((t - q * T) / (r * T - q * T)) ** 2;
  return 1;
}

/** Valid quant-trim options: ordered fractions with non-empty phases where λ must climb. */
const quantTrimArb = fc
  .record({
    totalSteps: fc.integer({ min: 1, max: 100000 }),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }),
    handover: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .filter(({ cuts, handover }) => {
    const [w, q, r] = [...cuts].sort((a, b) => a - b) as [number, number, number];
    return (handover === 0 || w < q) && (handover === 1 || q < r);
  })
  .map(({ totalSteps, cuts, handover }) => {
    const [warmup, quarticEnd, rampEnd] = [...cuts].sort((a, b) => a - b) as [number, number, number];
    return { kind: "quant-trim" as const, totalSteps, warmup, quarticEnd, rampEnd, handover };
  });

describe("LambdaSchedule", () => {
  it("quant-trim defaults: 0 through warm-up, quartic to 0.25, quadratic to 1 at 0.8·T", () => {
    const s = new LambdaSchedule({ kind: "quant-trim", totalSteps: 1000 });
    expect(s.options).toEqual({
      kind: "quant-trim",
      totalSteps: 1000,
      warmup: 0.2,
      quarticEnd: 0.5,
      rampEnd: 0.8,
      handover: 0.25,
    });
    expect(s.at(0)).toBe(0);
    expect(s.at(199)).toBe(0);
    expect(s.at(200)).toBe(0);
    expect(s.at(350)).toBeCloseTo(0.25 * 0.5 ** 4, 15);
    expect(s.at(500)).toBe(0.25);
    expect(s.at(650)).toBeCloseTo(0.25 + 0.75 * 0.25, 15);
    expect(s.at(800)).toBe(1);
    expect(s.at(5000)).toBe(1);
    expect(s.firstFullStep).toBe(800);
    expect([0, 300, 600, 800].map((t) => s.phase(t))).toEqual(["warmup", "quartic", "quadratic", "full"]);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s.options);
  });

  it("follows the formula, exactly 0 before warm-up ends and exactly 1 from rampEnd·T", () => {
    fc.assert(
      fc.property(quantTrimArb, fc.double({ min: -10, max: 1.2, noNaN: true }), (o, frac) => {
        const s = new LambdaSchedule(o);
        const t = frac * o.totalSteps;
        const lambda = s.at(t);
        expect(lambda).toBeGreaterThanOrEqual(0);
        expect(lambda).toBeLessThanOrEqual(1);
        expect(lambda).toBeCloseTo(
          curriculum(t, o.totalSteps, o.warmup, o.quarticEnd, o.rampEnd, o.handover),
          12,
        );
        if (t < o.warmup * o.totalSteps) expect(lambda).toBe(0);
        if (t >= o.rampEnd * o.totalSteps) expect(lambda).toBe(1);
      }),
      { numRuns: 300 },
    );
  });

  it("is non-decreasing", () => {
    fc.assert(
      fc.property(
        quantTrimArb,
        fc.double({ min: 0, max: 1.1, noNaN: true }),
        fc.double({ min: 0, max: 1.1, noNaN: true }),
        (o, a, b) => {
          const s = new LambdaSchedule(o);
          const [t1, t2] = [a, b].sort((x, y) => x - y).map((v) => v * o.totalSteps) as [number, number];
          expect(s.at(t1)).toBeLessThanOrEqual(s.at(t2));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("is continuous: no jump at the phase boundaries", () => {
    fc.assert(
      fc.property(quantTrimArb, (o) => {
        const s = new LambdaSchedule(o);
        const T = o.totalSteps;
        for (const boundary of [o.warmup * T, o.quarticEnd * T, o.rampEnd * T]) {
          const eps = 1e-7 * T;
          // The slope is at most 4·h/(T1 − Tw) or 2·(1 − h)/(T2 − T1) per step.
          const slope = Math.max(
            o.warmup < o.quarticEnd ? (4 * o.handover) / ((o.quarticEnd - o.warmup) * T) : 0,
            o.quarticEnd < o.rampEnd ? (2 * (1 - o.handover)) / ((o.rampEnd - o.quarticEnd) * T) : 0,
          );
          expect(Math.abs(s.at(boundary) - s.at(boundary - eps))).toBeLessThanOrEqual(slope * eps + 1e-9);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("constant and linear baselines", () => {
    const qat = new LambdaSchedule({ kind: "constant", value: 1 });
    expect([0, 10, 1e9].map((t) => qat.at(t))).toEqual([1, 1, 1]);
    expect(qat.firstFullStep).toBe(0);
    expect(qat.phase(3)).toBe("full");
    const half = new LambdaSchedule({ kind: "constant", value: 0.5 });
    expect(half.firstFullStep).toBe(Infinity);
    const lin = new LambdaSchedule({ kind: "linear", totalSteps: 100, start: 0.1, end: 0.6 });
    expect([0, 10, 35, 59, 60, 100].map((t) => lin.at(t))).toEqual([0, 0, 0.5, 0.98, 1, 1]);
    expect(lin.firstFullStep).toBe(60);
    expect([5, 30, 70].map((t) => lin.phase(t))).toEqual(["warmup", "linear", "full"]);
    expect(new LambdaSchedule({ kind: "linear", totalSteps: 10 }).at(5)).toBe(0.5);
  });

  it("rejects bad options and steps with messages naming them", () => {
    const bad: [unknown, RegExp][] = [
      [
        { kind: "cosine", totalSteps: 10 },
        /LambdaSchedule: kind must be 'quant-trim', 'constant' or 'linear', got "cosine"/,
      ],
      [{ kind: "quant-trim", totalSteps: 0 }, /totalSteps must be a positive integer, got 0/],
      [{ kind: "quant-trim", totalSteps: 10.5 }, /totalSteps must be a positive integer, got 10.5/],
      [
        { kind: "quant-trim", totalSteps: 10, warmup: 0.6 },
        /ordered warmup ≤ quarticEnd ≤ rampEnd, got 0.6, 0.5, 0.8/,
      ],
      [
        { kind: "quant-trim", totalSteps: 10, handover: 1.5 },
        /handover must be a number in \[0, 1\], got 1.5/,
      ],
      [
        { kind: "quant-trim", totalSteps: 10, rampEnd: Number.NaN },
        /rampEnd must be a number in \[0, 1\], got NaN/,
      ],
      [
        { kind: "quant-trim", totalSteps: 10, warmup: 0.5 },
        /warmup \(0.5\) must be below quarticEnd \(0.5\) when handover > 0/,
      ],
      [
        { kind: "quant-trim", totalSteps: 10, quarticEnd: 0.8 },
        /quarticEnd \(0.8\) must be below rampEnd \(0.8\) when handover < 1/,
      ],
      [{ kind: "quant-trim", totalSteps: 10, warmUp: 0.1 }, /unknown option 'warmUp' for kind 'quant-trim'/],
      [{ kind: "constant", value: 2 }, /value must be a number in \[0, 1\], got 2/],
      [{ kind: "constant" }, /value must be a number in \[0, 1\], got undefined/],
      [
        { kind: "linear", totalSteps: 10, start: 0.5, end: 0.5 },
        /linear start \(0.5\) must be below end \(0.5\)/,
      ],
      [null, /options must be an object/],
    ];
    for (const [options, message] of bad) {
      expect(() => new LambdaSchedule(options as LambdaScheduleOptions)).toThrow(message);
    }
    const s = new LambdaSchedule({ kind: "quant-trim", totalSteps: 10 });
    expect(() => s.at(Number.NaN)).toThrow(/LambdaSchedule.at: step must be a finite number, got NaN/);
    // Degenerate but continuous: no quartic phase when the hand-over is 0, no quadratic one when it is 1.
    expect(
      new LambdaSchedule({ kind: "quant-trim", totalSteps: 10, warmup: 0.5, handover: 0 }).at(6.5),
    ).toBeCloseTo(0.25);
    expect(new LambdaSchedule({ kind: "quant-trim", totalSteps: 10, rampEnd: 0.5, handover: 1 }).at(5)).toBe(
      1,
    );
    // ...and then λ is 1 from the end of the quartic ramp on, which firstFullStep and phase must say too.
    const early = new LambdaSchedule({ kind: "quant-trim", totalSteps: 100, handover: 1 });
    expect([49, 50, 79].map((t) => early.at(t) === 1)).toEqual([false, true, true]);
    expect(early.firstFullStep).toBe(50);
    expect([49, 50, 79].map((t) => early.phase(t))).toEqual(["quartic", "full", "full"]);
  });
});
