/**
 * 8-bit integer GEMM in WebAssembly SIMD, as a plain function on typed arrays (for npu-sim's integer
 * kernels; it does not depend on the active backend):
 *
 *     out[i·N + j] = Σ_k (A[i, k] − aZeroPoint) · (B[k, j] − bZeroPoint[j])      (int32, wrapping)
 *
 * A is M×K row-major, uint8 or int8; B is int8, K×N (`bLayout` "KxN") or N×K ("NxK"); zero points are
 * integers inside their operand's type. Without pair saturation the zero points are subtracted while
 * packing (every difference fits int16) and the sums are exact unless they leave int32, where they wrap.
 *
 * With `pairSaturation` (x86 `vpmaddubsw`: A must be uint8), the raw codes are multiplied, the products
 * summed two by two along k (k = 2j and 2j+1 from k = 0; an odd K's last product paired with 0) and each
 * pair sum clamped to [−32768, 32767] before int32 accumulation; the zero points enter afterwards as the
 * exact correction −a_zp·Σ_k B[k, j] − b_zp[j]·Σ_k A[i, k] + K·a_zp·b_zp[j], as x86 kernels add row and
 * column sums instead of subtracting zero points from the operands. (Same definition as npu-sim's
 * `gemmInt` with a 32-bit wrapping accumulator.) Given `pairCount`, the number of pair sums that were
 * clamped is added to `pairCount.saturatedPairs` (npu-sim reports them as overflow events).
 */
import { INT8_MACRO, INT8_MR, INT8_NR, INT8_PACK_A, INT8_PACK_B } from "./gemm-int8-kernel.js";
import { wasmRuntime } from "./runtime.js";

/** k per block (even): a packed B strip is K_BLOCK·NR·2 bytes = 8 KiB, an A strip 4 KiB. */
const K_BLOCK = 512;
/** Rows of A per packed block: M_BLOCK·K_BLOCK·2 bytes = 128 KiB, resident in L2. */
const M_BLOCK = 128;
/** Columns of B per packed block (1 MiB of int16 pairs at K_BLOCK). */
const N_BLOCK = 1024;

export type Int8BLayout = "KxN" | "NxK";

/** Where `gemmInt8Wasm` adds how many int16 pair sums it clamped. */
export interface Int8PairCount {
  saturatedPairs: number;
}

export function gemmInt8Wasm(
  M: number,
  N: number,
  K: number,
  A: Uint8Array | Int8Array,
  aZeroPoint: number,
  B: Int8Array,
  bLayout: Int8BLayout,
  bZeroPoints: Int32Array | number,
  out: Int32Array,
  pairSaturation = false,
  pairCount?: Int8PairCount,
): Int32Array {
  const fn = "gemmInt8Wasm";
  for (const [name, v] of [
    ["M", M],
    ["N", N],
    ["K", K],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 30) {
      throw new Error(`${fn}: ${name} must be a non-negative integer, got ${v}`);
    }
  }
  const unsigned = A instanceof Uint8Array;
  if (!unsigned && !(A instanceof Int8Array))
    throw new Error(`${fn}: A must be a Uint8Array or an Int8Array`);
  if (A.length !== M * K) throw new Error(`${fn}: A must hold M·K = ${M * K} values, got ${A.length}`);
  if (!(B instanceof Int8Array)) throw new Error(`${fn}: B must be an Int8Array`);
  if (B.length !== K * N) throw new Error(`${fn}: B must hold K·N = ${K * N} values, got ${B.length}`);
  if (bLayout !== "KxN" && bLayout !== "NxK") {
    throw new Error(`${fn}: bLayout must be "KxN" or "NxK", got ${JSON.stringify(bLayout)}`);
  }
  if (!(out instanceof Int32Array) || out.length !== M * N) {
    throw new Error(`${fn}: out must be an Int32Array of M·N = ${M * N} values`);
  }
  const [aLo, aHi] = unsigned ? [0, 255] : [-128, 127];
  if (!Number.isInteger(aZeroPoint) || aZeroPoint < aLo || aZeroPoint > aHi) {
    throw new Error(`${fn}: aZeroPoint must be an integer in [${aLo}, ${aHi}], got ${aZeroPoint}`);
  }
  const zps = typeof bZeroPoints === "number" ? null : bZeroPoints;
  if (zps !== null) {
    if (!(zps instanceof Int32Array) || zps.length !== N) {
      throw new Error(`${fn}: bZeroPoints must be a number or an Int32Array of N = ${N} values`);
    }
    for (let j = 0; j < N; j++) {
      if (zps[j]! < -128 || zps[j]! > 127) {
        throw new Error(`${fn}: bZeroPoints[${j}] = ${zps[j]} is outside int8 [-128, 127]`);
      }
    }
  } else if (
    !Number.isInteger(bZeroPoints) ||
    (bZeroPoints as number) < -128 ||
    (bZeroPoints as number) > 127
  ) {
    throw new Error(`${fn}: bZeroPoints must be an integer in [-128, 127], got ${bZeroPoints}`);
  }
  if (typeof pairSaturation !== "boolean") throw new Error(`${fn}: pairSaturation must be a boolean`);
  if (
    pairCount !== undefined &&
    (pairCount === null || typeof pairCount !== "object" || typeof pairCount.saturatedPairs !== "number")
  ) {
    throw new Error(`${fn}: pairCount must be an object { saturatedPairs: number }`);
  }
  if (pairSaturation && !unsigned) {
    throw new Error(`${fn}: pairSaturation models u8 × s8 (vpmaddubsw): A must be a Uint8Array`);
  }
  if (M === 0 || N === 0) return out;
  if (K === 0) {
    out.fill(0);
    return out;
  }

  const rt = wasmRuntime();
  const heap = rt.heap;
  const ex = rt.exports;
  const zpOf = (j: number) => (zps === null ? (bZeroPoints as number) : zps[j]!);
  const Kp = K + (K & 1);
  const kBlocks = Math.ceil(Kp / K_BLOCK);
  const kcMax = 2 * Math.ceil(Kp / 2 / kBlocks);
  const aRaw = heap.alloc(M * K);
  const bRaw = heap.alloc(K * N);
  const zpPtr = heap.alloc(N * 4);
  const c = heap.alloc(M * N * 4);
  const aPack = heap.alloc(Math.min(M_BLOCK, roundUp(M, INT8_MR)) * kcMax * 2);
  const bPack = heap.alloc(Math.min(N_BLOCK, roundUp(N, INT8_NR)) * kcMax * 2);
  const tile = heap.alloc(INT8_MR * INT8_NR * 4);
  // The kernel counts clamped pairs into one int32, read and cleared after every call (one call's count
  // stays far below 2^31; a whole GEMM's need not).
  const counting = pairSaturation && pairCount !== undefined;
  const countPtr = heap.alloc(4);
  let saturated = 0;
  try {
    heap.i32()[countPtr >> 2] = 0;
    heap.u8().set(unsigned ? A : new Uint8Array(A.buffer, A.byteOffset, A.length), aRaw);
    heap.i8().set(B, bRaw);
    // Pair saturation packs raw codes and corrects afterwards; otherwise zero points go into the packing.
    const za = pairSaturation ? 0 : aZeroPoint;
    const i32 = heap.i32();
    for (let j = 0; j < N; j++) i32[(zpPtr >> 2) + j] = pairSaturation ? 0 : zpOf(j);
    const [kStride, jStride] = bLayout === "KxN" ? [N, 1] : [1, K];
    for (let jc = 0; jc < N; jc += N_BLOCK) {
      const nc = Math.min(N_BLOCK, N - jc);
      for (let pc = 0; pc < Kp; pc += kcMax) {
        const kc = Math.min(kcMax, Kp - pc);
        ex[INT8_PACK_B](bRaw, kStride, jStride, zpPtr, jc, nc, pc, kc, K, bPack);
        for (let ic = 0; ic < M; ic += M_BLOCK) {
          const mc = Math.min(M_BLOCK, M - ic);
          ex[INT8_PACK_A](aRaw + ic * K, K, unsigned ? 1 : 0, za, mc, pc, kc, K, aPack);
          ex[INT8_MACRO](
            aPack,
            bPack,
            c + (ic * N + jc) * 4,
            mc,
            nc,
            kc,
            N * 4,
            pc > 0 ? 1 : 0,
            pairSaturation ? 1 : 0,
            tile,
            counting ? countPtr : 0,
          );
          if (counting) {
            const i32c = heap.i32();
            saturated += i32c[countPtr >> 2]!;
            i32c[countPtr >> 2] = 0;
          }
        }
      }
    }
    out.set(heap.i32().subarray(c >> 2, (c >> 2) + M * N));
  } finally {
    heap.release(countPtr);
    heap.release(tile);
    heap.release(bPack);
    heap.release(aPack);
    heap.release(c);
    heap.release(zpPtr);
    heap.release(bRaw);
    heap.release(aRaw);
  }
  if (counting) pairCount.saturatedPairs += saturated;
  if (pairSaturation && (aZeroPoint !== 0 || zps !== null || bZeroPoints !== 0)) {
    applyZeroPointCorrection(M, N, K, A, aZeroPoint, B, bLayout, zpOf, out);
  }
  return out;
}

/** out[i, j] += −a_zp·Σ_k B[k, j] − b_zp[j]·Σ_k A[i, k] + K·a_zp·b_zp[j], wrapping to int32. */
function applyZeroPointCorrection(
  M: number,
  N: number,
  K: number,
  A: Uint8Array | Int8Array,
  aZeroPoint: number,
  B: Int8Array,
  bLayout: Int8BLayout,
  zpOf: (j: number) => number,
  out: Int32Array,
): void {
  const rowSums = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += A[i * K + k]!;
    rowSums[i] = s;
  }
  const colSums = new Float64Array(N);
  if (bLayout === "KxN") {
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) colSums[j] += B[k * N + j]!;
  } else {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += B[j * K + k]!;
      colSums[j] = s;
    }
  }
  for (let j = 0; j < N; j++) {
    const zb = zpOf(j);
    // Exact in float64: |terms| < 2^8·2^8·2^30 = 2^46.
    const colTerm = -aZeroPoint * colSums[j]! + K * aZeroPoint * zb;
    for (let i = 0; i < M; i++) {
      out[i * N + j] = (out[i * N + j]! + colTerm - zb * rowSums[i]!) | 0;
    }
  }
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}
