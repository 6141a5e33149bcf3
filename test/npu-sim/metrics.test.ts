import { nn } from "@quant-trim/autograd";
import {
  accuracy,
  compareWithFloat,
  compile,
  defineProfile,
  estimateCost,
  expectedCalibrationError,
  logitCosine,
  logitKl,
  maxAbsDifference,
  profiles,
  run,
  sqnrDb,
  top1Agreement,
} from "@quant-trim/npu-sim";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const rows = (n: number, classes: number) =>
  fc.array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: n * classes, maxLength: n * classes });

describe("logit metrics", () => {
  it("accuracy and top-1 agreement count argmax matches (first maximum on ties)", () => {
    const a = [1, 3, 2, 0, 0, 5, 4, 4, 1];
    const b = [3, 1, 2, 0, 0, 5, 9, 4, 1];
    expect(accuracy(a, [1, 2, 1], 3)).toBeCloseTo(2 / 3, 12); // row 3 ties 4, 4: class 0
    expect(top1Agreement(a, b, 3)).toBeCloseTo(2 / 3, 12);
    fc.assert(
      fc.property(rows(5, 4), rows(5, 4), (x, y) => {
        expect(top1Agreement(x, x, 4)).toBe(1);
        expect(top1Agreement(x, y, 4)).toBe(top1Agreement(y, x, 4));
      }),
    );
  });

  it("ECE follows its definition on a hand-computed case and is 0 for confident, correct rows", () => {
    // Row 1: p = softmax(0, ln 3) = (0.25, 0.75) → confidence 0.75, predicted 1, label 1 (correct).
    // Row 2: p = (0.75, 0.25) → confidence 0.75, predicted 0, label 1 (wrong). Same bin: |0.5 − 0.75|.
    expect(expectedCalibrationError([0, Math.log(3), Math.log(3), 0], [1, 1], 2)).toBeCloseTo(0.25, 12);
    expect(expectedCalibrationError([50, 0, 0, 50], [0, 1], 2)).toBeLessThan(1e-12);
    fc.assert(
      fc.property(
        rows(6, 3),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 6, maxLength: 6 }),
        (x, y) => {
          const e = expectedCalibrationError(x, y, 3);
          expect(e).toBeGreaterThanOrEqual(0);
          expect(e).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it("cosine and KL: 1 and 0 for identical logits, KL ≥ 0 and blind to a per-row shift", () => {
    expect(logitCosine([1, 2, 3], [-1, -2, -3], 3)).toBeCloseTo(-1, 12);
    expect(logitCosine([1, 2, 3], [2, 4, 6], 3)).toBeCloseTo(1, 12);
    fc.assert(
      fc.property(rows(3, 4), rows(3, 4), fc.float({ min: -5, max: 5, noNaN: true }), (x, y, shift) => {
        expect(logitKl(x, x, 4)).toBeLessThan(1e-12);
        const kl = logitKl(x, y, 4);
        expect(kl).toBeGreaterThanOrEqual(0);
        const shifted = y.map((v) => v + shift);
        expect(Math.abs(logitKl(x, shifted, 4) - kl)).toBeLessThan(1e-9 * (1 + kl));
      }),
    );
  });

  it("SQNR and max difference", () => {
    expect(sqnrDb([1, 2], [1.1, 2])).toBeCloseTo(10 * Math.log10(5 / 0.01), 9);
    expect(sqnrDb([1, 2], [1, 2])).toBe(Number.POSITIVE_INFINITY);
    expect(maxAbsDifference([1, -2, 3], [1, 2, 2.5])).toBe(4);
  });

  it("refuses bad input, naming the function and the argument", () => {
    expect(() => top1Agreement([1, 2], [1, 2, 3], 1)).toThrow(
      /top1Agreement: reference has 2 rows but test has 3/,
    );
    expect(() => accuracy([1, 2, 3], [0], 2)).toThrow(/argmaxRows: logits has 3 values, not rows of 2/);
    expect(() => logitCosine([Number.NaN], [1], 1)).toThrow(
      /logitCosine: reference\[0\] = NaN is not finite/,
    );
    expect(() => expectedCalibrationError([1, 2], [0], 2, 0)).toThrow(/bins must be a positive integer/);
    expect(() => sqnrDb([1], [1, 2])).toThrow(/sqnrDb: reference has 1 values but test has 2/);
  });
});

describe("compareWithFloat", () => {
  it("reports what the program does against the float model", () => {
    const rng = new T.Rng(2);
    const model = new nn.Sequential(
      new nn.Conv2d(1, 3, 3, { padding: 1, rng }),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.Linear(48, 4, { rng }),
    );
    const x = T.randn([20, 1, 4, 4], rng);
    const labels = Int32Array.from({ length: 20 }, (_, i) => i % 4);
    const program = compile(model, profiles["tflite-int8"]!, x);
    const c = compareWithFloat(model, program, x, { labels, sqnrSamples: 10 });
    const int = run(program, x).output.toFloat32Array();
    expect(c.profile).toBe("tflite-int8");
    expect(c.accuracy).toBe(accuracy(int, labels, 4));
    expect(c.top1Agreement).toBeGreaterThan(0.8);
    expect(c.logitCosine).toBeGreaterThan(0.99);
    expect(c.layers.map((l) => l.name)).toEqual(["quantize input", "1", "3"]);
    expect(c.layers.every((l) => l.sqnrDb > 20)).toBe(true);
    expect(c.worstLayer!.sqnrDb).toBe(Math.min(...c.layers.map((l) => l.sqnrDb)));
    expect(c.overflow.total.accumulator).toBe(0);
    expect(compareWithFloat(model, program, x).accuracy).toBeNull();
    expect(() => compareWithFloat(model, program, x, { label: labels } as never)).toThrow(
      /unknown option 'label'/,
    );
  });
});

describe("cost model", () => {
  const rng = new T.Rng(3);
  const model = new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1, rng }),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(256, 3, { rng }),
  );
  const x = T.randn([4, 1, 8, 8], rng);

  it("counts MACs by precision, packed INT4 weights as half a byte, and applies the formula", () => {
    const p8 = estimateCost(compile(model, profiles["tflite-int8"]!, x));
    const p4 = estimateCost(compile(model, profiles.w4a8!, x));
    expect(p8.kind).toBe("first-order model");
    expect(p8.macs).toEqual({ w8a8: 8 * 8 * 4 * 9 + 256 * 3 });
    expect(p4.macs).toEqual({ w4a8: 8 * 8 * 4 * 9 + 256 * 3 });
    const biasBytes = 4 * (4 + 3);
    expect(p8.weightBytes).toBe(4 * 9 + 768 + biasBytes);
    expect(p4.weightBytes).toBe((4 * 9 + 768) / 2 + biasBytes);
    // Activations: quantize reads 64 floats and writes 64 codes; conv 64 → 256 codes; reshape 256 → 256;
    // linear 256 → 3; dequantize 3 codes → 3 floats.
    expect(p8.activationBytes).toBe(64 * 4 + 64 + (64 + 256) + 512 + (256 + 3) + (3 + 12));
    const c = profiles["tflite-int8"]!.cost;
    const expected =
      p8.macs.w8a8! / c.npuMacsPerSecond.int8 +
      (p8.weightBytes + p8.activationBytes) / c.bytesPerSecond +
      p8.steps.length * c.opOverheadSeconds;
    expect(p8.latencySeconds).toBeCloseTo(expected, 15);
    expect(p8.energyJoules).toBeCloseTo(
      (p8.macs.w8a8! * c.npuPicojoulesPerMac.int8 +
        (p8.weightBytes + p8.activationBytes) * c.picojoulesPerByte) *
        1e-12,
      18,
    );
  });

  it("CPU fallback counts float MACs at the CPU's rate and every partition hand-over", () => {
    const noLinear = defineProfile({
      ...profiles["tflite-int8"]!,
      name: "no-linear",
      ops: { conv2d: {}, reshape: {} },
    });
    const program = compile(model, noLinear, x);
    const cost = estimateCost(program);
    expect(cost.macs).toEqual({ w8a8: 8 * 8 * 4 * 9, f32: 256 * 3 });
    expect(program.partitions.map((p) => p.device)).toEqual(["npu", "cpu"]);
    const all = estimateCost(compile(model, profiles["tflite-int8"]!, x));
    const c = noLinear.cost;
    expect(cost.latencySeconds - all.latencySeconds).toBeGreaterThan(
      768 / c.cpuMacsPerSecond - 768 / c.npuMacsPerSecond.int8 + c.partitionSwitchSeconds - 1e-9,
    );
  });
});
