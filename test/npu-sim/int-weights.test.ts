import {
  accumulatorRange,
  checkAccumulator,
  type IntWeightsInit,
  type IntWeightType,
  intWeights,
  packIntWeights,
  weightCode,
  weightTypeRange,
  weightZeroPoint,
  wrapToBits,
} from "@quant-trim/npu-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WEIGHT_RANGES } from "./int-kernel-reference.js";

describe("IntWeights", () => {
  it("stores codes of every type and reads each element back, per tensor or per channel", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<IntWeightType>("int8", "uint8", "int4", "uint4"),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.integer(),
        (type, shape, perChannel, seed) => {
          const [lo, hi] = WEIGHT_RANGES[type];
          const size = shape.reduce((p, d) => p * d, 1);
          const values = Array.from(
            { length: size },
            (_, i) => lo + (Math.abs(seed + i * 7919) % (hi - lo + 1)),
          );
          fc.pre(!perChannel || shape[0]! >= 2); // one channel is a per-tensor zero point
          const zp = perChannel ? Array.from({ length: shape[0]! }, (_, i) => (i % 2 === 0 ? lo : hi)) : lo;
          const w = packIntWeights(values, { type, shape, zeroPoint: zp });
          expect(w.size).toBe(size);
          expect(w.data.length).toBe(type === "int4" || type === "uint4" ? Math.ceil(size / 2) : size);
          expect(Array.from({ length: size }, (_, i) => weightCode(w, i))).toEqual(values);
          if (perChannel)
            for (let c = 0; c < shape[0]!; c++) expect(weightZeroPoint(w, c)).toBe((zp as number[])[c]);
          else expect(weightZeroPoint(w, 5)).toBe(lo);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("packs 4-bit codes low nibble first, as ONNX and TFLite do", () => {
    expect(Array.from(packIntWeights([1, -2, 3], { type: "int4", shape: [3] }).data)).toEqual([0xe1, 0x03]);
    expect(Array.from(packIntWeights([3, 12, 15], { type: "uint4", shape: [3] }).data)).toEqual([0xc3, 0x0f]);
    const w = intWeights({ type: "int4", data: Uint8Array.of(0x8f, 0x07), shape: [3] });
    expect([0, 1, 2].map((i) => weightCode(w, i))).toEqual([-1, -8, 7]);
  });

  it("gives each type's range", () => {
    expect(weightTypeRange("int4")).toEqual({ min: -8, max: 7 });
    expect(weightTypeRange("uint4")).toEqual({ min: 0, max: 15 });
    expect(weightTypeRange("int8")).toEqual({ min: -128, max: 127 });
    expect(weightTypeRange("uint8")).toEqual({ min: 0, max: 255 });
  });

  it.each([
    [
      "unknown type",
      { type: "int2", data: new Uint8Array(1), shape: [1] },
      /intWeights: type must be one of int8, uint8, int4, uint4, got "int2"/,
    ],
    [
      "Uint8Array for int8",
      { type: "int8", data: new Uint8Array(2), shape: [2] },
      /intWeights: data must be an Int8Array for type int8/,
    ],
    [
      "Int8Array for uint4",
      { type: "uint4", data: new Int8Array(1), shape: [2] },
      /intWeights: data must be a Uint8Array for type uint4/,
    ],
    [
      "int8 length",
      { type: "int8", data: new Int8Array(5), shape: [2, 3] },
      /intWeights: data has length 5 but shape \[2, 3\] of int8 needs 6/,
    ],
    [
      "packed length of an odd count",
      { type: "int4", data: new Uint8Array(2), shape: [5] },
      /intWeights: data has length 2 but shape \[5\] of int4 needs 3 \(ceil\(5\/2\) packed bytes\)/,
    ],
    [
      "zero point outside int4",
      { type: "int4", data: new Uint8Array(1), shape: [2], zeroPoint: 8 },
      /intWeights: zeroPoint\[0\] = 8 is outside the int4 range \[-8, 7\]/,
    ],
    [
      "zero point outside uint8",
      { type: "uint8", data: new Uint8Array(2), shape: [2], zeroPoint: [0, -1] },
      /intWeights: zeroPoint\[1\] = -1 is outside the uint8 range \[0, 255\]/,
    ],
    [
      "zero point not an integer",
      { type: "int8", data: new Int8Array(2), shape: [2], zeroPoint: 0.5 },
      /intWeights: zeroPoint\[0\] = 0\.5/,
    ],
    [
      "zero point count",
      { type: "int8", data: new Int8Array(6), shape: [2, 3], zeroPoint: [0, 0, 0] },
      /intWeights: zeroPoint has 3 values but channel axis 0 has length 2/,
    ],
    [
      "channel axis",
      { type: "int8", data: new Int8Array(6), shape: [2, 3], channelAxis: 2 },
      /intWeights: channelAxis must be an integer in \[0, 2\), got 2/,
    ],
    [
      "shape",
      { type: "int8", data: new Int8Array(6), shape: [2, -3] },
      /intWeights: shape \[2, -3\] must hold non-negative integers/,
    ],
    [
      "unknown field",
      { type: "int8", data: new Int8Array(1), shape: [1], scale: 0.1 },
      /intWeights: unknown field 'scale'/,
    ],
  ])("refuses %s", (_name, init, message) => {
    expect(() => intWeights(init as unknown as IntWeightsInit)).toThrow(message);
  });

  it("refuses codes outside the type when packing", () => {
    expect(() => packIntWeights([0, 16], { type: "uint4", shape: [2] })).toThrow(
      /packIntWeights: codes\[1\] = 16 is outside the uint4 range \[0, 15\]/,
    );
    expect(() => packIntWeights([-129], { type: "int8", shape: [1] })).toThrow(/codes\[0\] = -129/);
    expect(() => weightCode(packIntWeights([1], { type: "int8", shape: [1] }), 1)).toThrow(
      /weightCode: index 1 is outside \[0, 1\)/,
    );
  });
});

describe("accumulator model", () => {
  it("wrapToBits equals BigInt.asIntN for every width 16–64 and any safe integer", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 64 }),
        fc.oneof(
          fc.maxSafeInteger(),
          fc.integer(),
          fc.integer({ min: -(2 ** 20), max: 2 ** 20 }),
          fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 47, -(2 ** 47), 2 ** 53 - 1, -(2 ** 53) + 1),
        ),
        (bits, v) => {
          expect(wrapToBits(v, bits)).toBe(Number(BigInt.asIntN(bits, BigInt(v))));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("gives the register's range and validates the spec", () => {
    expect(accumulatorRange(16)).toEqual({ min: -32768, max: 32767 });
    expect(accumulatorRange(40)).toEqual({ min: -(2 ** 39), max: 2 ** 39 - 1 });
    expect(checkAccumulator("f", "acc", undefined)).toEqual({ bits: 32, overflow: "wrap" });
    expect(checkAccumulator("f", "acc", { bits: 24, overflow: "saturate" })).toEqual({
      bits: 24,
      overflow: "saturate",
    });
    expect(() => checkAccumulator("f", "acc", { bits: 15, overflow: "wrap" })).toThrow(
      /f: acc\.bits must be an integer in \[16, 64\], got 15/,
    );
    expect(() => checkAccumulator("f", "acc", { bits: 24.5, overflow: "wrap" })).toThrow(/got 24\.5/);
    expect(() => checkAccumulator("f", "acc", 32)).toThrow(/f: acc must be \{ bits, overflow \}, got 32/);
  });
});
