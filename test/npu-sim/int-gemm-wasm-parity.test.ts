/**
 * npu-sim's integer GEMM and convolution give the same codes and the same overflow counts on the `js`
 * tensor backend (TypeScript kernels) and the `wasm` one (exact sums from the WebAssembly SIMD int8
 * GEMM): random shapes, odd K, activation and weight types, per-tensor and per-channel zero points,
 * biases, accumulator widths and modes, int16 pair saturation with many saturating pairs. Each run also
 * checks that the wasm backend did route calls through WebAssembly, so the comparison is not js vs js.
 */
import {
  type AccumulatorSpec,
  conv2dInt,
  gemmInt,
  type IntActivations,
  type IntWeights,
  type IntWeightType,
  type OverflowCounts,
  overflowCounts,
  packIntWeights,
  type ReductionOrder,
} from "@quant-trim/npu-sim";
import { withBackend } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { wasmGemmStats } from "../../packages/npu-sim/src/int-gemm-wasm.js";
import { codes, rng, WEIGHT_RANGES } from "./int-kernel-reference.js";

const ACCUMULATORS: AccumulatorSpec[] = [
  { bits: 32, overflow: "wrap" },
  { bits: 32, overflow: "saturate" },
  { bits: 16, overflow: "wrap" },
  { bits: 20, overflow: "saturate" },
  { bits: 48, overflow: "wrap" },
  { bits: 64, overflow: "saturate" },
];

interface Common {
  act: "uint8" | "int8";
  type: IntWeightType;
  perChannel: boolean;
  withBias: boolean;
  extremes: boolean;
  pairs: boolean;
  accumulator: AccumulatorSpec;
  seed: number;
}

const common = fc
  .record({
    act: fc.constantFrom<"uint8" | "int8">("uint8", "int8"),
    type: fc.constantFrom<IntWeightType>("int8", "uint8", "int4", "uint4"),
    perChannel: fc.boolean(),
    withBias: fc.boolean(),
    extremes: fc.boolean(),
    pairs: fc.boolean(),
    accumulator: fc.constantFrom(...ACCUMULATORS),
    seed: fc.integer(),
  })
  // pair saturation models uint8 × int8 (or int4) only
  .map((c) =>
    c.pairs && !(c.act === "uint8" && (c.type === "int8" || c.type === "int4")) ? { ...c, pairs: false } : c,
  );

type Out = Int32Array | Float64Array;

/**
 * Run `kernel` on `backend` with and without overflow counting (the wasm kernel has a separate counting
 * loop for pair saturation); returns both outputs and the counts.
 */
function runOn(backend: "js" | "wasm", kernel: (overflow?: OverflowCounts) => Out) {
  return withBackend(backend, () => {
    const counts = overflowCounts();
    const counted = Array.from(kernel(counts));
    const plain = Array.from(kernel());
    return { counted, plain, counts };
  });
}

function expectSameOnBothBackends(kernel: (overflow?: OverflowCounts) => Out): void {
  const js = runOn("js", kernel);
  const wasm = runOn("wasm", kernel);
  expect(wasm.counted).toEqual(js.counted);
  expect(wasm.plain).toEqual(js.plain);
  expect(js.plain).toEqual(js.counted);
  expect(wasm.counts).toEqual(js.counts);
}

function weightsAndBias(c: Common, next: () => number, count: number, shape: number[], channelAxis: number) {
  const [wlo, whi] = WEIGHT_RANGES[c.type];
  const channels = shape[channelAxis]!;
  const w = packIntWeights(codes(next, count, wlo, whi, c.extremes), {
    type: c.type,
    shape,
    zeroPoint: codes(next, c.perChannel ? channels : 1, wlo, whi),
    channelAxis,
  });
  const bias = c.withBias
    ? Int32Array.from(codes(next, channels, -(2 ** 31), 2 ** 31 - 1, c.extremes))
    : undefined;
  return { w, bias };
}

function activations(c: Common, next: () => number, shape: number[]): IntActivations {
  const [lo, hi] = c.act === "uint8" ? [0, 255] : [-128, 127];
  const n = shape.reduce((p, d) => p * d, 1);
  const xs = codes(next, n, lo, hi, c.extremes);
  const data = c.act === "uint8" ? Uint8Array.from(xs) : Int8Array.from(xs);
  return { data, shape, zeroPoint: codes(next, 1, lo, hi)[0]! };
}

function out(c: Common, size: number): Out {
  return c.accumulator.bits <= 32 ? new Int32Array(size) : new Float64Array(size);
}

describe("npu-sim integer kernels: wasm backend = js backend", () => {
  it("gemmInt: same codes and counts on random shapes (odd K), types, zero points, accumulators, pairs", () => {
    const before = wasmGemmStats.calls;
    fc.assert(
      fc.property(
        common,
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 21 }),
        fc.integer({ min: 1, max: 75 }),
        fc.boolean(),
        (c, M, N, K, transposeB) => {
          const next = rng(c.seed);
          const a = activations(c, next, [M, K]);
          const { w, bias } = weightsAndBias(
            c,
            next,
            K * N,
            transposeB ? [N, K] : [K, N],
            transposeB ? 0 : 1,
          );
          expectSameOnBothBackends((overflow) =>
            gemmInt(
              a,
              w as IntWeights,
              {
                transposeB,
                accumulator: c.accumulator,
                pairSaturation: c.pairs,
                out: out(c, M * N),
                ...(bias !== undefined ? { bias } : {}),
                ...(overflow !== undefined ? { overflow } : {}),
              } as Parameters<typeof gemmInt>[2] & { out: Int32Array },
            ),
          );
        },
      ),
      { numRuns: 120 },
    );
    expect(wasmGemmStats.calls - before).toBeGreaterThan(100);
  });

  it("conv2dInt: same codes and counts with groups, strides, padding, dilation and both reduction orders", () => {
    const before = wasmGemmStats.calls;
    fc.assert(
      fc.property(
        common,
        fc.record({
          N: fc.integer({ min: 1, max: 3 }),
          groups: fc.integer({ min: 1, max: 3 }),
          Cg: fc.integer({ min: 1, max: 4 }),
          Mg: fc.integer({ min: 1, max: 5 }),
          H: fc.integer({ min: 5, max: 9 }),
          W: fc.integer({ min: 5, max: 9 }),
          k: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 2 }),
          dilation: fc.integer({ min: 1, max: 2 }),
          pad: fc.integer({ min: 0, max: 2 }),
          order: fc.constantFrom<ReductionOrder>("c-kh-kw", "kh-kw-c"),
        }),
        (c, g) => {
          const next = rng(c.seed);
          const C = g.groups * g.Cg;
          const Mo = g.groups * g.Mg;
          const x = activations(c, next, [g.N, C, g.H, g.W]);
          const { w, bias } = weightsAndBias(c, next, Mo * g.Cg * g.k * g.k, [Mo, g.Cg, g.k, g.k], 0);
          const eff = g.dilation * (g.k - 1) + 1;
          const Hout = Math.floor((g.H + 2 * g.pad - eff) / g.stride) + 1;
          const Wout = Math.floor((g.W + 2 * g.pad - eff) / g.stride) + 1;
          expectSameOnBothBackends((overflow) =>
            conv2dInt(x, w, {
              groups: g.groups,
              stride: g.stride,
              padding: g.pad,
              dilation: g.dilation,
              reductionOrder: g.order,
              accumulator: c.accumulator,
              pairSaturation: c.pairs,
              out: out(c, g.N * Mo * Hout * Wout),
              ...(bias !== undefined ? { bias } : {}),
              ...(overflow !== undefined ? { overflow } : {}),
            } as Parameters<typeof conv2dInt>[2] & { out: Int32Array }),
          );
        },
      ),
      { numRuns: 80 },
    );
    expect(wasmGemmStats.calls - before).toBeGreaterThan(60);
  });

  it("pair saturation: most pairs clamp (255 × 127), odd K, per-channel zero points, the same count", () => {
    for (const K of [3, 7, 33]) {
      const M = 5;
      const N = 6;
      const a: IntActivations = { data: new Uint8Array(M * K).fill(255), shape: [M, K], zeroPoint: 3 };
      const w = packIntWeights(
        Array.from({ length: N * K }, (_, i) => (i % 5 === 0 ? -128 : 127)),
        { type: "int8", shape: [N, K], zeroPoint: [0, 1, -2, 5, -128, 127], channelAxis: 0 },
      );
      const before = wasmGemmStats.calls;
      expectSameOnBothBackends((overflow) =>
        gemmInt(a, w, {
          transposeB: true,
          pairSaturation: true,
          ...(overflow !== undefined ? { overflow } : {}),
        }),
      );
      expect(wasmGemmStats.calls - before).toBe(2); // the counted and the uncounted wasm call
      const counts = withBackend("wasm", () => {
        const c = overflowCounts();
        gemmInt(a, w, { transposeB: true, pairSaturation: true, overflow: c });
        return c;
      });
      // a pair (k, k + 1) of raw codes clamps when both weights are 127 (255·254 > 32767); with a −128
      // weight (every fifth element) it is 255·(127 − 128), inside; an odd K's last lone product too
      let clamped = 0;
      for (let j = 0; j < N; j++) {
        for (let k = 0; k + 1 < K; k += 2) if ((j * K + k) % 5 !== 0 && (j * K + k + 1) % 5 !== 0) clamped++;
      }
      expect(counts.int16Pairs).toBe(M * clamped);
    }
  });
});
