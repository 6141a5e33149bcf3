import { ACTIVATION_CLAMPS, type ActivationClamp, fusedActivationRange } from "@quant-trim/npu-sim";
import {
  type GridSpec,
  gridSpec,
  int8AsymmetricPerChannel,
  int8AsymmetricPerTensor,
  int16NarrowSymmetricPerTensor,
  qRange,
  uint8AsymmetricPerTensor,
} from "@quant-trim/quant";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** TFLite's `zp + std::round(f / scale)` in float32, with its own half-away rounding (§7's recipe). */
function tfliteQuantize(f: number, scale: number, zp: number): number {
  const v = Math.fround(Math.fround(f) / Math.fround(scale));
  return zp + Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
}

function reference(activation: ActivationClamp, scale: number, zp: number, spec: GridSpec) {
  const { qmin, qmax } = qRange(spec);
  if (activation === "none") return { qmin, qmax };
  if (activation === "relu") return { qmin: Math.max(qmin, tfliteQuantize(0, scale, zp)), qmax };
  if (activation === "relu6") {
    return {
      qmin: Math.max(qmin, tfliteQuantize(0, scale, zp)),
      qmax: Math.min(qmax, tfliteQuantize(6, scale, zp)),
    };
  }
  return {
    qmin: Math.max(qmin, tfliteQuantize(-1, scale, zp)),
    qmax: Math.min(qmax, tfliteQuantize(1, scale, zp)),
  };
}

describe("fusedActivationRange", () => {
  it("worked examples", () => {
    // ReLU6 on int8 with the range [0, 6] → scale 6/255, zp −128: the clamp is the whole type range.
    expect(fusedActivationRange("relu6", 6 / 255, -128, int8AsymmetricPerTensor)).toEqual({
      qmin: -128,
      qmax: 127,
    });
    // scale 0.05, zp −10: Q(0) = −10, Q(6) = −10 + 120 = 110.
    expect(fusedActivationRange("relu6", 0.05, -10, int8AsymmetricPerTensor)).toEqual({
      qmin: -10,
      qmax: 110,
    });
    expect(fusedActivationRange("relu", 0.05, -10, int8AsymmetricPerTensor)).toEqual({
      qmin: -10,
      qmax: 127,
    });
    expect(fusedActivationRange("none", 0.05, -10, int8AsymmetricPerTensor)).toEqual({
      qmin: -128,
      qmax: 127,
    });
    // ±1 at scale 0.01 around zp 3: [3 − 100, 3 + 100].
    expect(fusedActivationRange("relu-n1-to-1", 0.01, 3, int8AsymmetricPerTensor)).toEqual({
      qmin: -97,
      qmax: 103,
    });
    // 6 / fp32(2.4) rounds to 2.5 in float32, a tie: TFLite rounds it away from zero to 3 (half-even: 2).
    expect(fusedActivationRange("relu6", 2.4, 0, uint8AsymmetricPerTensor)).toEqual({ qmin: 0, qmax: 3 });
    // A per-channel spec only lends its range; the activation grid is per tensor.
    expect(fusedActivationRange("relu", 0.1, 5, int8AsymmetricPerChannel)).toEqual({ qmin: 5, qmax: 127 });
  });

  it("matches TFLite's formula on random grids", () => {
    const specs = [
      int8AsymmetricPerTensor,
      uint8AsymmetricPerTensor,
      int16NarrowSymmetricPerTensor,
      gridSpec({ bits: 4, signed: true, symmetric: false }),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...ACTIVATION_CLAMPS),
        fc.constantFrom(...specs),
        fc.double({ min: 1e-4, max: 1, noNaN: true }).map(Math.fround),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (activation, spec, scale, zpFrac) => {
          const { qmin, qmax } = qRange(spec);
          const zp = spec.symmetric ? 0 : qmin + Math.floor(zpFrac * (qmax - qmin));
          const got = fusedActivationRange(activation, scale, zp, spec);
          expect(got).toEqual(reference(activation, scale, zp, spec));
          expect(got.qmin).toBeLessThanOrEqual(got.qmax);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("bad input names the argument", () => {
    const s = int8AsymmetricPerTensor;
    expect(() => fusedActivationRange("gelu" as ActivationClamp, 0.1, 0, s)).toThrow(
      /fusedActivationRange: activation must be one of/,
    );
    expect(() => fusedActivationRange("relu", 0, 0, s)).toThrow(
      /fusedActivationRange: scale must be a finite number > 0/,
    );
    expect(() => fusedActivationRange("relu", Number.NaN, 0, s)).toThrow(/scale/);
    expect(() => fusedActivationRange("relu", -1, 0, s)).toThrow(/scale/);
    expect(() => fusedActivationRange("relu", 0.1, 0.5, s)).toThrow(/zeroPoint must be an integer/);
    expect(() => fusedActivationRange("relu", 0.1, 128, s)).toThrow(
      /zeroPoint\[0\] = 128 is outside the grid's range/,
    );
    expect(() => fusedActivationRange("relu", 0.1, -1, uint8AsymmetricPerTensor)).toThrow(
      /outside the grid's range/,
    );
  });
});
