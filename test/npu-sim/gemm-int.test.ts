import {
  type AccumulatorSpec,
  type GemmIntOptions,
  gemmInt,
  gemmIntRequantized,
  type IntActivations,
  type IntWeights,
  type IntWeightType,
  intWeights,
  overflowCounts,
  packIntWeights,
  prepareOutputStage,
  type RequantMode,
  requantizeValue,
} from "@quant-trim/npu-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accumulate, codes, outputTerms, rng, WEIGHT_RANGES } from "./int-kernel-reference.js";

interface GemmCase {
  M: number;
  N: number;
  K: number;
  act: "uint8" | "int8";
  type: IntWeightType;
  transposeB: boolean;
  perChannel: boolean;
  withBias: boolean;
  extremes: boolean;
  seed: number;
}

interface BuiltGemm {
  c: GemmCase;
  a: IntActivations;
  w: IntWeights;
  aCodes: number[];
  /** Weight codes as logical [K, N], whatever the storage layout. */
  wKN: number[];
  zw: number[];
  bias: Int32Array | undefined;
}

function buildGemm(c: GemmCase): BuiltGemm {
  const next = rng(c.seed);
  const [alo, ahi] = c.act === "uint8" ? [0, 255] : [-128, 127];
  const aCodes = codes(next, c.M * c.K, alo, ahi, c.extremes);
  const za = codes(next, 1, alo, ahi)[0]!;
  const [wlo, whi] = WEIGHT_RANGES[c.type];
  const wKN = codes(next, c.K * c.N, wlo, whi, c.extremes);
  const zw = codes(next, c.perChannel ? c.N : 1, wlo, whi);
  const stored = c.transposeB ? transposeKN(wKN, c.K, c.N) : wKN;
  const w = packIntWeights(stored, {
    type: c.type,
    shape: c.transposeB ? [c.N, c.K] : [c.K, c.N],
    zeroPoint: zw,
    channelAxis: c.transposeB ? 0 : 1,
  });
  const data = c.act === "uint8" ? Uint8Array.from(aCodes) : Int8Array.from(aCodes);
  const bias = c.withBias
    ? Int32Array.from(codes(next, c.N, -(2 ** 31), 2 ** 31 - 1, c.extremes))
    : undefined;
  return { c, a: { data, shape: [c.M, c.K], zeroPoint: za }, w, aCodes, wKN, zw, bias };
}

function transposeKN(kn: number[], K: number, N: number): number[] {
  const nk = new Array<number>(K * N);
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) nk[j * K + k] = kn[k * N + j]!;
  return nk;
}

/** One output at a time from the unpacked codes. */
function referenceGemm(b: BuiltGemm, accumulator: AccumulatorSpec, pairs: boolean) {
  const { M, N, K } = b.c;
  const values = new Array<number>(M * N);
  let accumulatorEvents = 0;
  let int16Pairs = 0;
  for (let i = 0; i < M; i++) {
    const row = b.aCodes.slice(i * K, (i + 1) * K);
    for (let j = 0; j < N; j++) {
      const col = Array.from({ length: K }, (_, k) => b.wKN[k * N + j]!);
      const { terms, saturatedPairs } = outputTerms(
        row,
        b.a.zeroPoint,
        col,
        b.zw[b.zw.length === 1 ? 0 : j]!,
        pairs,
      );
      if (b.bias !== undefined) terms.push(b.bias[j]!);
      const r = accumulate(terms, accumulator);
      values[i * N + j] = r.value;
      if (r.overflowed) accumulatorEvents++;
      int16Pairs += saturatedPairs;
    }
  }
  return { values, accumulatorEvents, int16Pairs };
}

/** The int32-wrapping product alone, as a direct triple loop (fast enough for the block-sized cases). */
function referenceGemmInt32(b: BuiltGemm): number[] {
  const { M, N, K } = b.c;
  const za = b.a.zeroPoint;
  const values = new Array<number>(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const zw = b.zw[b.zw.length === 1 ? 0 : j]!;
      let s = b.bias !== undefined ? b.bias[j]! : 0;
      for (let k = 0; k < K; k++) s += (b.aCodes[i * K + k]! - za) * (b.wKN[k * N + j]! - zw);
      values[i * N + j] = Number(BigInt.asIntN(32, BigInt(s)));
    }
  }
  return values;
}

function options(b: BuiltGemm, extra: GemmIntOptions = {}): GemmIntOptions {
  return { transposeB: b.c.transposeB, ...(b.bias !== undefined ? { bias: b.bias } : {}), ...extra };
}

const weightTypes = fc.constantFrom<IntWeightType>("int8", "uint8", "int4", "uint4");

function gemmCases(dims: {
  M: fc.Arbitrary<number>;
  N: fc.Arbitrary<number>;
  K: fc.Arbitrary<number>;
  act?: fc.Arbitrary<"uint8" | "int8">;
  type?: fc.Arbitrary<IntWeightType>;
  extremes?: fc.Arbitrary<boolean>;
}): fc.Arbitrary<GemmCase> {
  return fc.record({
    M: dims.M,
    N: dims.N,
    K: dims.K,
    act: dims.act ?? fc.constantFrom<"uint8" | "int8">("uint8", "int8"),
    type: dims.type ?? weightTypes,
    transposeB: fc.boolean(),
    perChannel: fc.boolean(),
    withBias: fc.boolean(),
    extremes: dims.extremes ?? fc.boolean(),
    seed: fc.integer(),
  });
}

const INT32: AccumulatorSpec = { bits: 32, overflow: "wrap" };

describe("gemmInt against a naive reference", () => {
  it("equals (A − a_zp)(B − b_zp) + bias with int32 wraparound on random shapes, types and zero points", () => {
    fc.assert(
      fc.property(
        gemmCases({
          M: fc.integer({ min: 1, max: 9 }),
          N: fc.integer({ min: 1, max: 19 }),
          K: fc.integer({ min: 0, max: 40 }),
        }),
        (c) => {
          const b = buildGemm(c);
          const counts = overflowCounts();
          const got = gemmInt(b.a, b.w, options(b, { overflow: counts }));
          const ref = referenceGemm(b, INT32, false);
          expect(got).toBeInstanceOf(Int32Array);
          expect(Array.from(got)).toEqual(ref.values);
          expect(counts.accumulator).toBe(ref.accumulatorEvents);
          expect(counts.elements).toBe(c.M * c.N);
          expect(counts.int16Pairs).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("stays exact across the kernel's row, column and K blocks (M ≈ 128, N ≈ 512, K ≈ 256)", () => {
    fc.assert(
      fc.property(
        gemmCases({
          M: fc.constantFrom(3, 129),
          N: fc.constantFrom(9, 514),
          K: fc.constantFrom(257, 300),
          extremes: fc.constant(true),
        }),
        (c) => {
          const b = buildGemm(c);
          expect(Array.from(gemmInt(b.a, b.w, options(b)))).toEqual(referenceGemmInt32(b));
        },
      ),
      { numRuns: 6 },
    );
  });

  it("wraps or saturates narrow accumulators exactly like a register of that width, and counts the outputs", () => {
    let events = 0;
    fc.assert(
      fc.property(
        gemmCases({
          M: fc.integer({ min: 1, max: 5 }),
          N: fc.integer({ min: 1, max: 11 }),
          K: fc.integer({ min: 1, max: 120 }),
          extremes: fc.constant(true),
        }),
        fc.integer({ min: 16, max: 32 }),
        fc.constantFrom<"wrap" | "saturate">("wrap", "saturate"),
        (c, bits, overflow) => {
          const b = buildGemm(c);
          const accumulator = { bits, overflow };
          const counts = overflowCounts();
          const got = gemmInt(b.a, b.w, options(b, { accumulator, overflow: counts }));
          const ref = referenceGemm(b, accumulator, false);
          expect(Array.from(got)).toEqual(ref.values);
          expect(counts.accumulator).toBe(ref.accumulatorEvents);
          events += counts.accumulator;
        },
      ),
      { numRuns: 120 },
    );
    expect(events).toBeGreaterThan(100); // the inputs did overflow, so both behaviours were exercised
  });

  it("keeps accumulators wider than 32 bits exact in a Float64Array and wraps/saturates them at 33 bits", () => {
    // One dot product of 70 000 terms of 255·(−128) = −32640: about −2.28e9, past int32 and inside 33 bits
    // only after a bias of −2^31 pushes it further.
    const K = 70_000;
    const a: IntActivations = { data: new Uint8Array(K).fill(255), shape: [1, K], zeroPoint: 0 };
    const w = intWeights({ type: "int8", data: new Int8Array(K).fill(-128), shape: [K, 1] });
    const bias = Int32Array.of(-(2 ** 31));
    const exact = K * 255 * -128 - 2 ** 31;
    const as33 = Number(BigInt.asIntN(33, BigInt(exact)));
    for (const [accumulator, expected, events] of [
      [{ bits: 40, overflow: "wrap" }, exact, 0],
      [{ bits: 64, overflow: "saturate" }, exact, 0],
      [{ bits: 33, overflow: "wrap" }, as33, 1],
      [{ bits: 33, overflow: "saturate" }, -(2 ** 32), 1],
      [{ bits: 32, overflow: "wrap" }, exact | 0, 1],
    ] as const) {
      const counts = overflowCounts();
      const got = gemmInt(a, w, { bias, accumulator, overflow: counts, out: new Float64Array(1) });
      expect(got).toBeInstanceOf(Float64Array);
      expect(got[0]).toBe(expected);
      expect(counts.accumulator).toBe(events);
    }
    expect(as33).not.toBe(exact);
  });

  it("writes into a caller's out array and returns it", () => {
    const b = buildGemm({
      M: 3,
      N: 5,
      K: 7,
      act: "int8",
      type: "int4",
      transposeB: true,
      perChannel: true,
      withBias: true,
      extremes: false,
      seed: 7,
    });
    const out = new Int32Array(15).fill(12345);
    expect(gemmInt(b.a, b.w, options(b, { out } as GemmIntOptions))).toBe(out);
    expect(Array.from(out)).toEqual(referenceGemm(b, INT32, false).values);
    const wide = gemmInt(b.a, b.w, { ...options(b), out: new Float64Array(15) });
    expect(Array.from(wide)).toEqual(Array.from(out));
  });
});

describe("gemmInt with x86 int16 pair saturation", () => {
  it("sums raw u8·s8 products two by two from k = 0, clamps each pair to int16, then applies the zero points", () => {
    let saturated = 0;
    fc.assert(
      fc.property(
        gemmCases({
          M: fc.integer({ min: 1, max: 6 }),
          N: fc.integer({ min: 1, max: 10 }),
          K: fc.integer({ min: 1, max: 33 }),
          act: fc.constant("uint8"),
          type: fc.constantFrom<IntWeightType>("int8", "int4"),
          extremes: fc.constant(true),
        }),
        fc.constantFrom<AccumulatorSpec>(
          INT32,
          { bits: 20, overflow: "wrap" },
          { bits: 22, overflow: "saturate" },
        ),
        (c, accumulator) => {
          const b = buildGemm(c);
          const counts = overflowCounts();
          const got = gemmInt(b.a, b.w, options(b, { pairSaturation: true, accumulator, overflow: counts }));
          const ref = referenceGemm(b, accumulator, true);
          expect(Array.from(got)).toEqual(ref.values);
          expect(counts.int16Pairs).toBe(ref.int16Pairs);
          expect(counts.accumulator).toBe(ref.accumulatorEvents);
          saturated += counts.int16Pairs;
        },
      ),
      { numRuns: 120 },
    );
    expect(saturated).toBeGreaterThan(100);
  });

  it("saturates across K blocks too (K = 300, 513)", () => {
    for (const K of [300, 513]) {
      const b = buildGemm({
        M: 5,
        N: 6,
        K,
        act: "uint8",
        type: "int8",
        transposeB: false,
        perChannel: true,
        withBias: true,
        extremes: true,
        seed: K,
      });
      const counts = overflowCounts();
      const got = gemmInt(b.a, b.w, options(b, { pairSaturation: true, overflow: counts }));
      const ref = referenceGemm(b, INT32, true);
      expect(Array.from(got)).toEqual(ref.values);
      expect(counts.int16Pairs).toBe(ref.int16Pairs);
      expect(counts.int16Pairs).toBeGreaterThan(0);
    }
  });

  it("equals the plain product when no pair can leave int16 (a ≤ 127, |w| ≤ 64)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 40 }),
        fc.boolean(),
        fc.integer(),
        (M, N, K, perChannel, seed) => {
          const next = rng(seed);
          const a: IntActivations = {
            data: Uint8Array.from(codes(next, M * K, 0, 127, true)),
            shape: [M, K],
            zeroPoint: codes(next, 1, 0, 255)[0]!,
          };
          const w = packIntWeights(codes(next, K * N, -64, 63, true), {
            type: "int8",
            shape: [K, N],
            zeroPoint: codes(next, perChannel ? N : 1, -128, 127),
            channelAxis: 1,
          });
          const counts = overflowCounts();
          const paired = gemmInt(a, w, { pairSaturation: true, overflow: counts });
          expect(Array.from(paired)).toEqual(Array.from(gemmInt(a, w)));
          expect(counts.int16Pairs).toBe(0);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("pairs exactly one pair of extreme products: 255·127 + 255·127 clamps to 32767", () => {
    const a: IntActivations = { data: Uint8Array.of(255, 255, 255), shape: [1, 3], zeroPoint: 0 };
    const w = intWeights({ type: "int8", data: Int8Array.of(127, 127, 127), shape: [3, 1] });
    const counts = overflowCounts();
    expect(Array.from(gemmInt(a, w, { pairSaturation: true, overflow: counts }))).toEqual([
      32767 + 255 * 127,
    ]);
    expect(counts.int16Pairs).toBe(1);
  });
});

describe("gemmIntRequantized", () => {
  it("equals requantizeValue applied to gemmInt's accumulators, channel = column", () => {
    fc.assert(
      fc.property(
        gemmCases({
          M: fc.integer({ min: 1, max: 6 }),
          N: fc.integer({ min: 1, max: 12 }),
          K: fc.integer({ min: 1, max: 30 }),
        }),
        fc.constantFrom<RequantMode>("gemmlowp", "single-rounding", "float32"),
        fc.boolean(),
        fc.boolean(),
        (c, mode, perChannelStage, signedOut) => {
          const b = buildGemm(c);
          const next = rng(c.seed ^ 0x5bd1e995);
          const scales = Array.from({ length: perChannelStage ? c.N : 1 }, () => 2 ** (-6 - 12 * next()));
          const stage = prepareOutputStage({
            mode,
            effectiveScale: scales,
            outZeroPoint: signedOut ? -3 : 128,
            qmin: signedOut ? -128 : 0,
            qmax: signedOut ? 127 : 255,
          });
          const out = signedOut ? new Int8Array(c.M * c.N) : new Uint8Array(c.M * c.N);
          const counts = overflowCounts();
          expect(gemmIntRequantized(b.a, b.w, stage, out, { ...options(b), overflow: counts })).toBe(out);
          const acc = gemmInt(b.a, b.w, options(b));
          const expected = Array.from(acc, (v, i) => requantizeValue(v, stage, i % c.N));
          expect(Array.from(out)).toEqual(expected);
          expect(counts.elements).toBe(c.M * c.N);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("gemmInt refuses inconsistent input, naming the argument", () => {
  const a: IntActivations = { data: new Uint8Array(6), shape: [2, 3], zeroPoint: 0 };
  const w = intWeights({ type: "int8", data: new Int8Array(12), shape: [3, 4] });
  const stage = prepareOutputStage({
    mode: "float32",
    effectiveScale: [0.01],
    outZeroPoint: 0,
    qmin: -128,
    qmax: 127,
  });

  it.each([
    [
      "K mismatch",
      () => gemmInt(a, intWeights({ type: "int8", data: new Int8Array(8), shape: [2, 4] })),
      /gemmInt: b\.shape \[2, 4\] does not match a\.shape \[2, 3\]/,
    ],
    [
      "K mismatch, transposed",
      () => gemmInt(a, w, { transposeB: true }),
      /gemmInt: b\.shape \[3, 4\] does not match a\.shape \[2, 3\]: \[N, K\] needs K = 3/,
    ],
    [
      "a data length",
      () => gemmInt({ ...a, data: new Uint8Array(5) }, w),
      /gemmInt: a\.data has length 5 but a\.shape \[2, 3\] needs 6/,
    ],
    ["a rank", () => gemmInt({ ...a, shape: [6] }, w), /gemmInt: a\.shape must be 2 non-negative integers/],
    [
      "a container",
      () => gemmInt({ ...a, data: new Int16Array(6) as unknown as Uint8Array }, w),
      /gemmInt: a\.data must be a Uint8Array or an Int8Array/,
    ],
    [
      "a zero point above uint8",
      () => gemmInt({ ...a, zeroPoint: 256 }, w),
      /gemmInt: a\.zeroPoint = 256 is outside the uint8 range \[0, 255\]/,
    ],
    [
      "a zero point below int8",
      () => gemmInt({ data: new Int8Array(6), shape: [2, 3], zeroPoint: -129 }, w),
      /gemmInt: a\.zeroPoint = -129 is outside the int8 range/,
    ],
    [
      "a zero point not an integer",
      () => gemmInt({ ...a, zeroPoint: 1.5 }, w),
      /gemmInt: a\.zeroPoint = 1\.5/,
    ],
    [
      "weights zero point mutated out of range",
      () => {
        const bad = intWeights({ type: "int4", data: new Uint8Array(6), shape: [3, 4] });
        bad.zeroPoint[0] = 8;
        return gemmInt(a, bad);
      },
      /gemmInt: b: zeroPoint\[0\] = 8 is outside the int4 range \[-8, 7\]/,
    ],
    [
      "per-channel zero points on the K axis",
      () =>
        gemmInt(
          a,
          intWeights({
            type: "int8",
            data: new Int8Array(12),
            shape: [3, 4],
            zeroPoint: [0, 0, 0],
            channelAxis: 0,
          }),
        ),
      /gemmInt: b\.zeroPoint is per channel along axis 0, but the output columns are axis 1 of b/,
    ],
    [
      "bias length",
      () => gemmInt(a, w, { bias: new Int32Array(3) }),
      /gemmInt: options\.bias has length 3 but there are 4 output channels/,
    ],
    [
      "bias type",
      () => gemmInt(a, w, { bias: new Float32Array(4) as unknown as Int32Array }),
      /gemmInt: options\.bias must be an Int32Array/,
    ],
    [
      "accumulator bits too small",
      () => gemmInt(a, w, { accumulator: { bits: 8, overflow: "wrap" } }),
      /gemmInt: options\.accumulator\.bits must be an integer in \[16, 64\], got 8/,
    ],
    [
      "accumulator bits too large",
      () => gemmInt(a, w, { accumulator: { bits: 65, overflow: "wrap" } }),
      /options\.accumulator\.bits must be an integer in \[16, 64\], got 65/,
    ],
    [
      "accumulator overflow mode",
      () => gemmInt(a, w, { accumulator: { bits: 32, overflow: "clip" as "wrap" } }),
      /gemmInt: options\.accumulator\.overflow must be 'wrap' or 'saturate', got "clip"/,
    ],
    [
      "accumulator unknown field",
      () => gemmInt(a, w, { accumulator: { bits: 32, overflow: "wrap", signed: true } as AccumulatorSpec }),
      /gemmInt: options\.accumulator has an unknown field 'signed'/,
    ],
    [
      "40-bit accumulator into Int32Array",
      () => gemmInt(a, w, { accumulator: { bits: 40, overflow: "wrap" }, out: new Int32Array(8) }),
      /gemmInt: options\.out is an Int32Array but options\.accumulator\.bits = 40/,
    ],
    [
      "out length",
      () => gemmInt(a, w, { out: new Int32Array(7) }),
      /gemmInt: options\.out has length 7 but the result has 8 elements/,
    ],
    [
      "pair saturation with int8 activations",
      () => gemmInt({ data: new Int8Array(6), shape: [2, 3], zeroPoint: 0 }, w, { pairSaturation: true }),
      /gemmInt: options\.pairSaturation models x86 uint8 × int8 products; got int8 activations × int8 weights/,
    ],
    [
      "pair saturation with uint8 weights",
      () =>
        gemmInt(a, intWeights({ type: "uint8", data: new Uint8Array(12), shape: [3, 4] }), {
          pairSaturation: true,
        }),
      /got uint8 activations × uint8 weights/,
    ],
    [
      "unknown option",
      () => gemmInt(a, w, { transpose: true } as GemmIntOptions),
      /gemmInt: unknown option 'transpose'/,
    ],
    [
      "fused: 40-bit accumulator",
      () =>
        gemmIntRequantized(a, w, stage, new Int8Array(8), { accumulator: { bits: 40, overflow: "wrap" } }),
      /gemmIntRequantized: options\.accumulator\.bits = 40, but the requantizer takes int32 accumulators/,
    ],
    [
      "fused: out length",
      () => gemmIntRequantized(a, w, stage, new Int8Array(9)),
      /gemmIntRequantized: out has length 9 but the result has 8 elements/,
    ],
    [
      "fused: stage channels",
      () =>
        gemmIntRequantized(
          a,
          w,
          prepareOutputStage({
            mode: "float32",
            effectiveScale: [1, 1, 1],
            outZeroPoint: 0,
            qmin: 0,
            qmax: 255,
          }),
          new Uint8Array(8),
        ),
      /gemmIntRequantized: stage has 3 per-channel scales but the kernel has 4 output channels/,
    ],
    [
      "fused: out option is not accepted",
      () => gemmIntRequantized(a, w, stage, new Int8Array(8), { out: new Int32Array(8) } as GemmIntOptions),
      /gemmIntRequantized: unknown option 'out'/,
    ],
  ])("%s", (_name, call, message) => {
    expect(call).toThrow(message);
  });
});
