import { type AccumulatorSpec, accumulatorRange, wrapToBits } from "./accumulator.js";
import { wasmExactSums } from "./int-gemm-wasm.js";
import type { IntWeights } from "./int-weights.js";
import type { OverflowCounts } from "./overflow.js";

/*
 * The integer GEMM engine behind `gemmInt` and `conv2dInt` (internal: the public kernels validate, then
 * describe their operands as an `IntGemmJob`):
 *
 *     out[i, j] = accumulate_k (A[i,k] − a_zp) · (B[k,j] − b_zp[j])  (+ bias[j])
 *
 * Three paths, all exact (on the `wasm` tensor backend the first two take their exact sums from the
 * WebAssembly SIMD int8 GEMM when it computes them exactly; see int-gemm-wasm.ts):
 * - default (wrapping accumulator of any width): a blocked, register-tiled kernel computes the exact
 *   sums, then one pass adds the bias, counts the sums outside the accumulator and wraps them. Wrapping
 *   is modular, so wrapping the exact total equals wrapping after every addition.
 * - pair saturation (x86 `vpmaddubsw`, u8 × s8): the raw codes' products are summed two by two along K
 *   (k = 2j and 2j+1; an odd K's last product pairs with 0) and each pair sum is clamped to int16; the
 *   zero points enter afterwards as the exact correction −a_zp·Σ_k w − b_zp·Σ_k a + K·a_zp·b_zp, as x86
 *   kernels add row and column sums instead of subtracting zero points from the operands.
 * - saturating accumulator: every addition clamps, in order: the K products (or the int16 pair sums
 *   followed by the zero-point correction), then the bias. When no running sum of products can reach
 *   the limits (see `productsCanSaturate`; always so for int32 and realistic K) the sums come from the
 *   fast paths and only the last additions are clamped; otherwise a plain loop per output clamps after
 *   every addition.
 *
 * How the default path is fast in plain JavaScript. Operands are packed per block into Float64Array
 * panels holding (A − a_zp) and (B − b_zp), so the micro-kernel does only float64 multiply-adds on
 * exact small integers. Two output columns share one double ("SIMD within a register"): a packed B
 * value is w0 + w1·2^26, so one multiply-add updates Σ a·w0 + 2^26·Σ a·w1, which splits exactly
 * afterwards because |Σ a·w0| < 2^25 (see KC). A 4×4 tile of such doubles is a 4×8 tile of outputs:
 * eight loads feed sixteen multiply-adds that do thirty-two. Every |sum| stays below 2^51, so nothing
 * is ever rounded.
 */

export interface IntGemmJob {
  M: number;
  N: number;
  K: number;
  /** A[i, k] = aData[aOffset + i·aRowStride + k]. */
  aData: Uint8Array | Int8Array;
  aOffset: number;
  aRowStride: number;
  aZeroPoint: number;
  /** B[k, j] is weight element bBase + j·bColStride + bKOffsets[k], zero point index bZeroPointBase + j. */
  b: IntWeights;
  bBase: number;
  bColStride: number;
  bKOffsets: Float64Array;
  bZeroPointBase: number;
  /** bias[biasOffset + j], or null. */
  bias: Int32Array | null;
  biasOffset: number;
  accumulator: AccumulatorSpec;
  pairSaturation: boolean;
  overflow: OverflowCounts | undefined;
  /**
   * Row i, column j goes to out[outOffset + ⌊i/outRowGroup⌋·outRowGroupStride + (i mod outRowGroup)·
   * outRowStride + j·outColStride]: rows come in groups (one image's output positions when a batch of
   * convolutions is one GEMM; outRowGroup = M for a plain matrix). An Int32Array needs accumulator.bits ≤ 32.
   */
  out: Int32Array | Float64Array;
  outOffset: number;
  outRowStride: number;
  outColStride: number;
  outRowGroup: number;
  outRowGroupStride: number;
}

/**
 * K-block. The split of a two-column double needs |Σ a·w0| < 2^25 over one block: |a − a_zp| and
 * |w − w_zp| are at most 255 for 8-bit codes, so 256 · 255 · 255 = 16 646 400 < 2^25. The high column
 * is then below 2^24 · 2^26 = 2^50. Even, so int16 pairs never straddle two blocks.
 */
const KC = 256;
/** Rows of A packed at once (128 · 256 doubles = 256 KiB, resident in L2). */
const MC = 128;
/** Columns of B packed at once (256 two-column doubles × 256 k = 512 KiB, resident in L2). */
const NC = 512;
/** Register tile: 4 rows × 4 doubles (8 output columns on the default path, 4 on the pair path). */
const MR = 4;
const LANE = 2 ** 26;
const INV_LANE = 2 ** -26;

let packedA = new Float64Array(0);
let packedB = new Float64Array(0);
let weightBlock = new Float64Array(0);
let exact = new Float64Array(0);
let rowSums = new Float64Array(0);
let colSums = new Float64Array(0);
/** One 4×8 tile of results, row stride 8. */
const tile = new Float64Array(32);

function grow(buf: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
  return buf.length >= n ? buf : new Float64Array(Math.max(n, buf.length * 2));
}

let accScratch = new Int32Array(0);

/** The fused kernels' int32 accumulators, reused across calls (kernels never run concurrently). */
export function accumulatorScratch(size: number): Int32Array {
  if (accScratch.length < size) accScratch = new Int32Array(Math.max(size, accScratch.length * 2));
  return accScratch.subarray(0, size);
}

export function runIntGemm(job: IntGemmJob): void {
  const { M, N, K } = job;
  if (M === 0 || N === 0) return;
  if (job.pairSaturation) computeCorrectionSums(job);
  const saturating = job.accumulator.overflow === "saturate";
  if (saturating && productsCanSaturate(job)) {
    saturatingPath(job);
    return;
  }
  exact = grow(exact, M * N);
  if (K === 0) exact.fill(0, 0, M * N);
  else if (wasmExactSums(job, exact)) {
    // the wasm backend's int8 SIMD GEMM gave the same exact sums (see int-gemm-wasm.ts)
  } else if (job.pairSaturation) pairPath(job);
  else defaultPath(job);
  if (saturating) finishSaturating(job);
  else finishWrapping(job);
}

/**
 * Whether some running sum of products could leave a saturating accumulator. Every prefix of an
 * output's products is bounded by max|A − a_zp| · Σ_k |B[k,j] − b_zp[j]| (raw codes under pair
 * saturation, whose clamped pairs are no larger); when that bound fits, the exact sums are the
 * accumulator's sums and only the last additions (zero-point correction, bias) can clamp, so the fast
 * path plus a clamping finish gives the same result as adding one product at a time.
 */
function productsCanSaturate(job: IntGemmJob): boolean {
  const { N, K } = job;
  const raw = job.pairSaturation;
  const za = raw ? 0 : job.aZeroPoint;
  const [lo, hi] = job.aData instanceof Uint8Array ? [0, 255] : [-128, 127];
  const maxA = Math.max(Math.abs(lo - za), Math.abs(hi - za));
  let maxColumn = 0;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    decodeWeightBlock(job, 0, K, jc, nc, raw, true);
    for (let c = 0; c < nc; c++) {
      let l1 = 0;
      for (let k = c * K, end = k + K; k < end; k++) l1 += Math.abs(weightBlock[k]!);
      if (l1 > maxColumn) maxColumn = l1;
    }
  }
  return maxA * maxColumn > accumulatorRange(job.accumulator.bits).max;
}

/* ---------------------------------------------------------------------------------------------------
 * Packing.
 */

/**
 * Decode B[k0..k0+kc, j0..j0+nc] into weightBlock (row-major by k, row stride nc; or column by column
 * when `columnMajor`), minus the column's zero point unless `raw`. Packed 4-bit codes are read nibble
 * by nibble.
 */
function decodeWeightBlock(
  job: IntGemmJob,
  k0: number,
  kc: number,
  j0: number,
  nc: number,
  raw: boolean,
  columnMajor = false,
) {
  weightBlock = grow(weightBlock, kc * nc);
  const step = columnMajor ? 1 : nc;
  const dst = weightBlock;
  const { b, bKOffsets, bColStride } = job;
  const data = b.data;
  const zps = b.zeroPoint;
  const perChannel = zps.length !== 1;
  for (let c = 0; c < nc; c++) {
    const j = j0 + c;
    const zp = raw ? 0 : perChannel ? zps[job.bZeroPointBase + j]! : zps[0]!;
    const base = job.bBase + j * bColStride;
    let d = columnMajor ? c * kc : c;
    if (b.type === "int8" || b.type === "uint8") {
      for (let p = 0; p < kc; p++, d += step) dst[d] = data[base + bKOffsets[k0 + p]!]! - zp;
    } else if (b.type === "int4") {
      for (let p = 0; p < kc; p++, d += step) {
        const idx = base + bKOffsets[k0 + p]!;
        const byte = data[idx >>> 1]!;
        dst[d] = (((idx & 1) === 0 ? byte << 28 : byte << 24) >> 28) - zp;
      }
    } else {
      for (let p = 0; p < kc; p++, d += step) {
        const idx = base + bKOffsets[k0 + p]!;
        const byte = data[idx >>> 1]!;
        dst[d] = ((idx & 1) === 0 ? byte & 0x0f : byte >> 4) - zp;
      }
    }
  }
}

/**
 * Pack B[k0.., j0..] for the default path: strips of 8 columns hold, per k, four doubles
 * col(2q) + col(2q+1)·2^26; the last < 8 columns go into strips of 2 columns (one double per k).
 * Missing columns are 0.
 */
function packBTwoColumn(job: IntGemmJob, k0: number, kc: number, j0: number, nc: number): void {
  decodeWeightBlock(job, k0, kc, j0, nc, false);
  const w = weightBlock;
  packedB = grow(packedB, Math.ceil(nc / 2) * kc);
  const dst = packedB;
  const full = nc >> 3;
  let d = 0;
  for (let s = 0; s < full; s++) {
    const c0 = s * 8;
    for (let p = 0, row = 0; p < kc; p++, row += nc) {
      const r = row + c0;
      dst[d] = w[r]! + w[r + 1]! * LANE;
      dst[d + 1] = w[r + 2]! + w[r + 3]! * LANE;
      dst[d + 2] = w[r + 4]! + w[r + 5]! * LANE;
      dst[d + 3] = w[r + 6]! + w[r + 7]! * LANE;
      d += 4;
    }
  }
  for (let c0 = full * 8; c0 < nc; c0 += 2) {
    const pair = c0 + 1 < nc;
    for (let p = 0, row = 0; p < kc; p++, row += nc) {
      dst[d++] = w[row + c0]! + (pair ? w[row + c0 + 1]! * LANE : 0);
    }
  }
}

/** Pack B[k0.., j0..] raw for the pair path: strips of 4 columns, per k four values; kcp ≥ kc rows. */
function packBRaw(job: IntGemmJob, k0: number, kc: number, kcp: number, j0: number, nc: number): void {
  decodeWeightBlock(job, k0, kc, j0, nc, true);
  const w = weightBlock;
  const strips = Math.ceil(nc / 4);
  packedB = grow(packedB, strips * 4 * kcp);
  const dst = packedB;
  let d = 0;
  for (let s = 0; s < strips; s++) {
    const c0 = s * 4;
    const cols = Math.min(4, nc - c0);
    for (let p = 0, row = 0; p < kcp; p++, row += nc) {
      for (let c = 0; c < 4; c++) dst[d + c] = p < kc && c < cols ? w[row + c0 + c]! : 0;
      d += 4;
    }
  }
}

/**
 * Pack A[i0..i0+mc, k0..k0+kc] as strips of 4 rows (per k, the 4 rows' values), minus a_zp unless
 * `raw`; rows past mc and k past kc (up to kcp) are 0.
 */
function packA(job: IntGemmJob, i0: number, mc: number, k0: number, kc: number, kcp: number, raw: boolean) {
  const strips = Math.ceil(mc / MR);
  packedA = grow(packedA, strips * MR * kcp);
  const dst = packedA;
  const a = job.aData;
  const lda = job.aRowStride;
  const zp = raw ? 0 : job.aZeroPoint;
  let d = 0;
  for (let s = 0; s < strips; s++) {
    const rows = Math.min(MR, mc - s * MR);
    const r0 = job.aOffset + (i0 + s * MR) * lda + k0;
    if (rows === MR && kcp === kc) {
      const r1 = r0 + lda;
      const r2 = r1 + lda;
      const r3 = r2 + lda;
      for (let p = 0; p < kc; p++) {
        dst[d] = a[r0 + p]! - zp;
        dst[d + 1] = a[r1 + p]! - zp;
        dst[d + 2] = a[r2 + p]! - zp;
        dst[d + 3] = a[r3 + p]! - zp;
        d += 4;
      }
    } else {
      for (let p = 0; p < kcp; p++) {
        for (let r = 0; r < MR; r++) dst[d + r] = r < rows && p < kc ? a[r0 + r * lda + p]! - zp : 0;
        d += 4;
      }
    }
  }
}

/* ---------------------------------------------------------------------------------------------------
 * Default path: exact sums with two columns per double.
 */

function defaultPath(job: IntGemmJob): void {
  const { M, N, K } = job;
  const E = exact;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      packBTwoColumn(job, pc, kc, jc, nc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packA(job, ic, mc, pc, kc, kc, false);
        macroTwoColumn(mc, nc, kc, packedA, packedB, E, ic * N + jc, N, pc === 0);
      }
    }
  }
}

function macroTwoColumn(
  mc: number,
  nc: number,
  kc: number,
  Ap: Float64Array,
  Bp: Float64Array,
  E: Float64Array,
  eOff: number,
  ldE: number,
  first: boolean,
): void {
  const stripA = kc * MR;
  const full = nc >> 3;
  let bo = 0;
  for (let s = 0; s < full; s++, bo += kc * 4) {
    for (let i = 0, ao = 0; i < mc; i += MR, ao += stripA) {
      if (mc - i >= MR) {
        microTwoColumn4x4(kc, Ap, ao, Bp, bo, E, eOff + i * ldE + s * 8, ldE, !first);
      } else {
        microTwoColumn4x4(kc, Ap, ao, Bp, bo, tile, 0, 8, false);
        storeTile(E, eOff + i * ldE + s * 8, ldE, mc - i, 8, first);
      }
    }
  }
  for (let c0 = full * 8; c0 < nc; c0 += 2, bo += kc) {
    for (let i = 0, ao = 0; i < mc; i += MR, ao += stripA) {
      microTwoColumn4x1(kc, Ap, ao, Bp, bo, tile, 0, 8, false);
      storeTile(E, eOff + i * ldE + c0, ldE, Math.min(MR, mc - i), Math.min(2, nc - c0), first);
    }
  }
}

/**
 * Split a two-column sum lo + hi·2^26 (|lo| < 2^25, so the rounding is never a tie) into D[d], D[d+1],
 * overwriting or adding.
 */
function emit(D: Float64Array, d: number, v: number, add: boolean): void {
  const hi = Math.round(v * INV_LANE);
  const lo = v - hi * LANE;
  if (add) {
    D[d] += lo;
    D[d + 1] += hi;
  } else {
    D[d] = lo;
    D[d + 1] = hi;
  }
}

/** 4 rows × 4 two-column doubles = a 4×8 tile of exact sums, into D (row stride ld). */
function microTwoColumn4x4(
  kc: number,
  Ap: Float64Array,
  ao: number,
  Bp: Float64Array,
  bo: number,
  D: Float64Array,
  d: number,
  ld: number,
  add: boolean,
): void {
  let c00 = 0;
  let c01 = 0;
  let c02 = 0;
  let c03 = 0;
  let c10 = 0;
  let c11 = 0;
  let c12 = 0;
  let c13 = 0;
  let c20 = 0;
  let c21 = 0;
  let c22 = 0;
  let c23 = 0;
  let c30 = 0;
  let c31 = 0;
  let c32 = 0;
  let c33 = 0;
  for (let p = 0; p < kc; p++) {
    const a0 = Ap[ao]!;
    const a1 = Ap[ao + 1]!;
    const a2 = Ap[ao + 2]!;
    const a3 = Ap[ao + 3]!;
    const b0 = Bp[bo]!;
    const b1 = Bp[bo + 1]!;
    const b2 = Bp[bo + 2]!;
    const b3 = Bp[bo + 3]!;
    c00 += a0 * b0;
    c01 += a0 * b1;
    c02 += a0 * b2;
    c03 += a0 * b3;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c12 += a1 * b2;
    c13 += a1 * b3;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c22 += a2 * b2;
    c23 += a2 * b3;
    c30 += a3 * b0;
    c31 += a3 * b1;
    c32 += a3 * b2;
    c33 += a3 * b3;
    ao += 4;
    bo += 4;
  }
  const d1 = d + ld;
  const d2 = d1 + ld;
  const d3 = d2 + ld;
  emit(D, d, c00, add);
  emit(D, d + 2, c01, add);
  emit(D, d + 4, c02, add);
  emit(D, d + 6, c03, add);
  emit(D, d1, c10, add);
  emit(D, d1 + 2, c11, add);
  emit(D, d1 + 4, c12, add);
  emit(D, d1 + 6, c13, add);
  emit(D, d2, c20, add);
  emit(D, d2 + 2, c21, add);
  emit(D, d2 + 4, c22, add);
  emit(D, d2 + 6, c23, add);
  emit(D, d3, c30, add);
  emit(D, d3 + 2, c31, add);
  emit(D, d3 + 4, c32, add);
  emit(D, d3 + 6, c33, add);
}

/** 4 rows × 1 two-column double: the right edge (fewer than 8 columns left). */
function microTwoColumn4x1(
  kc: number,
  Ap: Float64Array,
  ao: number,
  Bp: Float64Array,
  bo: number,
  D: Float64Array,
  d: number,
  ld: number,
  add: boolean,
): void {
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  for (let p = 0; p < kc; p++) {
    const b = Bp[bo + p]!;
    c0 += Ap[ao]! * b;
    c1 += Ap[ao + 1]! * b;
    c2 += Ap[ao + 2]! * b;
    c3 += Ap[ao + 3]! * b;
    ao += 4;
  }
  emit(D, d, c0, add);
  emit(D, d + ld, c1, add);
  emit(D, d + 2 * ld, c2, add);
  emit(D, d + 3 * ld, c3, add);
}

/** Write (first k-block) or add the valid rows × cols of `tile` into E. */
function storeTile(E: Float64Array, e0: number, ldE: number, rows: number, cols: number, first: boolean) {
  for (let r = 0; r < rows; r++) {
    const e = e0 + r * ldE;
    const t = r * 8;
    if (first) for (let c = 0; c < cols; c++) E[e + c] = tile[t + c]!;
    else for (let c = 0; c < cols; c++) E[e + c] += tile[t + c]!;
  }
}

/* ---------------------------------------------------------------------------------------------------
 * Pair-saturation path: raw u8 × s8 products, summed in pairs along K and clamped to int16.
 */

const INT16_MIN = -32768;
const INT16_MAX = 32767;

function pairPath(job: IntGemmJob): void {
  const { M, N, K } = job;
  const E = exact;
  let saturated = 0;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const kcp = kc + (kc & 1); // an odd K's last product pairs with a zero
      packBRaw(job, pc, kc, kcp, jc, nc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packA(job, ic, mc, pc, kc, kcp, true);
        const stripA = kcp * MR;
        for (let j = 0, bo = 0; j < nc; j += 4, bo += kcp * 4) {
          for (let i = 0, ao = 0; i < mc; i += MR, ao += stripA) {
            saturated += microPairs4x4(kcp, packedA, ao, packedB, bo);
            storeTile(E, (ic + i) * N + jc + j, N, Math.min(MR, mc - i), Math.min(4, nc - j), pc === 0);
          }
        }
      }
    }
  }
  if (job.overflow !== undefined) job.overflow.int16Pairs += saturated;
}

/** One 4×4 tile of sums of int16-saturated pairs; returns how many pair sums were clamped. */
function microPairs4x4(kcp: number, Ap: Float64Array, ao: number, Bp: Float64Array, bo: number): number {
  let c00 = 0;
  let c01 = 0;
  let c02 = 0;
  let c03 = 0;
  let c10 = 0;
  let c11 = 0;
  let c12 = 0;
  let c13 = 0;
  let c20 = 0;
  let c21 = 0;
  let c22 = 0;
  let c23 = 0;
  let c30 = 0;
  let c31 = 0;
  let c32 = 0;
  let c33 = 0;
  let sat = 0;
  for (let p = 0; p < kcp; p += 2) {
    const a0 = Ap[ao]!;
    const a1 = Ap[ao + 1]!;
    const a2 = Ap[ao + 2]!;
    const a3 = Ap[ao + 3]!;
    const e0 = Ap[ao + 4]!;
    const e1 = Ap[ao + 5]!;
    const e2 = Ap[ao + 6]!;
    const e3 = Ap[ao + 7]!;
    const b0 = Bp[bo]!;
    const b1 = Bp[bo + 1]!;
    const b2 = Bp[bo + 2]!;
    const b3 = Bp[bo + 3]!;
    const f0 = Bp[bo + 4]!;
    const f1 = Bp[bo + 5]!;
    const f2 = Bp[bo + 6]!;
    const f3 = Bp[bo + 7]!;
    let s: number;
    s = a0 * b0 + e0 * f0;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c00 += s;
    s = a0 * b1 + e0 * f1;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c01 += s;
    s = a0 * b2 + e0 * f2;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c02 += s;
    s = a0 * b3 + e0 * f3;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c03 += s;
    s = a1 * b0 + e1 * f0;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c10 += s;
    s = a1 * b1 + e1 * f1;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c11 += s;
    s = a1 * b2 + e1 * f2;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c12 += s;
    s = a1 * b3 + e1 * f3;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c13 += s;
    s = a2 * b0 + e2 * f0;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c20 += s;
    s = a2 * b1 + e2 * f1;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c21 += s;
    s = a2 * b2 + e2 * f2;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c22 += s;
    s = a2 * b3 + e2 * f3;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c23 += s;
    s = a3 * b0 + e3 * f0;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c30 += s;
    s = a3 * b1 + e3 * f1;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c31 += s;
    s = a3 * b2 + e3 * f2;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c32 += s;
    s = a3 * b3 + e3 * f3;
    if (s > INT16_MAX || s < INT16_MIN) {
      s = s > 0 ? INT16_MAX : INT16_MIN;
      sat++;
    }
    c33 += s;
    ao += 8;
    bo += 8;
  }
  tile[0] = c00;
  tile[1] = c01;
  tile[2] = c02;
  tile[3] = c03;
  tile[8] = c10;
  tile[9] = c11;
  tile[10] = c12;
  tile[11] = c13;
  tile[16] = c20;
  tile[17] = c21;
  tile[18] = c22;
  tile[19] = c23;
  tile[24] = c30;
  tile[25] = c31;
  tile[26] = c32;
  tile[27] = c33;
  return sat;
}

/** Σ_k raw A[i,k] per row and Σ_k raw B[k,j] per column, for the pair path's zero-point correction. */
function computeCorrectionSums(job: IntGemmJob): void {
  const { M, N, K } = job;
  rowSums = grow(rowSums, M);
  colSums = grow(colSums, N);
  const a = job.aData;
  for (let i = 0; i < M; i++) {
    let s = 0;
    const r = job.aOffset + i * job.aRowStride;
    for (let k = 0; k < K; k++) s += a[r + k]!;
    rowSums[i] = s;
  }
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let c = 0; c < nc; c++) colSums[jc + c] = 0;
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      decodeWeightBlock(job, pc, kc, jc, nc, true);
      for (let p = 0, row = 0; p < kc; p++, row += nc) {
        for (let c = 0; c < nc; c++) colSums[jc + c] += weightBlock[row + c]!;
      }
    }
  }
}

/** −a_zp·Σ_k B[k,j] − b_zp[j]·Σ_k A[i,k] + K·a_zp·b_zp[j]: what subtracting the zero points adds. */
function pairCorrection(job: IntGemmJob, i: number, j: number): number {
  const za = job.aZeroPoint;
  const zps = job.b.zeroPoint;
  const zb = zps.length === 1 ? zps[0]! : zps[job.bZeroPointBase + j]!;
  return -za * colSums[j]! - zb * rowSums[i]! + job.K * za * zb;
}

/* ---------------------------------------------------------------------------------------------------
 * Finishing the wrapping paths, and the saturating path.
 */

function finishWrapping(job: IntGemmJob): void {
  const { M, N, bias, biasOffset, out, outOffset, outRowStride, outColStride } = job;
  const bits = job.accumulator.bits;
  const { min, max } = accumulatorRange(bits);
  const E = exact;
  if (job.pairSaturation) addPairCorrections(job);
  const G = job.outRowGroup;
  const GS = job.outRowGroupStride;
  let outside = 0;
  if (bits === 32) outside = finishInt32Wrapping(job);
  else if (outColStride <= outRowStride) {
    for (let i = 0; i < M; i++) {
      const e = i * N;
      const o = outOffset + Math.floor(i / G) * GS + (i % G) * outRowStride;
      for (let j = 0; j < N; j++) {
        let v = E[e + j]! + (bias === null ? 0 : bias[biasOffset + j]!);
        if (v < min || v > max) {
          outside++;
          v = wrapToBits(v, bits);
        }
        out[o + j * outColStride] = v;
      }
    }
  } else {
    // Convolution output: rows (output positions) are contiguous in `out`, so walk them innermost.
    for (let g0 = 0, og = outOffset; g0 < M; g0 += G, og += GS) {
      const rows = Math.min(G, M - g0);
      for (let j = 0; j < N; j++) {
        const b = bias === null ? 0 : bias[biasOffset + j]!;
        const o = og + j * outColStride;
        for (let i = 0, e = g0 * N + j; i < rows; i++, e += N) {
          let v = E[e]! + b;
          if (v < min || v > max) {
            outside++;
            v = wrapToBits(v, bits);
          }
          out[o + i * outRowStride] = v;
        }
      }
    }
  }
  if (job.overflow !== undefined) job.overflow.accumulator += outside;
}

/**
 * `finishWrapping` for the int32 accumulator, the common case: ToInt32 (`| 0`) wraps any safe integer
 * exactly, and a sum is outside int32 exactly when wrapping changes it. Returns the outside count.
 */
function finishInt32Wrapping(job: IntGemmJob): number {
  const { M, N, bias, biasOffset, out, outOffset, outRowStride, outColStride } = job;
  const E = exact;
  const G = job.outRowGroup;
  const GS = job.outRowGroupStride;
  let outside = 0;
  if (outColStride <= outRowStride) {
    for (let i = 0; i < M; i++) {
      const e = i * N;
      const o = outOffset + Math.floor(i / G) * GS + (i % G) * outRowStride;
      for (let j = 0; j < N; j++) {
        const v = E[e + j]! + (bias === null ? 0 : bias[biasOffset + j]!);
        const w = v | 0;
        if (w !== v) outside++;
        out[o + j * outColStride] = w;
      }
    }
  } else {
    // Convolution output: rows (output positions) are contiguous in `out`, so walk them innermost.
    for (let g0 = 0, og = outOffset; g0 < M; g0 += G, og += GS) {
      const rows = Math.min(G, M - g0);
      for (let j = 0; j < N; j++) {
        const b = bias === null ? 0 : bias[biasOffset + j]!;
        const o = og + j * outColStride;
        for (let i = 0, e = g0 * N + j; i < rows; i++, e += N) {
          const v = E[e]! + b;
          const w = v | 0;
          if (w !== v) outside++;
          out[o + i * outRowStride] = w;
        }
      }
    }
  }
  return outside;
}

/**
 * The saturating accumulator's last additions once the products are known not to have clamped: the
 * zero-point correction (pair saturation) and the bias, each clamped in turn.
 */
function finishSaturating(job: IntGemmJob): void {
  const { M, N, bias, biasOffset, out, outOffset, outRowStride, outColStride, outRowGroup: G } = job;
  const { min, max } = accumulatorRange(job.accumulator.bits);
  const E = exact;
  const pairs = job.pairSaturation;
  let saturated = 0;
  for (let i = 0; i < M; i++) {
    const o = outOffset + Math.floor(i / G) * job.outRowGroupStride + (i % G) * outRowStride;
    for (let j = 0; j < N; j++) {
      let v = E[i * N + j]!;
      let hit = false;
      if (pairs) {
        v += pairCorrection(job, i, j);
        if (v > max || v < min) {
          v = v > max ? max : min;
          hit = true;
        }
      }
      if (bias !== null) {
        v += bias[biasOffset + j]!;
        if (v > max || v < min) {
          v = v > max ? max : min;
          hit = true;
        }
      }
      if (hit) saturated++;
      out[o + j * outColStride] = v;
    }
  }
  if (job.overflow !== undefined) job.overflow.accumulator += saturated;
}

/** `pairCorrection` for every output, with the per-column part computed once per column. */
function addPairCorrections(job: IntGemmJob): void {
  const { M, N, K } = job;
  const E = exact;
  const za = job.aZeroPoint;
  const zps = job.b.zeroPoint;
  for (let j = 0; j < N; j++) {
    const zb = zps.length === 1 ? zps[0]! : zps[job.bZeroPointBase + j]!;
    const columnTerm = -za * colSums[j]! + K * za * zb;
    for (let i = 0, e = j; i < M; i++, e += N) E[e] += columnTerm - zb * rowSums[i]!;
  }
}

/** Columns of B decoded at once by the saturating path. */
const SATURATING_COLUMNS = 64;
let rowBuffer = new Float64Array(0);

/**
 * A saturating accumulator: every addition clamps, so the order is part of the result. One output at
 * a time, from a decoded row of A and a decoded block of B's columns (unit stride in both).
 */
function saturatingPath(job: IntGemmJob): void {
  const { M, N, K, aData: a, bias, biasOffset, out } = job;
  const { min, max } = accumulatorRange(job.accumulator.bits);
  const pairs = job.pairSaturation;
  const za = pairs ? 0 : job.aZeroPoint;
  rowBuffer = grow(rowBuffer, K);
  const row = rowBuffer;
  let saturatedOutputs = 0;
  let saturatedPairs = 0;
  for (let jc = 0; jc < N; jc += SATURATING_COLUMNS) {
    const nc = Math.min(SATURATING_COLUMNS, N - jc);
    decodeWeightBlock(job, 0, K, jc, nc, pairs, true);
    const w = weightBlock;
    for (let i = 0; i < M; i++) {
      const r = job.aOffset + i * job.aRowStride;
      for (let k = 0; k < K; k++) row[k] = a[r + k]! - za;
      const outRow =
        job.outOffset +
        Math.floor(i / job.outRowGroup) * job.outRowGroupStride +
        (i % job.outRowGroup) * job.outRowStride;
      for (let c = 0; c < nc; c++) {
        const j = jc + c;
        const wo = c * K;
        let acc = 0;
        let hit = false;
        if (!pairs) {
          for (let k = 0; k < K; k++) {
            acc += row[k]! * w[wo + k]!;
            if (acc > max) {
              acc = max;
              hit = true;
            } else if (acc < min) {
              acc = min;
              hit = true;
            }
          }
        } else {
          for (let k = 0; k < K; k += 2) {
            let s = row[k]! * w[wo + k]! + (k + 1 < K ? row[k + 1]! * w[wo + k + 1]! : 0);
            if (s > INT16_MAX) {
              s = INT16_MAX;
              saturatedPairs++;
            } else if (s < INT16_MIN) {
              s = INT16_MIN;
              saturatedPairs++;
            }
            acc += s;
            if (acc > max) {
              acc = max;
              hit = true;
            } else if (acc < min) {
              acc = min;
              hit = true;
            }
          }
          acc += pairCorrection(job, i, j);
          if (acc > max) {
            acc = max;
            hit = true;
          } else if (acc < min) {
            acc = min;
            hit = true;
          }
        }
        if (bias !== null) {
          acc += bias[biasOffset + j]!;
          if (acc > max) {
            acc = max;
            hit = true;
          } else if (acc < min) {
            acc = min;
            hit = true;
          }
        }
        if (hit) saturatedOutputs++;
        out[outRow + j * job.outColStride] = acc;
      }
    }
  }
  if (job.overflow !== undefined) {
    job.overflow.accumulator += saturatedOutputs;
    job.overflow.int16Pairs += saturatedPairs;
  }
}
