import { gemmInt8Wasm, getBackend } from "@quant-trim/tensor";
import type { IntGemmJob } from "./int-gemm-engine.js";

/*
 * The integer GEMM engine's exact sums from the tensor package's WebAssembly SIMD int8 GEMM
 * (`i32x4.dot_i16x8_s`), used when the active tensor backend is `wasm` (`QT_BACKEND=js` keeps every
 * call on the TypeScript kernels).
 *
 * Only the sums of products come from WebAssembly; the engine's own finishing pass still adds the
 * zero-point correction (pair saturation) and the bias and applies the accumulator model (width, wrap
 * or saturate, overflow counts) to them. So the accumulator width does not matter here, only that
 * every sum the engine needs is the exact integer:
 * - default path: Σ_k (A − a_zp)(B − b_zp). WebAssembly accumulates in int32 modulo 2^32, so the sum is
 *   exact whenever its bound K · max|A − a_zp| · max|B − b_zp| is below 2^31 (K ≤ 33 025 for any 8-bit
 *   codes and zero points).
 * - pair saturation: Σ of int16-clamped pair sums of raw codes, in the same K order (pairs k = 2j,
 *   2j + 1 of the job's reduction order; an odd K's last product pairs with 0), bounded by
 *   ⌈K/2⌉ · 32 768 < 2^31. When the caller counts overflow events, the kernel's counting variant
 *   counts the clamped pairs (the same pairs the TypeScript path counts: padding lanes multiply zeros
 *   and never clamp). Accumulator overflow counts come from the engine's finishing pass on both paths.
 *
 * Weights reach the kernel as an int8 [N, K] matrix in the job's K order: int8, int4 and uint4 codes
 * as they are (4-bit ones unpacked; their zero points fit int8 too); uint8 codes and zero points
 * shifted by −128, which leaves every difference B − b_zp unchanged.
 */

const INT32_MAX = 2 ** 31 - 1;

/** How many GEMMs took their sums from WebAssembly (lets the parity test check that it compared something). */
export const wasmGemmStats = { calls: 0 };

let weights = new Int8Array(0);
let zeroPoints = new Int32Array(0);
let sums = new Int32Array(0);

/**
 * Fill exact[0, M·N) (row-major) with the job's exact sums from WebAssembly and return true, or return
 * false (leaving `exact` alone) when the tensor backend is not `wasm` or this call is one the kernel
 * does not compute exactly.
 */
export function wasmExactSums(job: IntGemmJob, exact: Float64Array): boolean {
  if (getBackend() !== "wasm") return false;
  const { M, N, K, b } = job;
  if (M === 0 || N === 0 || K === 0) return false;
  if (job.pairSaturation) {
    if (Math.ceil(K / 2) * 32768 > INT32_MAX) return false;
  } else {
    const [aLo, aHi] = job.aData instanceof Uint8Array ? [0, 255] : [-128, 127];
    const maxA = Math.max(job.aZeroPoint - aLo, aHi - job.aZeroPoint);
    const [wLo, wHi] = WEIGHT_RANGE[b.type];
    let maxW = 0;
    const zps = b.zeroPoint;
    if (zps.length === 1) maxW = Math.max(zps[0]! - wLo, wHi - zps[0]!);
    else {
      for (let j = 0; j < N; j++) {
        const z = zps[job.bZeroPointBase + j]!;
        maxW = Math.max(maxW, z - wLo, wHi - z);
      }
    }
    if (K * maxA * maxW > INT32_MAX) return false;
  }

  // A: the kernel reads M·K contiguous codes.
  const a0 = job.aOffset;
  let a: Uint8Array | Int8Array;
  if (job.aRowStride === K) a = job.aData.subarray(a0, a0 + M * K);
  else {
    const src = job.aData;
    const packed = src instanceof Uint8Array ? new Uint8Array(M * K) : new Int8Array(M * K);
    for (let i = 0; i < M; i++)
      packed.set(src.subarray(a0 + i * job.aRowStride, a0 + i * job.aRowStride + K), i * K);
    a = packed;
  }

  // B as int8 [N, K] in the job's K order. Pair saturation multiplies raw codes (the engine adds the
  // zero-point correction afterwards), so it passes no zero points: an array of zeros would make the
  // glue compute a correction of zero.
  if (weights.length < N * K) weights = new Int8Array(Math.max(N * K, weights.length * 2));
  const w = weights.subarray(0, N * K);
  decodeWeights(job, w);
  if (sums.length < M * N) sums = new Int32Array(Math.max(M * N, sums.length * 2));
  const out = sums.subarray(0, M * N);
  if (job.pairSaturation) {
    if (job.overflow === undefined) gemmInt8Wasm(M, N, K, a, 0, w, "NxK", 0, out, true);
    else {
      const count = { saturatedPairs: 0 };
      gemmInt8Wasm(M, N, K, a, 0, w, "NxK", 0, out, true, count);
      job.overflow.int16Pairs += count.saturatedPairs;
    }
  } else {
    if (zeroPoints.length < N) zeroPoints = new Int32Array(Math.max(N, zeroPoints.length * 2));
    const zp = zeroPoints.subarray(0, N);
    const shift = b.type === "uint8" ? 128 : 0;
    const perChannel = b.zeroPoint.length !== 1;
    for (let j = 0; j < N; j++)
      zp[j] = (perChannel ? b.zeroPoint[job.bZeroPointBase + j]! : b.zeroPoint[0]!) - shift;
    gemmInt8Wasm(M, N, K, a, job.aZeroPoint, w, "NxK", zp, out, false);
  }
  exact.set(out);
  wasmGemmStats.calls++;
  return true;
}

const WEIGHT_RANGE = {
  int8: [-128, 127],
  uint8: [0, 255],
  int4: [-8, 7],
  uint4: [0, 15],
} as const;

/** w[j·K + k] = B[k, j] as int8 (uint8 codes − 128). */
function decodeWeights(job: IntGemmJob, w: Int8Array): void {
  const { N, K, b, bKOffsets, bColStride } = job;
  const data = b.data;
  // Weights stored one output channel a row in the job's K order ([N, K] GEMM weights, convolutions in
  // c-kh-kw order) are copied row by row: a per-sample run makes many small calls, and the indexed
  // decode below was a third of a 1×10×784 call.
  let unitOffsets = b.type === "int8" || b.type === "uint8";
  for (let k = 0; unitOffsets && k < K; k++) unitOffsets = bKOffsets[k] === k;
  if (unitOffsets) {
    for (let j = 0; j < N; j++) {
      const base = job.bBase + j * bColStride;
      if (b.type === "int8") w.set((data as Int8Array).subarray(base, base + K), j * K);
      else for (let k = 0, d = j * K; k < K; k++) w[d + k] = data[base + k]! - 128;
    }
    return;
  }
  for (let j = 0; j < N; j++) {
    const base = job.bBase + j * bColStride;
    const d = j * K;
    if (b.type === "int8") {
      for (let k = 0; k < K; k++) w[d + k] = data[base + bKOffsets[k]!]!;
    } else if (b.type === "uint8") {
      for (let k = 0; k < K; k++) w[d + k] = data[base + bKOffsets[k]!]! - 128;
    } else if (b.type === "int4") {
      for (let k = 0; k < K; k++) {
        const idx = base + bKOffsets[k]!;
        const byte = data[idx >>> 1]!;
        w[d + k] = ((idx & 1) === 0 ? byte << 28 : byte << 24) >> 28;
      }
    } else {
      for (let k = 0; k < K; k++) {
        const idx = base + bKOffsets[k]!;
        const byte = data[idx >>> 1]!;
        w[d + k] = (idx & 1) === 0 ? byte & 0x0f : byte >> 4;
      }
    }
  }
}
