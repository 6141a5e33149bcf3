import {
  allocateIntArray,
  containerForSpec,
  dequantizeTensor,
  overflowCounts,
  quantizeTensor,
  type RequantMode,
  requantizeTensor,
} from "@quant-trim/npu-sim";
import {
  dequantize,
  type GridSpec,
  gridSpec,
  int4SymmetricPerTensor,
  int8AsymmetricPerTensor,
  int8NarrowSymmetricPerTensor,
  int8SymmetricPerChannel,
  int16NarrowSymmetricPerTensor,
  makeQParams,
  onnxCompat,
  pytorchCompat,
  type QParams,
  qRange,
  quantize,
  tfliteCompat,
  uint8AsymmetricPerTensor,
} from "@quant-trim/quant";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadVectors, refRequant } from "./reference.js";

const vectors = loadVectors();
const uint16 = gridSpec({ bits: 16, signed: false, symmetric: false });

describe("quantizeTensor / dequantizeTensor", () => {
  it("tie rounding at scale 0.25 per system (integer-semantics §8)", () => {
    const { scale, x, pytorch, onnx, tflite, tfFakeQuant } = vectors.tieRounding;
    const qp = makeQParams(scale, 0);
    const layout = { bits: 8, signed: true, symmetric: true, granularity: "per-tensor" } as const;
    const xs = Float32Array.from(x);
    for (const [spec, want] of [
      [pytorchCompat.spec(layout), pytorch],
      [onnxCompat.spec(layout), onnx],
      [tfliteCompat.spec(layout), tflite],
      [pytorchCompat.spec({ ...layout, rounding: "half-up", scaleApplication: "divide" }), tfFakeQuant],
    ] as const) {
      const q = quantizeTensor(xs, qp, spec);
      expect(q).toBeInstanceOf(Int8Array);
      expect(Array.from(q)).toEqual(want);
    }
  });

  it("multiply-by-reciprocal vs divide (1.55 / 0.1)", () => {
    const { x, scale, multiplyReciprocal, divide } = vectors.reciprocalVsDivide;
    const qp = makeQParams(scale, 0);
    const xs = Float32Array.from([x]);
    expect(quantizeTensor(xs, qp, pytorchCompat.spec({ granularity: "per-tensor" }))[0]).toBe(
      multiplyReciprocal,
    );
    expect(quantizeTensor(xs, qp, onnxCompat.spec({ granularity: "per-tensor" }))[0]).toBe(divide);
  });

  it("ONNX DynamicQuantizeLinear's worked example gives the documented uint8 codes", () => {
    const { x, scale, zeroPoint, y } = vectors.dynamicQuantizeLinear;
    const spec = onnxCompat.spec({ bits: 8, signed: false, symmetric: false, granularity: "per-tensor" });
    const q = quantizeTensor(Float32Array.from(x), makeQParams(scale, zeroPoint), spec);
    expect(q).toBeInstanceOf(Uint8Array);
    expect(Array.from(q)).toEqual(y);
  });

  it("picks the container of each grid", () => {
    expect(containerForSpec(int8AsymmetricPerTensor)).toBe("int8");
    expect(containerForSpec(uint8AsymmetricPerTensor)).toBe("uint8");
    expect(containerForSpec(int4SymmetricPerTensor)).toBe("int8");
    expect(containerForSpec(int16NarrowSymmetricPerTensor)).toBe("int16");
    expect(containerForSpec(uint16)).toBe("int32");
    expect(allocateIntArray(uint16, 3)).toBeInstanceOf(Int32Array);
  });

  it("stores exactly quant's codes and dequantizes them as quant does", () => {
    const specs: GridSpec[] = [
      int8AsymmetricPerTensor,
      uint8AsymmetricPerTensor,
      int16NarrowSymmetricPerTensor,
      uint16,
      int4SymmetricPerTensor,
      int8SymmetricPerChannel,
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...specs),
        fc.array(fc.float({ min: -50, max: 50, noNaN: true }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.double({ min: 1e-3, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (spec, x, scales, zpFrac) => {
          const { qmin, qmax } = qRange(spec);
          const zp = spec.symmetric ? 0 : qmin + Math.floor(zpFrac * (qmax - qmin));
          const perChannel = spec.granularity === "per-channel";
          const qp: QParams = perChannel ? makeQParams(scales, 0) : makeQParams(scales[0]!, zp);
          const shape = perChannel ? [3, 2] : undefined;
          const xs = Float32Array.from(x);
          const q = quantizeTensor(xs, qp, spec, shape);
          const codes = quantize(xs, qp, spec, shape);
          expect(Array.from(q)).toEqual(Array.from(codes));
          expect(Array.from(dequantizeTensor(q, qp, spec, shape))).toEqual(
            Array.from(dequantize(codes, qp, spec, shape)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it("bad input names the argument", () => {
    const qp = makeQParams(0.1, 0);
    expect(() => dequantizeTensor(Int8Array.from([0, -128]), qp, int8NarrowSymmetricPerTensor)).toThrow(
      /dequantizeTensor: q\[1\] = -128 is outside the grid's range \[-127, 127\]/,
    );
    expect(() => dequantizeTensor([1, 2] as unknown as Int8Array, qp, int8AsymmetricPerTensor)).toThrow(
      /dequantizeTensor: q must be/,
    );
    expect(() => quantizeTensor(Float32Array.from([1]), makeQParams(0, 0), int8AsymmetricPerTensor)).toThrow(
      /scale/,
    );
    expect(() =>
      quantizeTensor(Float32Array.from([1]), makeQParams(0.1, 200), int8AsymmetricPerTensor),
    ).toThrow(/zeroPoint\[0\] = 200 is outside/);
    expect(() =>
      quantizeTensor(Float32Array.from([1, 2]), makeQParams([0.1, 0.2], 0), int8SymmetricPerChannel, [3]),
    ).toThrow(/shape \[3\] has 3 elements but the data has 2/);
  });
});

describe("requantizeTensor", () => {
  const int8Sym = gridSpec({ bits: 8, signed: true, symmetric: true });
  const int8PerChannelAxis1Asym = gridSpec({
    bits: 8,
    signed: true,
    symmetric: false,
    granularity: "per-channel",
    axis: 1,
  });
  const uint8PerChannelAxis1 = gridSpec({
    bits: 8,
    signed: false,
    symmetric: false,
    granularity: "per-channel",
    axis: 1,
  });

  it("a worked example: int8 at 0.01 → uint8 at 0.02 with zp 128", () => {
    const q = Int8Array.from([10, -50, 127, -128]);
    const inQ = { qparams: makeQParams(0.01, 0), spec: int8AsymmetricPerTensor };
    const outQ = { qparams: makeQParams(0.02, 128), spec: uint8AsymmetricPerTensor };
    const r = requantizeTensor(q, inQ, outQ, "gemmlowp");
    expect(r).toBeInstanceOf(Uint8Array);
    // 63.5 rounds up in TFLite's fixed point; −64 exactly.
    expect(Array.from(r)).toEqual([133, 103, 192, 64]);
    expect(Array.from(requantizeTensor(q, inQ, outQ, "float32"))).toEqual([133, 103, 192, 64]);
  });

  for (const mode of ["gemmlowp", "single-rounding", "float32"] as RequantMode[]) {
    it(`per-tensor and per-channel grids on either side match the reference (${mode})`, () => {
      const combos = [
        [int8AsymmetricPerTensor, uint8AsymmetricPerTensor],
        [int8PerChannelAxis1Asym, int8AsymmetricPerTensor],
        [int8AsymmetricPerTensor, uint8PerChannelAxis1],
        [int8PerChannelAxis1Asym, uint8PerChannelAxis1],
        [int16NarrowSymmetricPerTensor, int8Sym],
      ] as const;
      fc.assert(
        fc.property(
          fc.constantFrom(...combos),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 3 }),
          fc.array(fc.double({ min: 1e-3, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }),
          fc.integer(),
          ([inSpec, outSpec], outer, channels, inner, scales, fracs, seed) => {
            const shape = [outer, channels, inner];
            const n = outer * channels * inner;
            const params = (spec: GridSpec, offset: number): QParams => {
              const count = spec.granularity === "per-channel" ? channels : 1;
              const { qmin, qmax } = qRange(spec);
              const s: number[] = [];
              const z: number[] = [];
              for (let c = 0; c < count; c++) {
                s.push(scales[(offset + c) % 8]!);
                z.push(spec.symmetric ? 0 : qmin + Math.floor(fracs[(offset + c) % 8]! * (qmax - qmin)));
              }
              return makeQParams(s, z);
            };
            const inQ = { qparams: params(inSpec, 0), spec: inSpec };
            const outQ = { qparams: params(outSpec, 4), spec: outSpec };
            const { qmin: inMin, qmax: inMax } = qRange(inSpec);
            const q = allocateIntArray(inSpec, n);
            let state = seed >>> 0;
            for (let i = 0; i < n; i++) {
              state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
              q[i] = inMin + (state % (inMax - inMin + 1));
            }
            const counts = overflowCounts();
            const got = requantizeTensor(q, inQ, outQ, mode, { shape, overflow: counts });
            const { qmin, qmax } = qRange(outSpec);
            let clamps = 0;
            for (let i = 0; i < n; i++) {
              const c = Math.floor(i / inner) % channels;
              const ic = inQ.qparams.scale.length > 1 ? c : 0;
              const oc = outQ.qparams.scale.length > 1 ? c : 0;
              const real = inQ.qparams.scale[ic]! / outQ.qparams.scale[oc]!;
              const raw =
                refRequant(mode, q[i]! - inQ.qparams.zeroPoint[ic]!, real) + outQ.qparams.zeroPoint[oc]!;
              if (raw < qmin || raw > qmax) clamps++;
              expect(got[i], `element ${i}`).toBe(Math.min(Math.max(raw, qmin), qmax));
            }
            expect(counts.outputClamps).toBe(clamps);
            expect(counts.elements).toBe(n);
          },
        ),
        { numRuns: 250 },
      );
    });
  }

  it("power-of-two grids requantize by shifting with the chosen tie rule", () => {
    const inQ = { qparams: makeQParams(2 ** -6, 0), spec: int8Sym };
    const outQ = { qparams: makeQParams(2 ** -4, 0), spec: int8Sym };
    const q = Int8Array.from([2, 6, -2, -6, 10]); // /4: 0.5, 1.5, −0.5, −1.5, 2.5
    expect(Array.from(requantizeTensor(q, inQ, outQ, "power-of-two"))).toEqual([1, 2, 0, -1, 3]);
    expect(
      Array.from(requantizeTensor(q, inQ, outQ, "power-of-two", { shiftRounding: "half-away" })),
    ).toEqual([1, 2, -1, -2, 3]);
    expect(
      Array.from(requantizeTensor(q, inQ, outQ, "power-of-two", { shiftRounding: "half-even" })),
    ).toEqual([0, 2, 0, -2, 2]);
  });

  it("bad input names the argument", () => {
    const inQ = { qparams: makeQParams(0.01, 0), spec: int8AsymmetricPerTensor };
    const outQ = { qparams: makeQParams(0.02, 0), spec: int8AsymmetricPerTensor };
    const q = Int8Array.from([1, 2]);
    expect(() => requantizeTensor(q, inQ, outQ, "gemmlowp", { axis: 1 } as never)).toThrow(
      /requantizeTensor: unknown option 'axis'/,
    );
    expect(() => requantizeTensor(q, inQ, outQ, "tflite" as RequantMode)).toThrow(/mode must be one of/);
    expect(() => requantizeTensor(q, inQ, outQ, "gemmlowp", { clamp: { qmin: -200, qmax: 0 } })).toThrow(
      /requantizeTensor: clamp must be integers inside the output grid's range/,
    );
    expect(() => requantizeTensor(Uint8Array.from([200]), inQ, outQ, "gemmlowp")).toThrow(
      /requantizeTensor: q\[0\] = 200 is outside the grid's range \[-128, 127\]/,
    );
    expect(() =>
      requantizeTensor(
        q,
        inQ,
        { qparams: makeQParams(0.02, 300), spec: uint8AsymmetricPerTensor },
        "gemmlowp",
      ),
    ).toThrow(/requantizeTensor \(outQ\): qparams.zeroPoint\[0\] = 300/);
    const outQ3 = { qparams: makeQParams(0.03, 0), spec: int8AsymmetricPerTensor }; // 0.01 / 0.03: not 2^k
    expect(() => requantizeTensor(q, inQ, outQ3, "power-of-two")).toThrow(/exact power of two/);
    const perChannel0 = gridSpec({
      bits: 8,
      signed: true,
      symmetric: true,
      granularity: "per-channel",
      axis: 0,
    });
    const perChannel1 = gridSpec({
      bits: 8,
      signed: true,
      symmetric: true,
      granularity: "per-channel",
      axis: 1,
    });
    expect(() =>
      requantizeTensor(
        new Int8Array(6),
        { qparams: makeQParams([0.1, 0.1], 0), spec: perChannel0 },
        { qparams: makeQParams([0.1, 0.1, 0.1], 0), spec: perChannel1 },
        "gemmlowp",
        { shape: [2, 3] },
      ),
    ).toThrow(/per-channel grids must share the axis/);
    expect(() =>
      requantizeTensor(
        new Int8Array(6),
        { qparams: makeQParams([0.1, 0.1], 0), spec: perChannel0 },
        outQ,
        "gemmlowp",
      ),
    ).toThrow(/needs the shape/);
  });
});
