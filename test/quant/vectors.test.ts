import {
  computeQParams,
  dequantize,
  fakeQuantize,
  makeQParams,
  onnxCompat,
  packInt4,
  pytorchCompat,
  qRange,
  quantize,
  tfliteCompat,
  unpackInt4,
} from "@quant-trim/quant";
import { describe, expect, it } from "vitest";
import {
  dynamicQuantizeLinear,
  int4Packing,
  pytorchObserver,
  reciprocalVsDivide,
  tieRounding,
  zeroPointForUnitRange,
} from "./fixtures/reference-vectors.js";

const f32 = (xs: readonly number[]) => Float32Array.from(xs);

describe("compat presets reproduce the reference vectors", () => {
  it("tie rounding at scale 0.25 follows each system", () => {
    const qp = makeQParams(tieRounding.scale, 0);
    const x = f32(tieRounding.inputs);
    for (const [preset, expected] of [
      [pytorchCompat, tieRounding.pytorch],
      [onnxCompat, tieRounding.onnx],
      [tfliteCompat, tieRounding.tflite],
    ] as const) {
      const spec = preset.spec({ bits: 8, signed: true, symmetric: true });
      expect(Array.from(quantize(x, qp, spec)), preset.system).toEqual(expected);
    }
    const tfFakeQuant = pytorchCompat.spec({ rounding: "half-up", scaleApplication: "divide" });
    expect(Array.from(quantize(x, qp, tfFakeQuant))).toEqual(tieRounding.tfFakeQuant);
  });

  it("PyTorch multiplies by fp32(1/s); ONNX and TFLite divide (1.55 / 0.1)", () => {
    const qp = makeQParams(reciprocalVsDivide.scale, 0);
    const x = f32([reciprocalVsDivide.x]);
    expect(quantize(x, qp, pytorchCompat.weight, [1, 1])[0]).toBe(reciprocalVsDivide.multiplyReciprocal);
    expect(quantize(x, qp, onnxCompat.weight)[0]).toBe(reciprocalVsDivide.divide);
    expect(quantize(x, qp, tfliteCompat.weight, [1, 1])[0]).toBe(reciprocalVsDivide.divide);
  });

  it("zero point of the range [-1, 1] per system, int8 and uint8", () => {
    const v = zeroPointForUnitRange;
    for (const [preset, expected] of [
      [tfliteCompat, v.tflite],
      [onnxCompat, v.onnxruntime],
      [pytorchCompat, v.pytorch],
    ] as const) {
      for (const signed of [true, false]) {
        const spec = preset.spec({ bits: 8, signed, symmetric: false });
        const qp = computeQParams(v.min, v.max, spec);
        expect(qp.scale[0], preset.system).toBe(v.scale);
        expect(qp.zeroPoint[0], `${preset.system} ${signed ? "int8" : "uint8"}`).toBe(
          signed ? expected.int8 : expected.uint8,
        );
      }
    }
  });

  it("PyTorch symmetric divisor is 127.5 on [-128, 127] and 127 on [-127, 127]", () => {
    const full = computeQParams(-1, 1, pytorchCompat.spec({ bits: 8, signed: true, symmetric: true }));
    const narrow = computeQParams(-1, 1, pytorchCompat.spec({ bits: 8, symmetric: true, narrowRange: true }));
    expect(full.scale[0]).toBe(pytorchObserver.symmetricQint8Scale);
    expect(narrow.scale[0]).toBe(pytorchObserver.symmetricNarrowScale);
    expect(full.zeroPoint[0]).toBe(0);
    // TFLite's positive-range divisor gives 1/127 even on the full range.
    const tfl = computeQParams(-1, 1, tfliteCompat.spec({ bits: 8, symmetric: true, narrowRange: false }));
    expect(tfl.scale[0]).toBe(pytorchObserver.symmetricNarrowScale);
  });

  it("PyTorch quint8 affine on [0, 6] and with reduce_range on [-1, 1]", () => {
    const affine = computeQParams(0, 6, pytorchCompat.spec({ bits: 8, signed: false, symmetric: false }));
    expect(affine.scale[0]).toBe(pytorchObserver.quint8Affine0to6.scale);
    expect(affine.zeroPoint[0]).toBe(pytorchObserver.quint8Affine0to6.zeroPoint);
    const rr = pytorchObserver.quint8ReduceRange;
    expect(qRange(pytorchCompat.activation)).toEqual({ qmin: rr.qmin, qmax: rr.qmax });
    const reduced = computeQParams(-1, 1, pytorchCompat.activation);
    expect(reduced.scale[0]).toBe(rr.scale);
    expect(reduced.zeroPoint[0]).toBe(rr.zeroPoint);
  });

  it("ONNX DynamicQuantizeLinear worked example", () => {
    const d = dynamicQuantizeLinear;
    const spec = onnxCompat.spec({ bits: 8, signed: false, symmetric: false });
    const x = f32(d.x);
    const qp = computeQParams(Math.min(...x), Math.max(...x), spec);
    expect(qp.scale[0]).toBe(d.scale);
    expect(qp.zeroPoint[0]).toBe(d.zeroPoint);
    expect(Array.from(quantize(x, qp, spec))).toEqual(d.y);
    // fakeQuantize is dequantize ∘ quantize
    expect(fakeQuantize(x, qp, spec)).toEqual(dequantize(quantize(x, qp, spec), qp, spec));
  });

  it("int4 packing: low nibble first, two's complement, odd counts padded", () => {
    for (const { values, byte } of int4Packing.pack) {
      expect(Array.from(packInt4(Int32Array.from(values)))).toEqual([byte]);
      expect(Array.from(packInt4(Int8Array.from(values)))).toEqual([byte]);
    }
    for (const { byte, values } of int4Packing.unpack) {
      expect(Array.from(unpackInt4(Uint8Array.of(byte), 2))).toEqual(values);
    }
    expect(Array.from(packInt4(Int32Array.of(1, -2, 5)))).toEqual([0xe1, 0x05]);
    expect(Array.from(unpackInt4(Uint8Array.of(0xe1, 0x05), 3))).toEqual([1, -2, 5]);
  });
});
