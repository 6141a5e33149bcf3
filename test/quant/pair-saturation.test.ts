import { nn, noGrad, ops, Variable } from "@quant-trim/autograd";
import { conv2dInt, gemmInt, intWeights, type ReductionOrder } from "@quant-trim/npu-sim";
import {
  gridSpec,
  type Int16PairOrder,
  int16PairSaturationCorrection,
  MinMaxObserver,
  makeQParams,
  prepareQat,
  type QatConfig,
  quantize,
} from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/*
 * The int16 pair-saturation correction of fake quantization against npu-sim's integer kernels with
 * `pairSaturation` (x86 vpmaddubsw): the corrected fake-quantized Linear/Conv2d output must be the
 * dequantized integer accumulator. With power-of-two scales every float32 value and partial sum here is
 * exact (|sums| < 2^24 code units), so the comparison is exact equality: one pair formed differently
 * than the kernel forms it shows up as a difference of at least one code unit.
 */

const u8 = gridSpec({ bits: 8, signed: false, symmetric: false, granularity: "per-tensor" });
const s8PerChannel = gridSpec({
  bits: 8,
  signed: true,
  symmetric: true,
  narrowRange: true,
  granularity: "per-channel",
  axis: 0,
});
const s8Asymmetric = gridSpec({
  bits: 8,
  signed: true,
  symmetric: false,
  granularity: "per-channel",
  axis: 0,
});

/** Codes that often sit near the ends of their range, so pairs saturate in many cases. */
const code = (min: number, max: number) =>
  fc.oneof(fc.integer({ min, max }), fc.integer({ min: max - 40, max }), fc.integer({ min, max: min + 40 }));

interface Operands {
  xCodes: number[];
  zx: number;
  sx: number;
  wCodes: number[];
  zw: number[];
  sw: number[];
}

const operands = (xSize: number, M: number, perOut: number, asymmetricW: boolean) =>
  fc.record({
    xCodes: fc.array(code(0, 255), { minLength: xSize, maxLength: xSize }),
    zx: fc.integer({ min: 0, max: 255 }),
    sx: fc.integer({ min: -8, max: -2 }).map((e) => 2 ** e),
    wCodes: fc.array(code(asymmetricW ? -128 : -127, 127), { minLength: M * perOut, maxLength: M * perOut }),
    zw: fc.array(asymmetricW ? fc.integer({ min: -20, max: 20 }) : fc.constant(0), {
      minLength: M,
      maxLength: M,
    }),
    sw: fc.array(
      fc.integer({ min: -9, max: -3 }).map((e) => 2 ** e),
      { minLength: M, maxLength: M },
    ),
  });

/** x̂ = s_x·(q − z_x) and ŵ = s_w[o]·(q − z_w[o]) as float32 tensors, plus the kernels' operands. */
function realOperands(o: Operands, xShape: number[], wShape: number[]) {
  const M = wShape[0]!;
  const perOut = o.wCodes.length / M;
  const x = T.fromData(
    Float32Array.from(o.xCodes, (q) => o.sx * (q - o.zx)),
    xShape,
  );
  const w = T.fromData(
    Float32Array.from(o.wCodes, (q, i) => {
      const c = Math.floor(i / perOut);
      return o.sw[c]! * (q - o.zw[c]!);
    }),
    wShape,
  );
  const a = { data: Uint8Array.from(o.xCodes), shape: xShape, zeroPoint: o.zx };
  const b = intWeights({
    type: "int8",
    data: Int8Array.from(o.wCodes),
    shape: wShape,
    zeroPoint: o.zw,
    channelAxis: 0,
  });
  return { x, w, a, b, xq: makeQParams(o.sx, o.zx), wq: makeQParams(o.sw, o.zw) };
}

/** Dequantized accumulators s_x·s_w[o]·acc, the output channel at index ⌊i / inner⌋ mod M. */
function dequantized(acc: Int32Array, o: Operands, M: number, inner: number): Float32Array {
  return Float32Array.from(acc, (v, i) => v * o.sx * o.sw[Math.floor(i / inner) % M]!);
}

function corrected(y: T.Tensor, c: T.Tensor | null): Float32Array {
  return (c === null ? y : T.add(y, c)).toFloat32Array();
}

describe("int16 pair-saturation correction = npu-sim integer kernels with pairSaturation", () => {
  it("Linear: pairs (0,1), (2,3), … along K, odd K's last product alone; per-channel and asymmetric weights", () => {
    let saturatingCases = 0;
    const shapes = fc.record({
      R: fc.integer({ min: 1, max: 3 }),
      K: fc.integer({ min: 1, max: 9 }),
      M: fc.integer({ min: 1, max: 3 }),
      asymmetricW: fc.boolean(),
    });
    const cases = shapes.chain((s) => fc.tuple(fc.constant(s), operands(s.R * s.K, s.M, s.K, s.asymmetricW)));
    fc.assert(
      fc.property(cases, ([{ R, K, M, asymmetricW }, o]) => {
        const { x, w, a, b, xq, wq } = realOperands(o, [R, K], [M, K]);
        const grid = asymmetricW ? s8Asymmetric : s8PerChannel;
        const c = int16PairSaturationCorrection(x, xq, u8, w, wq, grid, null, "kh-kw-c");
        if (c !== null) saturatingCases++;
        const fq = corrected(T.matmul(x, T.transpose(w)), c);
        const acc = gemmInt(a, b, { transposeB: true, pairSaturation: true });
        expect(Array.from(fq)).toEqual(Array.from(dequantized(acc, o, M, 1)));
      }),
      { numRuns: 300 },
    );
    // The property is only worth something if many cases saturate.
    expect(saturatingCases).toBeGreaterThan(60);
  });

  it("Conv2d: both reduction orders, odd channel counts, groups and depthwise, stride, dilation, padding (zero-point taps)", () => {
    let saturatingCases = 0;
    const shapes = fc
      .record({
        N: fc.integer({ min: 1, max: 2 }),
        groups: fc.integer({ min: 1, max: 3 }),
        Cg: fc.integer({ min: 1, max: 3 }),
        Mg: fc.integer({ min: 1, max: 2 }),
        kH: fc.integer({ min: 1, max: 3 }),
        kW: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }),
        dilation: fc.integer({ min: 1, max: 2 }),
        padding: fc.integer({ min: 0, max: 1 }),
        extraH: fc.integer({ min: 0, max: 2 }),
        extraW: fc.integer({ min: 0, max: 2 }),
        order: fc.constantFrom<Int16PairOrder>("kh-kw-c", "c-kh-kw"),
        asymmetricW: fc.boolean(),
      })
      .map((s) => {
        // The smallest input the (dilated) kernel fits in, plus a little.
        const H = Math.max(1, s.dilation * (s.kH - 1) + 1 - 2 * s.padding) + s.extraH;
        const W = Math.max(1, s.dilation * (s.kW - 1) + 1 - 2 * s.padding) + s.extraW;
        return { ...s, H, W, C: s.Cg * s.groups, M: s.Mg * s.groups };
      });
    const cases = shapes.chain((s) =>
      fc.tuple(fc.constant(s), operands(s.N * s.C * s.H * s.W, s.M, s.Cg * s.kH * s.kW, s.asymmetricW)),
    );
    fc.assert(
      fc.property(cases, ([s, o]) => {
        const xShape = [s.N, s.C, s.H, s.W];
        const wShape = [s.M, s.Cg, s.kH, s.kW];
        const { x, w, a, b, xq, wq } = realOperands(o, xShape, wShape);
        const geometry = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        const grid = s.asymmetricW ? s8Asymmetric : s8PerChannel;
        const c = int16PairSaturationCorrection(x, xq, u8, w, wq, grid, geometry, s.order);
        if (c !== null) saturatingCases++;
        const fq = corrected(T.conv2d(x, w, null, geometry), c);
        const acc = conv2dInt(a, b, {
          ...geometry,
          pairSaturation: true,
          reductionOrder: s.order as ReductionOrder,
        });
        const [, , Hout, Wout] = T.conv2dOutputShape(xShape, wShape, geometry);
        expect(Array.from(fq)).toEqual(Array.from(dequantized(acc, o, s.M, Hout! * Wout!)));
      }),
      { numRuns: 300 },
    );
    expect(saturatingCases).toBeGreaterThan(60);
  });

  it("the two reduction orders pair different taps (a 2-channel 2×1 kernel)", () => {
    // k order kh-kw-c: (t0 c0, t0 c1), (t1 c0, t1 c1); c-kh-kw: (c0 t0, c0 t1), (c1 t0, c1 t1).
    // Weights +127 on channel 0, −127 on channel 1, activations 255: channels-last pairs cancel, the
    // other order pairs two +127·255 products, which saturates.
    const x = T.fromData(new Float32Array(4).fill(255), [1, 2, 2, 1]);
    const w = T.fromData(Float32Array.from([127, 127, -127, -127]), [1, 2, 2, 1]);
    const xq = makeQParams(1, 0);
    const wq = makeQParams([1], [0]);
    const geometry = { groups: 1 };
    expect(int16PairSaturationCorrection(x, xq, u8, w, wq, s8PerChannel, geometry, "kh-kw-c")).toBeNull();
    const c = int16PairSaturationCorrection(x, xq, u8, w, wq, s8PerChannel, geometry, "c-kh-kw");
    // Pairs +64770 and −64770: (32767 − 64770) + (−32768 − (−64770)) = −1.
    expect(Array.from(c!.toFloat32Array())).toEqual([-1]);
  });
});

/*
 * The option on a prepared model: the layer's output (before its output point) is the dequantized
 * integer accumulator of the codes the points quantize to, and the gradient is that of the uncorrected
 * layer (straight through).
 */

const config = (pairs: boolean): QatConfig => ({
  inputShape: [1, 3, 5, 5],
  weight: s8PerChannel,
  activation: u8,
  activationObserver: () => new MinMaxObserver(),
  ...(pairs ? { accumulator: { int16Pairs: "kh-kw-c" as const } } : {}),
});

/** Inputs on a positive range with large values, so the u8 codes of the input are large. */
const input = () => T.rand([2, 3, 5, 5], new T.Rng(3), 0, 1);

function convModel(): nn.Sequential {
  const conv = new nn.Conv2d(3, 4, 3, { padding: 1, rng: new T.Rng(1) });
  // Weights of one sign per channel: every same-sign pair with large codes can saturate.
  noGrad(() => T.assign(conv.weight.data, T.abs(conv.weight.data)));
  return new nn.Sequential(conv);
}

function prepared(model: nn.Sequential, pairs: boolean) {
  const qat = prepareQat(model, config(pairs));
  qat.setLambda(1);
  model.eval();
  qat.calibrate(() => noGrad(() => void model.call(new Variable(input()))));
  // The conv's output as it reaches its output point.
  const point = qat.activationPoints.find((p) => p.name === "0.output")!;
  let seen: Variable | null = null;
  const apply = point.apply.bind(point);
  point.apply = (y, training) => {
    seen = y;
    return apply(y, training);
  };
  return { qat, seen: () => seen! };
}

describe("prepareQat({ accumulator: { int16Pairs } })", () => {
  it("the conv output equals the dequantized pair-saturating integer convolution of the points' codes", () => {
    const model = convModel();
    const conv = model.layers[0] as nn.Conv2d;
    const { qat, seen } = prepared(model, true);
    const xv = input();
    noGrad(() => model.call(new Variable(xv)));
    const y = seen().data.toFloat32Array();
    const [wInfo, xInfo] = [qat.describe().find((p) => p.name === "0.weight")!, qat.describe()[1]!];
    expect(xInfo.name).toBe("input");
    const xCodes = quantize(xv.toFloat32Array(), xInfo.qparams!, u8);
    const wCodes = quantize(conv.weight.data.toFloat32Array(), wInfo.qparams!, s8PerChannel, [4, 3, 3, 3]);
    const acc = conv2dInt(
      { data: Uint8Array.from(xCodes), shape: [2, 3, 5, 5], zeroPoint: xInfo.qparams!.zeroPoint[0]! },
      intWeights({ type: "int8", data: Int8Array.from(wCodes), shape: [4, 3, 3, 3] }),
      { padding: 1, pairSaturation: true, reductionOrder: "kh-kw-c" },
    );
    const sx = xInfo.qparams!.scale[0]!;
    const sw = wInfo.qparams!.scale;
    const bias = conv.bias!.data.toFloat32Array();
    const expected = Float32Array.from(acc, (v, i) => {
      const o = Math.floor(i / 25) % 4;
      return v * sx * sw[o]! + bias[o]!;
    });
    // Scales here are not powers of two: float32 rounding of the float convolution, relative to the
    // largest output, is far below one code unit s_x·s_w (≈ 2e-4 of it).
    const scale = Math.max(...expected.map(Math.abs));
    let worst = 0;
    for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i]! - expected[i]!));
    expect(worst).toBeLessThan(1e-5 * scale);
    // And the uncorrected model differs from it: this case saturates.
    const plain = convModel();
    const other = prepared(plain, false);
    noGrad(() => plain.call(new Variable(xv)));
    const y0 = other.seen().data.toFloat32Array();
    let gap = 0;
    for (let i = 0; i < y0.length; i++) gap = Math.max(gap, Math.abs(y0[i]! - expected[i]!));
    expect(gap).toBeGreaterThan(100 * sx * Math.min(...sw));
  });

  it("the gradient is the uncorrected layer's (Conv2d and Linear)", () => {
    const linearModel = () => {
      const lin = new nn.Linear(75, 3, { rng: new T.Rng(2) });
      noGrad(() => T.assign(lin.weight.data, T.abs(lin.weight.data)));
      return new nn.Sequential(new nn.Flatten(), lin);
    };
    for (const [make, point] of [
      [convModel, "0.output"],
      [linearModel, "1.output"],
    ] as const) {
      const grads = [true, false].map((pairs) => {
        const model = make();
        const qat = prepareQat(model, { ...config(pairs) });
        qat.setLambda(1);
        model.eval();
        qat.calibrate(() => noGrad(() => void model.call(new Variable(input()))));
        const x = new Variable(input(), { requiresGrad: true });
        const y = model.call(x);
        // A loss with weights that differ per output, so the gradient depends on the layer's shape.
        const c = T.rand(y.shape, new T.Rng(5), -1, 1);
        ops.sum(ops.mul(y, new Variable(c))).backward();
        const layer = model.layers.find((m) => m instanceof nn.Conv2d || m instanceof nn.Linear) as
          | nn.Conv2d
          | nn.Linear;
        return {
          y: y.data.toFloat32Array(),
          dx: x.grad!.toFloat32Array(),
          dw: layer.weight.grad!.toFloat32Array(),
          points: qat.describe().map((p) => p.name),
        };
      });
      expect(grads[0]!.points).toContain(point);
      // The forward passes differ (the case saturates) …
      expect(Array.from(grads[0]!.y)).not.toEqual(Array.from(grads[1]!.y));
      // … the gradients do not.
      expect(Array.from(grads[0]!.dx)).toEqual(Array.from(grads[1]!.dx));
      expect(Array.from(grads[0]!.dw)).toEqual(Array.from(grads[1]!.dw));
    }
  });

  it("detach() takes the layer's hooks out again", () => {
    const model = convModel();
    const conv = model.layers[0] as nn.Conv2d;
    const before = { ...conv.hooks };
    prepareQat(model, config(true)).detach();
    expect(conv.hooks).toEqual(before);
    expect(conv.weightHook).toBeNull();
  });

  it("rejects an unknown order", () => {
    expect(() =>
      prepareQat(convModel(), { ...config(false), accumulator: { int16Pairs: "nhwc" as never } }),
    ).toThrow(/int16Pairs must be one of kh-kw-c, c-kh-kw/);
  });
});
