import {
  dequantize,
  fakeQuantize,
  fakeQuantizeInto,
  GRID_DEFAULTS,
  type GridSpec,
  gridSpec,
  int4NarrowSymmetricPerChannel,
  int4SymmetricPerTensor,
  int8AsymmetricPerTensor,
  int8NarrowSymmetricPerChannel,
  int8PowerOfTwoSymmetricPerTensor,
  int8SymmetricPerChannel,
  int16NarrowSymmetricPerTensor,
  makeQParams,
  minMax,
  onnxCompat,
  pytorchCompat,
  qRange,
  quantize,
  symmetricZeroPoint,
  tfliteCompat,
  uint4AsymmetricPerTensor,
  uint8AsymmetricPerTensor,
} from "@quant-trim/quant";
import { describe, expect, it } from "vitest";

describe("GridSpec", () => {
  it("gridSpec fills documented defaults and freezes the result", () => {
    const s = gridSpec({ bits: 4 });
    expect(s).toEqual({ ...GRID_DEFAULTS, bits: 4 });
    expect(GRID_DEFAULTS).toMatchObject({
      bits: 8,
      signed: true,
      symmetric: true,
      narrowRange: false,
      reduceRange: false,
      granularity: "per-tensor",
      axis: 0,
      rounding: "half-even",
      scaleConstraint: "float",
      scaleApplication: "divide",
      eps: 1.1920928955078125e-7,
    });
    expect(Object.isFrozen(s)).toBe(true);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s); // plain data, fit for checkpoint metadata
  });

  it("qRange: signed/unsigned, full/narrow, reduce-range", () => {
    const table: [Partial<GridSpec>, number, number][] = [
      [{ bits: 8 }, -128, 127],
      [{ bits: 8, narrowRange: true }, -127, 127],
      [{ bits: 8, signed: false }, 0, 255],
      [{ bits: 8, signed: false, narrowRange: true }, 1, 255],
      [{ bits: 8, signed: false, reduceRange: true }, 0, 127],
      [{ bits: 8, reduceRange: true }, -64, 63],
      [{ bits: 4 }, -8, 7],
      [{ bits: 4, narrowRange: true }, -7, 7],
      [{ bits: 4, signed: false }, 0, 15],
      [{ bits: 2 }, -2, 1],
      [{ bits: 2, narrowRange: true }, -1, 1],
      [{ bits: 16 }, -32768, 32767],
      [{ bits: 16, signed: false }, 0, 65535],
    ];
    for (const [partial, qmin, qmax] of table)
      expect(qRange(gridSpec(partial)), JSON.stringify(partial)).toEqual({ qmin, qmax });
  });

  it("symmetric zero point is the middle code, rounded up", () => {
    expect(symmetricZeroPoint(gridSpec({ bits: 8 }))).toBe(0);
    expect(Object.is(symmetricZeroPoint(gridSpec({ bits: 8 })), 0)).toBe(true);
    expect(symmetricZeroPoint(gridSpec({ bits: 8, signed: false }))).toBe(128);
    expect(symmetricZeroPoint(gridSpec({ bits: 4, signed: false }))).toBe(8);
    expect(symmetricZeroPoint(gridSpec({ bits: 8, signed: false, narrowRange: true }))).toBe(128);
  });

  it("named specs spell their layout", () => {
    const check = (s: GridSpec, fields: Partial<GridSpec>, range: [number, number]) => {
      expect(s).toMatchObject(fields);
      expect(qRange(s)).toEqual({ qmin: range[0], qmax: range[1] });
    };
    check(int8SymmetricPerChannel, { symmetric: true, granularity: "per-channel", axis: 0 }, [-128, 127]);
    check(int8NarrowSymmetricPerChannel, { symmetric: true, granularity: "per-channel" }, [-127, 127]);
    check(int8AsymmetricPerTensor, { symmetric: false, granularity: "per-tensor" }, [-128, 127]);
    check(uint8AsymmetricPerTensor, { symmetric: false, signed: false }, [0, 255]);
    check(int4SymmetricPerTensor, { symmetric: true, granularity: "per-tensor" }, [-8, 7]);
    check(int4NarrowSymmetricPerChannel, { symmetric: true, granularity: "per-channel" }, [-7, 7]);
    check(uint4AsymmetricPerTensor, { signed: false, symmetric: false }, [0, 15]);
    check(int8PowerOfTwoSymmetricPerTensor, { scaleConstraint: "power-of-two" }, [-128, 127]);
    check(int16NarrowSymmetricPerTensor, { bits: 16 }, [-32767, 32767]);
  });

  it("compat presets carry their system's conventions and default grids", () => {
    expect(pytorchCompat.conventions).toMatchObject({
      scaleApplication: "multiply-reciprocal",
      rounding: "half-even",
    });
    expect(onnxCompat.conventions).toMatchObject({ scaleApplication: "divide", rounding: "half-even" });
    expect(tfliteCompat.conventions).toMatchObject({ scaleApplication: "divide", rounding: "half-away" });
    expect(qRange(tfliteCompat.weight)).toEqual({ qmin: -127, qmax: 127 });
    expect(tfliteCompat.weight.granularity).toBe("per-channel");
    expect(qRange(pytorchCompat.activation)).toEqual({ qmin: 0, qmax: 127 });
    expect(pytorchCompat.spec({ bits: 4 })).toMatchObject({
      bits: 4,
      scaleApplication: "multiply-reciprocal",
    });
    expect(Object.isFrozen(onnxCompat)).toBe(true);
  });

  it("rejects malformed specs with a message naming the field", () => {
    const bad: [Partial<GridSpec> | Record<string, unknown>, RegExp][] = [
      [{ bits: 1 }, /gridSpec: spec.bits must be an integer in \[2, 16\], got 1/],
      [{ bits: 17 }, /spec.bits must be an integer in \[2, 16\], got 17/],
      [{ bits: 4.5 }, /spec.bits/],
      [{ signed: "yes" }, /spec.signed must be a boolean, got yes/],
      [
        { rounding: "nearest" },
        /spec.rounding must be one of 'half-even', 'half-away', 'half-up', 'floor', 'stochastic', got "nearest"/,
      ],
      [{ granularity: "per-row" }, /spec.granularity must be one of/],
      [{ axis: 0.5 }, /spec.axis must be an integer, got 0.5/],
      [{ scaleConstraint: "log" }, /spec.scaleConstraint/],
      [{ scaleApplication: "times" }, /spec.scaleApplication/],
      [{ symmetricDivisor: "127" }, /spec.symmetricDivisor/],
      [{ zeroPointRule: "nudge" }, /spec.zeroPointRule/],
      [{ zeroPointRounding: "floor" }, /spec.zeroPointRounding/],
      [{ qparamsArithmetic: "float16" }, /spec.qparamsArithmetic/],
      [{ eps: 0 }, /spec.eps must be a finite number ≥/],
      [{ eps: Number.NaN }, /spec.eps/],
      [{ minRange: -1 }, /spec.minRange must be a finite number ≥ 0, got -1/],
      [{ reduceRange: true, bits: 2 }, /spec.reduceRange needs at least 3 bits/],
      [{ bit: 4 }, /gridSpec: unknown field 'bit'/],
    ];
    for (const [partial, message] of bad)
      expect(() => gridSpec(partial as Partial<GridSpec>)).toThrow(message);
  });
});

describe("quantize / dequantize reject bad input with messages naming it", () => {
  const spec = gridSpec({ symmetric: false });
  const pc = gridSpec({ granularity: "per-channel", axis: 0 });
  const x = Float32Array.of(0.5, -1, 2, 3);

  it("non-finite and non-positive scales", () => {
    for (const s of [0, -0.1, Number.NaN, Infinity, 1e-39]) {
      expect(() => quantize(x, makeQParams(s, 0), spec)).toThrow(
        /quantize: qparams.scale\[0\] = .* must be a positive finite float32/,
      );
    }
    expect(() => fakeQuantize(x, makeQParams([0.1, 0], [0, 0]), pc, [2, 2])).toThrow(
      /fakeQuantize: qparams.scale\[1\] = 0 must be a positive finite float32/,
    );
  });

  it("zero points outside the range", () => {
    expect(() => quantize(x, makeQParams(0.1, 128), spec)).toThrow(
      /quantize: qparams.zeroPoint\[0\] = 128 is outside the grid's range \[-128, 127\]/,
    );
    expect(() => dequantize(Int32Array.of(1), makeQParams(0.1, -1), gridSpec({ signed: false }))).toThrow(
      /dequantize: qparams.zeroPoint\[0\] = -1 is outside the grid's range \[0, 255\]/,
    );
    expect(() => makeQParams(0.1, 0.5)).toThrow(/makeQParams: zeroPoint\[0\] = 0.5 is not an integer/);
  });

  it("mismatched channel counts, missing or wrong shapes, bad axes", () => {
    expect(() => fakeQuantize(x, makeQParams([0.1, 0.1, 0.1], 0), pc, [2, 2])).toThrow(
      /fakeQuantize: per-channel grid over 2 channel\(s\) needs 2 scale\(s\) and zero point\(s\), got 3 and 3/,
    );
    expect(() => quantize(x, makeQParams([0.1, 0.1], 0), spec)).toThrow(
      /per-tensor grid over 1 channel\(s\) needs 1/,
    );
    expect(() => quantize(x, makeQParams([0.1, 0.1], 0), pc)).toThrow(
      /quantize: a per-channel grid needs the shape/,
    );
    expect(() => quantize(x, makeQParams([0.1, 0.1], 0), pc, [3, 2])).toThrow(
      /quantize: shape \[3, 2\] has 6 elements but the data has 4/,
    );
    expect(() => quantize(x, makeQParams([0.1, 0.1], 0), gridSpec({ ...pc, axis: 2 }), [2, 2])).toThrow(
      /quantize: channel axis 2 is out of range for shape \[2, 2\]/,
    );
    expect(() => minMax(x, pc)).toThrow(/minMax: a per-channel grid needs the shape/);
  });

  it("wrong array types, output sizes, masks, missing rng and unknown rounding names", () => {
    expect(() => quantize([1, 2] as unknown as Float32Array, makeQParams(1), spec)).toThrow(
      /quantize: input must be a Float32Array, got Array/,
    );
    expect(() => dequantize(Float32Array.of(1) as unknown as Int32Array, makeQParams(1), spec)).toThrow(
      /dequantize: input must be a Int32Array/,
    );
    expect(() => fakeQuantizeInto(new Float32Array(3), x, makeQParams(1), spec)).toThrow(
      /fakeQuantize: out must be a Float32Array of length 4, got length 3/,
    );
    expect(() => fakeQuantize(x, makeQParams(1), spec, undefined, { mask: new Uint8Array(2) })).toThrow(
      /fakeQuantize: mask must be a Uint8Array of length 4/,
    );
    expect(() => quantize(x, makeQParams(1), gridSpec({ rounding: "stochastic" }))).toThrow(
      /quantize: stochastic rounding needs a seeded Rng/,
    );
    const unknown = { ...spec, rounding: "bankers" } as unknown as GridSpec;
    expect(() => quantize(x, makeQParams(1), unknown)).toThrow(
      /quantize: spec.rounding must be one of .* got "bankers"/,
    );
    expect(() => quantize(x, makeQParams(1), { ...spec, bits: 0 })).toThrow(/quantize: spec.bits/);
  });
});
