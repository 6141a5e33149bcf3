import {
  type AccumulatorSpec,
  type Conv2dIntOptions,
  conv2dInt,
  conv2dIntOutputShape,
  conv2dIntRequantized,
  type IntActivations,
  type IntWeights,
  type IntWeightType,
  intWeights,
  overflowCounts,
  packIntWeights,
  prepareOutputStage,
  type ReductionOrder,
  type RequantMode,
  requantizeValue,
} from "@quant-trim/npu-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accumulate, codes, outputTerms, rng, WEIGHT_RANGES } from "./int-kernel-reference.js";

interface ConvCase {
  N: number;
  groups: number;
  Cg: number;
  Mg: number;
  H: number;
  W: number;
  kH: number;
  kW: number;
  stride: [number, number];
  dilation: [number, number];
  pads: [number, number, number, number];
  act: "uint8" | "int8";
  type: IntWeightType;
  perChannel: boolean;
  withBias: boolean;
  extremes: boolean;
  order: ReductionOrder;
  seed: number;
}

interface BuiltConv {
  c: ConvCase;
  x: IntActivations;
  w: IntWeights;
  xCodes: number[];
  wCodes: number[];
  zw: number[];
  bias: Int32Array | undefined;
}

function buildConv(c: ConvCase): BuiltConv {
  const next = rng(c.seed);
  const C = c.groups * c.Cg;
  const M = c.groups * c.Mg;
  const [xlo, xhi] = c.act === "uint8" ? [0, 255] : [-128, 127];
  const xCodes = codes(next, c.N * C * c.H * c.W, xlo, xhi, c.extremes);
  const zx = codes(next, 1, xlo, xhi)[0]!;
  const [wlo, whi] = WEIGHT_RANGES[c.type];
  const wCodes = codes(next, M * c.Cg * c.kH * c.kW, wlo, whi, c.extremes);
  const zw = codes(next, c.perChannel ? M : 1, wlo, whi);
  const w = packIntWeights(wCodes, { type: c.type, shape: [M, c.Cg, c.kH, c.kW], zeroPoint: zw });
  const data = c.act === "uint8" ? Uint8Array.from(xCodes) : Int8Array.from(xCodes);
  const bias = c.withBias ? Int32Array.from(codes(next, M, -(2 ** 31), 2 ** 31 - 1, c.extremes)) : undefined;
  return { c, x: { data, shape: [c.N, C, c.H, c.W], zeroPoint: zx }, w, xCodes, wCodes, zw, bias };
}

function outSize(c: ConvCase): [number, number] {
  const Hout = Math.floor((c.H + c.pads[0] + c.pads[2] - c.dilation[0] * (c.kH - 1) - 1) / c.stride[0]) + 1;
  const Wout = Math.floor((c.W + c.pads[1] + c.pads[3] - c.dilation[1] * (c.kW - 1) - 1) / c.stride[1]) + 1;
  return [Hout, Wout];
}

/**
 * Direct convolution loop: for every output, the taps in the requested reduction order (a tap in the
 * padding reads the input zero point), their terms, the bias, the accumulator.
 */
function referenceConv(b: BuiltConv, accumulator: AccumulatorSpec, pairs: boolean) {
  const { c } = b;
  const C = c.groups * c.Cg;
  const M = c.groups * c.Mg;
  const [Hout, Wout] = outSize(c);
  const zx = b.x.zeroPoint;
  const values: number[] = [];
  let accumulatorEvents = 0;
  let int16Pairs = 0;
  for (let n = 0; n < c.N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / c.Mg);
      for (let oh = 0; oh < Hout; oh++) {
        for (let ow = 0; ow < Wout; ow++) {
          const xs: number[] = [];
          const ws: number[] = [];
          const tap = (ci: number, ky: number, kx: number) => {
            const ih = oh * c.stride[0] - c.pads[0] + ky * c.dilation[0];
            const iw = ow * c.stride[1] - c.pads[1] + kx * c.dilation[1];
            const inside = ih >= 0 && ih < c.H && iw >= 0 && iw < c.W;
            xs.push(inside ? b.xCodes[((n * C + g * c.Cg + ci) * c.H + ih) * c.W + iw]! : zx);
            ws.push(b.wCodes[((m * c.Cg + ci) * c.kH + ky) * c.kW + kx]!);
          };
          if (c.order === "c-kh-kw") {
            for (let ci = 0; ci < c.Cg; ci++)
              for (let ky = 0; ky < c.kH; ky++) for (let kx = 0; kx < c.kW; kx++) tap(ci, ky, kx);
          } else {
            for (let ky = 0; ky < c.kH; ky++)
              for (let kx = 0; kx < c.kW; kx++) for (let ci = 0; ci < c.Cg; ci++) tap(ci, ky, kx);
          }
          const { terms, saturatedPairs } = outputTerms(xs, zx, ws, b.zw[b.zw.length === 1 ? 0 : m]!, pairs);
          if (b.bias !== undefined) terms.push(b.bias[m]!);
          const r = accumulate(terms, accumulator);
          values.push(r.value);
          if (r.overflowed) accumulatorEvents++;
          int16Pairs += saturatedPairs;
        }
      }
    }
  }
  return { values, accumulatorEvents, int16Pairs, shape: [c.N, M, Hout, Wout] };
}

function options(b: BuiltConv, extra: Conv2dIntOptions = {}): Conv2dIntOptions {
  const { c } = b;
  return {
    stride: c.stride,
    padding: c.pads,
    dilation: c.dilation,
    groups: c.groups,
    reductionOrder: c.order,
    ...(b.bias !== undefined ? { bias: b.bias } : {}),
    ...extra,
  };
}

const small = (max: number) => fc.integer({ min: 1, max });
const pair = (max: number) => fc.tuple(small(max), small(max));

function convCases(over: {
  groups?: fc.Arbitrary<number>;
  Cg?: fc.Arbitrary<number>;
  Mg?: fc.Arbitrary<number>;
  act?: fc.Arbitrary<"uint8" | "int8">;
  type?: fc.Arbitrary<IntWeightType>;
  extremes?: fc.Arbitrary<boolean>;
}): fc.Arbitrary<ConvCase> {
  return fc
    .record({
      N: small(2),
      groups: over.groups ?? small(3),
      Cg: over.Cg ?? small(3),
      Mg: over.Mg ?? small(4),
      kH: small(3),
      kW: small(3),
      stride: pair(3),
      dilation: pair(2),
      pads: fc.tuple(...[0, 1, 2, 3].map(() => fc.integer({ min: 0, max: 2 }))) as fc.Arbitrary<
        [number, number, number, number]
      >,
      extraH: fc.integer({ min: 0, max: 6 }),
      extraW: fc.integer({ min: 0, max: 6 }),
      act: over.act ?? fc.constantFrom<"uint8" | "int8">("uint8", "int8"),
      type: over.type ?? fc.constantFrom<IntWeightType>("int8", "uint8", "int4", "uint4"),
      perChannel: fc.boolean(),
      withBias: fc.boolean(),
      extremes: over.extremes ?? fc.boolean(),
      order: fc.constantFrom<ReductionOrder>("c-kh-kw", "kh-kw-c"),
      seed: fc.integer(),
    })
    .map(({ extraH, extraW, ...c }) => ({
      ...c,
      // The dilated kernel must fit the padded input; extra rows/columns beyond that are free.
      H: Math.max(1, c.dilation[0] * (c.kH - 1) + 1 - c.pads[0] - c.pads[2]) + extraH,
      W: Math.max(1, c.dilation[1] * (c.kW - 1) + 1 - c.pads[1] - c.pads[3]) + extraW,
    }));
}

const INT32: AccumulatorSpec = { bits: 32, overflow: "wrap" };

describe("conv2dInt against a direct loop", () => {
  it("matches with stride, asymmetric padding (zero point), dilation and groups, per-tensor and per-channel", () => {
    fc.assert(
      fc.property(convCases({}), (c) => {
        const b = buildConv(c);
        const counts = overflowCounts();
        const got = conv2dInt(b.x, b.w, options(b, { overflow: counts }));
        const ref = referenceConv(b, INT32, false);
        expect(conv2dIntOutputShape(b.x.shape, b.w.shape, options(b))).toEqual(ref.shape);
        expect(Array.from(got)).toEqual(ref.values);
        expect(counts.accumulator).toBe(ref.accumulatorEvents);
        expect(counts.elements).toBe(ref.values.length);
      }),
      { numRuns: 150 },
    );
  });

  it("matches depthwise convolution (groups = C, channel multiplier 1–3)", () => {
    fc.assert(
      fc.property(
        convCases({
          groups: fc.integer({ min: 1, max: 6 }),
          Cg: fc.constant(1),
          Mg: fc.integer({ min: 1, max: 3 }),
        }),
        (c) => {
          const b = buildConv(c);
          expect(Array.from(conv2dInt(b.x, b.w, options(b)))).toEqual(referenceConv(b, INT32, false).values);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("wraps or saturates narrow accumulators in the requested reduction order, and counts them", () => {
    let events = 0;
    fc.assert(
      fc.property(
        convCases({ extremes: fc.constant(true) }),
        fc.integer({ min: 16, max: 24 }),
        fc.constantFrom<"wrap" | "saturate">("wrap", "saturate"),
        (c, bits, overflow) => {
          const b = buildConv(c);
          const accumulator = { bits, overflow };
          const counts = overflowCounts();
          const got = conv2dInt(b.x, b.w, options(b, { accumulator, overflow: counts }));
          const ref = referenceConv(b, accumulator, false);
          expect(Array.from(got)).toEqual(ref.values);
          expect(counts.accumulator).toBe(ref.accumulatorEvents);
          events += counts.accumulator;
        },
      ),
      { numRuns: 100 },
    );
    expect(events).toBeGreaterThan(50);
  });

  it("pairs u8·s8 taps in the requested reduction order and saturates each pair to int16", () => {
    let saturated = 0;
    fc.assert(
      fc.property(
        convCases({
          act: fc.constant("uint8"),
          type: fc.constantFrom<IntWeightType>("int8", "int4"),
          extremes: fc.constant(true),
        }),
        fc.constantFrom<AccumulatorSpec>(INT32, { bits: 18, overflow: "saturate" }),
        (c, accumulator) => {
          const b = buildConv(c);
          const counts = overflowCounts();
          const got = conv2dInt(
            b.x,
            b.w,
            options(b, { pairSaturation: true, accumulator, overflow: counts }),
          );
          const ref = referenceConv(b, accumulator, true);
          expect(Array.from(got)).toEqual(ref.values);
          expect(counts.int16Pairs).toBe(ref.int16Pairs);
          expect(counts.accumulator).toBe(ref.accumulatorEvents);
          saturated += counts.int16Pairs;
        },
      ),
      { numRuns: 100 },
    );
    expect(saturated).toBeGreaterThan(50);
  });

  it("splits a large batch into several GEMM calls without changing a value (55×55 images, 3 of them)", () => {
    const c: ConvCase = {
      N: 3,
      groups: 1,
      Cg: 1,
      Mg: 2,
      H: 55,
      W: 55,
      kH: 3,
      kW: 3,
      stride: [1, 1],
      dilation: [1, 1],
      pads: [1, 1, 1, 1],
      act: "uint8",
      type: "int8",
      perChannel: true,
      withBias: true,
      extremes: true,
      order: "kh-kw-c",
      seed: 99,
    };
    const b = buildConv(c);
    expect(Array.from(conv2dInt(b.x, b.w, options(b)))).toEqual(referenceConv(b, INT32, false).values);
    const narrow: AccumulatorSpec = { bits: 17, overflow: "saturate" };
    const counts = overflowCounts();
    const got = conv2dInt(
      b.x,
      b.w,
      options(b, { accumulator: narrow, pairSaturation: true, overflow: counts }),
    );
    const ref = referenceConv(b, narrow, true);
    expect(Array.from(got)).toEqual(ref.values);
    expect([counts.accumulator, counts.int16Pairs]).toEqual([ref.accumulatorEvents, ref.int16Pairs]);
  });

  it("gives one answer in both reduction orders when nothing saturates", () => {
    fc.assert(
      fc.property(convCases({}), (c) => {
        const b = buildConv(c);
        const first = conv2dInt(b.x, b.w, options(b, { reductionOrder: "c-kh-kw" }));
        expect(Array.from(conv2dInt(b.x, b.w, options(b, { reductionOrder: "kh-kw-c" })))).toEqual(
          Array.from(first),
        );
      }),
      { numRuns: 30 },
    );
  });
});

describe("conv2dIntRequantized", () => {
  it("equals requantizeValue applied to conv2dInt's accumulators, channel = output channel", () => {
    fc.assert(
      fc.property(
        convCases({}),
        fc.constantFrom<RequantMode>("gemmlowp", "single-rounding", "float32"),
        fc.boolean(),
        (c, mode, perChannelStage) => {
          const b = buildConv(c);
          const M = c.groups * c.Mg;
          const next = rng(c.seed ^ 0x1234567);
          const stage = prepareOutputStage({
            mode,
            effectiveScale: Array.from({ length: perChannelStage ? M : 1 }, () => 2 ** (-5 - 12 * next())),
            outZeroPoint: 5,
            qmin: 0,
            qmax: 200,
          });
          const acc = conv2dInt(b.x, b.w, options(b));
          const out = new Uint8Array(acc.length);
          const counts = overflowCounts();
          expect(conv2dIntRequantized(b.x, b.w, stage, out, options(b, { overflow: counts }))).toBe(out);
          const [, , Hout, Wout] = conv2dIntOutputShape(b.x.shape, b.w.shape, options(b));
          const plane = Hout * Wout;
          expect(Array.from(out)).toEqual(
            Array.from(acc, (v, i) => requantizeValue(v, stage, Math.floor(i / plane) % M)),
          );
          expect(counts.elements).toBe(acc.length);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("conv2dInt refuses inconsistent input, naming the argument", () => {
  const x: IntActivations = { data: new Uint8Array(2 * 4 * 5 * 5), shape: [2, 4, 5, 5], zeroPoint: 3 };
  const w = intWeights({ type: "int8", data: new Int8Array(6 * 2 * 3 * 3), shape: [6, 2, 3, 3] });
  const stage = prepareOutputStage({
    mode: "gemmlowp",
    effectiveScale: [0.01],
    outZeroPoint: 0,
    qmin: -128,
    qmax: 127,
  });

  it.each([
    [
      "groups not dividing the channels",
      () => conv2dInt(x, w, { groups: 3 }),
      /conv2dInt: options\.groups = 3 must divide the input channels \(4\) and the output channels \(6\)/,
    ],
    [
      "weights' input channels",
      () => conv2dInt(x, w),
      /conv2dInt: w\.shape \[6, 2, 3, 3\] expects 2 input channels \(2 per group × 1 groups\), but x\.shape \[2, 4, 5, 5\] has 4/,
    ],
    [
      "groups not an integer",
      () => conv2dInt(x, w, { groups: 1.5 }),
      /conv2dInt: options\.groups must be a positive integer, got 1\.5/,
    ],
    [
      "x rank",
      () => conv2dInt({ ...x, shape: [2, 4, 25] }, w, { groups: 2 }),
      /conv2dInt: x\.shape must be 4 non-negative integers/,
    ],
    [
      "x data length",
      () => conv2dInt({ ...x, data: new Uint8Array(10) }, w, { groups: 2 }),
      /conv2dInt: x\.data has length 10 but x\.shape \[2, 4, 5, 5\] needs 200/,
    ],
    [
      "x zero point",
      () => conv2dInt({ ...x, zeroPoint: -1 }, w, { groups: 2 }),
      /conv2dInt: x\.zeroPoint = -1 is outside the uint8 range \[0, 255\]/,
    ],
    [
      "weight rank",
      () => conv2dInt(x, intWeights({ type: "int8", data: new Int8Array(8), shape: [2, 4] })),
      /conv2dInt: w\.shape must be \[M, C\/groups, kH, kW\], got \[2, 4\]/,
    ],
    [
      "kernel larger than the padded input",
      () => conv2dInt(x, w, { groups: 2, dilation: 3 }),
      /conv2dInt: kernel 3×3 \(7×7 with dilation\) is larger than the padded input 5×5/,
    ],
    [
      "padding shape",
      () => conv2dInt(x, w, { groups: 2, padding: [1, 1, 1] as unknown as [number, number] }),
      /conv2dInt: options\.padding must be a number, \[h, w\] or \[top, left, bottom, right\]/,
    ],
    [
      "negative padding",
      () => conv2dInt(x, w, { groups: 2, padding: -1 }),
      /conv2dInt: options\.padding must be non-negative integers/,
    ],
    [
      "zero stride",
      () => conv2dInt(x, w, { groups: 2, stride: [1, 0] }),
      /conv2dInt: options\.stride must be positive integers/,
    ],
    [
      "bias length",
      () => conv2dInt(x, w, { groups: 2, bias: new Int32Array(4) }),
      /conv2dInt: options\.bias has length 4 but there are 6 output channels/,
    ],
    [
      "per-channel zero points off axis 0",
      () =>
        conv2dInt(
          x,
          intWeights({
            type: "int8",
            data: new Int8Array(108),
            shape: [6, 2, 3, 3],
            zeroPoint: [0, 0, 0],
            channelAxis: 2,
          }),
          { groups: 2 },
        ),
      /conv2dInt: w\.zeroPoint is per channel along axis 2, but output channels are axis 0 of w/,
    ],
    [
      "packed int4 length",
      () => intWeights({ type: "int4", data: new Uint8Array(55), shape: [6, 2, 3, 3] }),
      /intWeights: data has length 55 but shape \[6, 2, 3, 3\] of int4 needs 54 \(ceil\(108\/2\) packed bytes\)/,
    ],
    [
      "pair saturation with uint4 weights",
      () =>
        conv2dInt(x, packIntWeights(new Array(108).fill(0), { type: "uint4", shape: [6, 2, 3, 3] }), {
          groups: 2,
          pairSaturation: true,
        }),
      /conv2dInt: options\.pairSaturation models x86 uint8 × int8 products; got uint8 activations × uint4 weights/,
    ],
    [
      "reduction order",
      () => conv2dInt(x, w, { groups: 2, reductionOrder: "hwc" as ReductionOrder }),
      /conv2dInt: options\.reductionOrder must be one of c-kh-kw, kh-kw-c, got "hwc"/,
    ],
    [
      "unknown option",
      () => conv2dInt(x, w, { groups: 2, pad: 1 } as Conv2dIntOptions),
      /conv2dInt: unknown option 'pad'/,
    ],
    [
      "fused: stage channels",
      () =>
        conv2dIntRequantized(
          x,
          w,
          prepareOutputStage({
            mode: "float32",
            effectiveScale: [1, 1],
            outZeroPoint: 0,
            qmin: 0,
            qmax: 255,
          }),
          new Uint8Array(108),
          { groups: 2 },
        ),
      /conv2dIntRequantized: stage has 2 per-channel scales but the kernel has 6 output channels/,
    ],
    [
      "fused: out length",
      () => conv2dIntRequantized(x, w, stage, new Int8Array(10), { groups: 2 }),
      /conv2dIntRequantized: out has length 10 but the result has 108 elements/,
    ],
    [
      "fused: 48-bit accumulator",
      () =>
        conv2dIntRequantized(x, w, stage, new Int8Array(108), {
          groups: 2,
          accumulator: { bits: 48, overflow: "saturate" },
        }),
      /conv2dIntRequantized: options\.accumulator\.bits = 48/,
    ],
  ])("%s", (_name, call, message) => {
    expect(call).toThrow(message);
  });

  it("reads an odd-length packed int4 tensor without a trailing element", () => {
    // 1·1·1·3 = 3 codes in 2 bytes; the fourth nibble is never read, whatever it holds.
    const odd = intWeights({ type: "int4", data: Uint8Array.of(0x21, 0xf3), shape: [1, 1, 1, 3] });
    const input: IntActivations = { data: Uint8Array.of(10, 20, 30), shape: [1, 1, 1, 3], zeroPoint: 0 };
    expect(Array.from(conv2dInt(input, odd))).toEqual([10 * 1 + 20 * 2 + 30 * 3]);
  });
});
