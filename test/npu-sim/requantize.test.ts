import {
  type IntArray,
  type OutputStage,
  overflowCounts,
  prepareOutputStage,
  REQUANT_MODES,
  type RequantMode,
  requantizeFloat32,
  requantizeGemmlowp,
  requantizeInto,
  requantizePowerOfTwo,
  requantizeSingleRounding,
  requantizeValue,
  type ShiftRounding,
} from "@quant-trim/npu-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  int32,
  loadVectors,
  refMbqmDouble,
  refMbqmSingle,
  refRequant,
  refRoundHalfEven,
  refShift,
} from "./reference.js";

const vectors = loadVectors();
const RUNS = { numRuns: 1500 };
const ROUNDINGS: readonly ShiftRounding[] = ["half-up", "half-away", "half-even"];

/** Effective scales every mode accepts: powers of two for "power-of-two", anything below 2^30 otherwise. */
function scaleFor(mode: RequantMode): fc.Arbitrary<number> {
  if (mode === "power-of-two") return fc.integer({ min: -31, max: 31 }).map((k) => 2 ** k);
  return fc.oneof(
    fc.double({ min: 1e-9, max: 1, noNaN: true }),
    fc.double({ min: 1, max: 4096, noNaN: true }),
    fc.integer({ min: -20, max: 8 }).map((k) => 2 ** k),
  );
}

const clampRange = fc
  .tuple(fc.integer({ min: -128, max: 127 }), fc.integer({ min: -128, max: 127 }))
  .map(([a, b]) => ({ qmin: Math.min(a, b), qmax: Math.max(a, b) }));

describe("reference vectors (integer-semantics §8)", () => {
  it("onnxruntime float requant vs TFLite fixed point at effective scale 0.5", () => {
    const { effectiveScale, zeroPoint, rows } = vectors.floatRequantVsFixedPoint;
    const stage = (mode: RequantMode) =>
      prepareOutputStage({
        mode,
        effectiveScale: [effectiveScale],
        outZeroPoint: zeroPoint,
        qmin: -128,
        qmax: 127,
      });
    const ort = stage("float32");
    const tflite = stage("gemmlowp");
    for (const { acc, onnxruntime, tflite: want } of rows) {
      expect(requantizeValue(acc, ort, 0), `ORT ${acc}`).toBe(onnxruntime);
      expect(requantizeValue(acc, tflite, 0), `TFLite ${acc}`).toBe(want);
      expect(requantizeFloat32(acc, effectiveScale)).toBe(onnxruntime);
    }
  });

  it("an output stage at scale 0.25 reproduces the double- and single-rounding table", () => {
    const { rows } = vectors.doubleVsSingleRounding;
    const base = { effectiveScale: [0.25], outZeroPoint: 0, qmin: -128, qmax: 127 };
    const double = prepareOutputStage({ mode: "gemmlowp", ...base });
    const single = prepareOutputStage({ mode: "single-rounding", ...base });
    expect(Array.from(double.multiplier)).toEqual([vectors.doubleVsSingleRounding.multiplier]);
    expect(Array.from(double.shift)).toEqual([vectors.doubleVsSingleRounding.shift]);
    for (const row of rows) {
      expect(requantizeValue(row.x, double, 0)).toBe(row.double);
      expect(requantizeValue(row.x, single, 0)).toBe(row.single);
    }
  });
});

describe("each mode against the reference", () => {
  for (const mode of REQUANT_MODES) {
    it(`${mode}: requantizeValue on random int32 accumulators`, () => {
      fc.assert(
        fc.property(
          int32(),
          scaleFor(mode),
          fc.integer({ min: -128, max: 127 }),
          clampRange,
          fc.constantFrom(...ROUNDINGS),
          (acc, scale, zp, { qmin, qmax }, rounding) => {
            const stage: OutputStage = { mode, effectiveScale: [scale], outZeroPoint: zp, qmin, qmax };
            if (mode === "power-of-two") stage.shiftRounding = rounding;
            const want = Math.min(Math.max(refRequant(mode, acc, scale, rounding) + zp, qmin), qmax);
            expect(requantizeValue(acc, prepareOutputStage(stage), 0)).toBe(want);
          },
        ),
        RUNS,
      );
    });
  }

  it("the plain scalar functions match the references", () => {
    fc.assert(
      fc.property(
        int32(),
        fc.integer({ min: 2 ** 30, max: 2 ** 31 - 1 }),
        fc.integer({ min: -31, max: 30 }),
        (x, m, s) => {
          expect(requantizeGemmlowp(x, m, s)).toBe(refMbqmDouble(x, m, s));
          expect(requantizeSingleRounding(x, m, s)).toBe(refMbqmSingle(x, m, s));
        },
      ),
      RUNS,
    );
    fc.assert(
      fc.property(int32(), fc.double({ min: 1e-6, max: 1e3, noNaN: true }), (x, s) => {
        const s32 = Math.fround(s);
        expect(requantizeFloat32(x, s32)).toBe(refRoundHalfEven(Math.fround(Math.fround(x) * s32)));
      }),
      RUNS,
    );
  });

  it("power-of-two shifts on constructed ties follow each tie rule", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: -(2 ** 20), max: 2 ** 20 }),
        fc.constantFrom(...ROUNDINGS),
        (s, k, rounding) => {
          const x = (2 * k + 1) * 2 ** (s - 1); // exactly k + 1/2 after the shift
          if (x < -(2 ** 31) || x >= 2 ** 31) return;
          const got = requantizePowerOfTwo(x, -s, rounding);
          expect(got).toBe(refShift(x, -s, rounding));
          const floor = Math.floor(x / 2 ** s);
          const expected =
            rounding === "half-up"
              ? floor + 1
              : rounding === "half-away"
                ? x < 0
                  ? floor
                  : floor + 1
                : floor % 2 === 0
                  ? floor
                  : floor + 1;
          expect(got).toBe(expected);
        },
      ),
      RUNS,
    );
    expect(requantizePowerOfTwo(-3, -1)).toBe(-1); // −1.5, default half-up
    expect(requantizePowerOfTwo(-3, -1, "half-away")).toBe(-2);
    expect(requantizePowerOfTwo(-3, -1, "half-even")).toBe(-2);
    expect(requantizePowerOfTwo(5, 3)).toBe(40); // left shifts are exact
  });
});

const containers = [
  { make: (n: number) => new Int8Array(n), min: -128, max: 127 },
  { make: (n: number) => new Uint8Array(n), min: 0, max: 255 },
  { make: (n: number) => new Int16Array(n), min: -32768, max: 32767 },
  { make: (n: number) => new Int32Array(n), min: -(2 ** 31), max: 2 ** 31 - 1 },
];

describe("requantizeInto", () => {
  it("every element takes its channel floor(i / inner) % channels, per mode and container; clamps counted", () => {
    const caseArb = fc
      .record({
        mode: fc.constantFrom(...REQUANT_MODES),
        outer: fc.integer({ min: 1, max: 3 }),
        channels: fc.integer({ min: 1, max: 5 }),
        inner: fc.integer({ min: 1, max: 6 }),
        perChannel: fc.boolean(),
        container: fc.integer({ min: 0, max: 3 }),
        rounding: fc.constantFrom(...ROUNDINGS),
        seed: fc.integer(),
      })
      .chain((c) =>
        fc.record({
          c: fc.constant(c),
          scales: fc.array(scaleFor(c.mode), {
            minLength: c.perChannel ? c.channels : 1,
            maxLength: c.perChannel ? c.channels : 1,
          }),
          acc: fc.array(int32(), {
            minLength: c.outer * c.channels * c.inner,
            maxLength: c.outer * c.channels * c.inner,
          }),
          zpFrac: fc.double({ min: 0, max: 1, noNaN: true }),
          lo: fc.double({ min: 0, max: 1, noNaN: true }),
          hi: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
      );
    fc.assert(
      fc.property(caseArb, ({ c, scales, acc, zpFrac, lo, hi }) => {
        const box = containers[c.container]!;
        // Clamp bounds and zero point inside the container, within ±300 so clamps happen often.
        const lo0 = Math.max(box.min, -300);
        const hi0 = Math.min(box.max, 300);
        const a = lo0 + Math.floor(Math.min(lo, hi) * (hi0 - lo0));
        const b = lo0 + Math.floor(Math.max(lo, hi) * (hi0 - lo0));
        const zp = a + Math.floor(zpFrac * (b - a));
        const stage: OutputStage = {
          mode: c.mode,
          effectiveScale: scales,
          outZeroPoint: zp,
          qmin: a,
          qmax: b,
        };
        if (c.mode === "power-of-two") stage.shiftRounding = c.rounding;
        const prepared = prepareOutputStage(stage);
        const out: IntArray = box.make(acc.length);
        const counts = overflowCounts();
        requantizeInto(Int32Array.from(acc), prepared, out, { channels: c.channels, inner: c.inner }, counts);
        let clamps = 0;
        for (let i = 0; i < acc.length; i++) {
          const channel = c.perChannel ? Math.floor(i / c.inner) % c.channels : 0;
          const raw = refRequant(c.mode, acc[i]!, scales[channel]!, c.rounding) + zp;
          if (raw < a || raw > b) clamps++;
          expect(out[i], `element ${i}`).toBe(Math.min(Math.max(raw, a), b));
          expect(requantizeValue(acc[i]!, prepared, channel)).toBe(out[i]);
        }
        expect(counts).toEqual({ accumulator: 0, int16Pairs: 0, outputClamps: clamps, elements: acc.length });
      }),
      { numRuns: 400 },
    );
  });

  it("adds to existing counts and counts nothing without an OverflowCounts", () => {
    const prepared = prepareOutputStage({
      mode: "gemmlowp",
      effectiveScale: [1],
      outZeroPoint: 0,
      qmin: -10,
      qmax: 10,
    });
    const counts = { accumulator: 7, int16Pairs: 1, outputClamps: 2, elements: 5 };
    const out = new Int8Array(4);
    requantizeInto(Int32Array.from([-20, -10, 10, 20]), prepared, out, { channels: 1, inner: 1 }, counts);
    expect(Array.from(out)).toEqual([-10, -10, 10, 10]);
    expect(counts).toEqual({ accumulator: 7, int16Pairs: 1, outputClamps: 4, elements: 9 });
    requantizeInto(Int32Array.from([-20, -10, 10, 20]), prepared, out, { channels: 1, inner: 1 });
    expect(Array.from(out)).toEqual([-10, -10, 10, 10]);
  });
});

describe("bad input", () => {
  const good: OutputStage = {
    mode: "gemmlowp",
    effectiveScale: [0.5, 0.25],
    outZeroPoint: 3,
    qmin: -128,
    qmax: 127,
  };

  it("prepareOutputStage names the field and channel", () => {
    const bad = (patch: Record<string, unknown>) => () =>
      prepareOutputStage({ ...good, ...patch } as unknown as OutputStage);
    expect(bad({ mode: "tflite" })).toThrow(/prepareOutputStage: mode must be one of/);
    expect(bad({ extra: 1 })).toThrow(/prepareOutputStage: unknown field 'extra'/);
    expect(bad({ effectiveScale: [0.5, Number.NaN] })).toThrow(
      /effectiveScale\[1\] = NaN must be a finite number > 0/,
    );
    expect(bad({ effectiveScale: [0] })).toThrow(/effectiveScale\[0\] = 0/);
    expect(bad({ effectiveScale: [-0.5] })).toThrow(/effectiveScale\[0\] = -0.5/);
    expect(bad({ effectiveScale: [Number.POSITIVE_INFINITY] })).toThrow(/effectiveScale\[0\] = Infinity/);
    expect(bad({ effectiveScale: [] })).toThrow(/effectiveScale must hold at least one scale/);
    expect(bad({ effectiveScale: [0.5, 2 ** 31] })).toThrow(
      /effectiveScale\[1\] = 2147483648 needs shift 32/,
    );
    expect(bad({ mode: "float32", effectiveScale: [1e-50] })).toThrow(
      /effectiveScale\[0\] = 1e-50 is 0 or infinite in float32/,
    );
    expect(bad({ mode: "power-of-two", effectiveScale: [0.25, 0.3] })).toThrow(
      /mode 'power-of-two' needs effectiveScale\[1\] to be an exact power of two, got 0.3/,
    );
    expect(bad({ mode: "power-of-two", effectiveScale: [2 ** -32] })).toThrow(/effectiveScale\[0\] = 2\^-32/);
    expect(bad({ qmin: 5, qmax: 4 })).toThrow(/qmin 5 is above qmax 4/);
    expect(bad({ outZeroPoint: 0.5 })).toThrow(/outZeroPoint must be an int32 integer/);
    expect(bad({ qmax: 2 ** 31 })).toThrow(/qmax must be an int32 integer/);
    expect(bad({ shiftRounding: "half-up" })).toThrow(/shiftRounding applies to mode 'power-of-two' only/);
    expect(bad({ mode: "power-of-two", effectiveScale: [1], shiftRounding: "down" })).toThrow(
      /shiftRounding must be one of/,
    );
    expect(() => prepareOutputStage(null as unknown as OutputStage)).toThrow(/prepareOutputStage: stage/);
  });

  it("requantizeInto checks types, lengths, layout and the container", () => {
    const p = prepareOutputStage(good);
    const acc = new Int32Array(4);
    const layout = { channels: 2, inner: 2 };
    expect(() =>
      requantizeInto(new Int16Array(4) as unknown as Int32Array, p, new Int8Array(4), layout),
    ).toThrow(/requantizeInto: acc must be an Int32Array/);
    expect(() => requantizeInto(acc, p, new Int8Array(3), layout)).toThrow(/out has length 3 but acc has 4/);
    expect(() => requantizeInto(acc, p, new Float32Array(4) as unknown as Int8Array, layout)).toThrow(
      /containerRange|Int8Array/,
    );
    expect(() => requantizeInto(acc, p, new Int8Array(4), { channels: 4, inner: 1 })).toThrow(
      /layout.channels = 4 but the stage has 2 per-channel scales/,
    );
    expect(() => requantizeInto(new Int32Array(6), p, new Int8Array(6), layout)).toThrow(
      /acc length 6 is not a multiple of layout.channels·layout.inner = 4/,
    );
    expect(() => requantizeInto(acc, p, new Int8Array(4), { channels: 2, inner: 0 })).toThrow(
      /positive integers/,
    );
    expect(() => requantizeInto(acc, p, new Uint8Array(4), layout)).toThrow(
      /clamp \[-128, 127\] does not fit the output container's range \[0, 255\]/,
    );
    const zpOutside = prepareOutputStage({ ...good, outZeroPoint: 300, qmin: 0, qmax: 255 });
    expect(() => requantizeInto(acc, zpOutside, new Uint8Array(4), layout)).toThrow(
      /outZeroPoint 300 is outside/,
    );
    expect(() => requantizeInto(acc, { ...p }, new Int8Array(4), layout)).toThrow(
      /prepared must come from prepareOutputStage/,
    );
  });

  it("requantizeValue and the scalar functions check their arguments", () => {
    const p = prepareOutputStage(good);
    expect(() => requantizeValue(0, p, 2)).toThrow(
      /requantizeValue: channel 2 is out of range for 2 channels/,
    );
    expect(() => requantizeValue(2 ** 31, p, 0)).toThrow(/requantizeValue: acc must be an int32 integer/);
    expect(() => requantizeFloat32(1, 0.1)).toThrow(
      /requantizeFloat32: scaleF32 must be a finite float32 value > 0/,
    );
    expect(() => requantizeFloat32(1.5, 0.5)).toThrow(/requantizeFloat32: x/);
    expect(() => requantizePowerOfTwo(1, 32)).toThrow(/requantizePowerOfTwo: shift/);
    expect(() => requantizePowerOfTwo(1, -1, "up" as ShiftRounding)).toThrow(
      /requantizePowerOfTwo: rounding/,
    );
  });
});
