import { defineKernel } from "./backend/registry.js";
import type { TypedData } from "./tensor.js";

/**
 * General matrix multiply on row-major typed arrays:
 *
 *     C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C
 *
 * `op(A)` is A itself, stored M×K with row stride `lda`, or (when `transA`) the transpose of an array
 * stored K×M. Likewise for B. Float32Array and Float64Array are both accepted, in any mix.
 * `beta = 0` overwrites C without reading it, so garbage (even NaN) in C does not leak into the result.
 * As in BLAS, `alpha = 0` or `K = 0` only scales C by beta and does not read A or B. C must not share
 * memory with A or B (checked). Not reentrant: the packing buffers are shared, and no callback runs
 * inside, so one call always finishes before the next starts.
 *
 * How it is fast, in plain JavaScript (the layout follows the well-known Goto/BLIS scheme):
 * - Operands are packed block by block into Float64Array scratch panels that live for the whole process
 *   (grown on demand, never allocated per call in steady state). Packing turns every transpose combination
 *   into the same unit-stride layout, so a single micro-kernel serves all four, and it converts float32 to
 *   float64 once per element instead of once per use (float64 loads are markedly cheaper in V8).
 * - The micro-kernel keeps a 4×4 tile of C in sixteen local variables and walks one k-block of a 4-row
 *   strip of A and a 4-column strip of B: eight loads feed sixteen multiply-adds per step. Tiles on the
 *   right or bottom edge of C use narrower kernels so that N = 9 or M = 9 wastes no work on padding.
 *   (Measured on this project's machine, 4×4 was as fast as 4×6 and faster than 4×8 and 8×4: x64 has
 *   16 float registers, so larger tiles probably spill.)
 * - K is cut into blocks of at most `K_BLOCK` so that one A strip and one B strip stay in L1 cache, rows
 *   of A into blocks of `M_BLOCK` (the packed A block stays in L2), and columns of B into blocks sized so
 *   the packed B block stays in L2 even when K is tiny and N huge (im2col shapes).
 * - Accumulation within a k-block is in float64; a float32 C is rounded once per k-block.
 *
 * This function validates and handles the trivial cases, then runs the active backend's kernel (see
 * backend/registry.ts): the `js` one is `gemmJs` below; the `wasm` one (wasm/gemm-f32.ts) takes
 * all-float32 operands, accumulates in float32 and is within γ(K+2)·Σ|α·a·b| of the exact result.
 */
export function gemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: TypedData,
  aOff: number,
  lda: number,
  B: TypedData,
  bOff: number,
  ldb: number,
  beta: number,
  C: TypedData,
  cOff: number,
  ldc: number,
): void {
  checkGemmArgs(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
  if (M === 0 || N === 0) return;
  if (K === 0 || alpha === 0) {
    scaleMatrix(C, cOff, ldc, M, N, beta);
    return;
  }
  // The micro-kernel has two store modes only (overwrite, accumulate); a general beta is applied
  // up front, which costs one pass over C against M·N·K multiply-adds.
  if (beta !== 0 && beta !== 1) {
    scaleMatrix(C, cOff, ldc, M, N, beta);
    beta = 1;
  }
  gemmKernel.current(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta as 0 | 1, C, cOff, ldc);
}

/**
 * The contract of a GEMM kernel behind `gemm`'s checks: arguments validated, M, N, K > 0, alpha ≠ 0,
 * beta 0 (overwrite C, never read it) or 1 (accumulate onto C).
 */
export type GemmKernel = (
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: TypedData,
  aOff: number,
  lda: number,
  B: TypedData,
  bOff: number,
  ldb: number,
  beta: 0 | 1,
  C: TypedData,
  cOff: number,
  ldc: number,
) => void;

/** The `js` backend's GEMM: the blocked float64-accumulating kernel described above. */
function gemmJs(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: TypedData,
  aOff: number,
  lda: number,
  B: TypedData,
  bOff: number,
  ldb: number,
  beta: 0 | 1,
  C: TypedData,
  cOff: number,
  ldc: number,
): void {
  const kBlocks = Math.ceil(K / K_BLOCK);
  const kcMax = Math.ceil(K / kBlocks);
  const ncMax = Math.max(NR, Math.floor(B_PANEL_DOUBLES / kcMax / NR) * NR);
  const mcMax = Math.min(M_BLOCK, roundUp(M, MR));
  ensureScratch(mcMax * kcMax, Math.min(ncMax, roundUp(N, NR)) * kcMax);
  const Ap = packedA;
  const Bp = packedB;

  for (let jc = 0; jc < N; jc += ncMax) {
    const nc = Math.min(ncMax, N - jc);
    for (let pc = 0; pc < K; pc += kcMax) {
      const kc = Math.min(kcMax, K - pc);
      packB(transB, B, bOff, ldb, pc, kc, jc, nc, Bp);
      const storeBeta = pc === 0 ? beta : 1;
      for (let ic = 0; ic < M; ic += M_BLOCK) {
        const mc = Math.min(M_BLOCK, M - ic);
        packA(transA, A, aOff, lda, ic, mc, pc, kc, alpha, Ap);
        macroKernel(mc, nc, kc, Ap, Bp, C, cOff + ic * ldc + jc, ldc, storeBeta);
      }
    }
  }
}

const gemmKernel = defineKernel<GemmKernel>("gemm", gemmJs);

/** Register tile: MR rows × NR columns of C held in locals by the micro-kernel. */
const MR = 4;
const NR = 4;
/** Largest k-block: one packed strip of A or B is K_BLOCK·4 doubles = 8 KiB, so both fit in L1. */
const K_BLOCK = 256;
/** Rows of A packed at once: M_BLOCK·K_BLOCK doubles = 128 KiB, resident in L2. */
const M_BLOCK = 64;
/** Doubles in one packed block of B (512 KiB); its width adapts to the k-block. */
const B_PANEL_DOUBLES = 65536;

let packedA = new Float64Array(0);
let packedB = new Float64Array(0);

function ensureScratch(aDoubles: number, bDoubles: number): void {
  if (packedA.length < aDoubles) packedA = new Float64Array(aDoubles);
  if (packedB.length < bDoubles) packedB = new Float64Array(bDoubles);
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

/**
 * Pack rows [i0, i0+mc) × k-range [p0, p0+kc) of op(A), scaled by alpha, as strips of MR rows:
 * strip s holds, for each k, the MR values of rows i0+MR·s … consecutively. Rows past mc are zero.
 */
function packA(
  transA: boolean,
  A: TypedData,
  aOff: number,
  lda: number,
  i0: number,
  mc: number,
  p0: number,
  kc: number,
  alpha: number,
  Ap: Float64Array,
): void {
  let d = 0;
  for (let s = 0; s < mc; s += MR) {
    const rows = Math.min(MR, mc - s);
    const i = i0 + s;
    if (rows === MR) {
      if (!transA) {
        // Four rows of A, each read with unit stride.
        let r0 = aOff + i * lda + p0;
        let r1 = r0 + lda;
        let r2 = r1 + lda;
        let r3 = r2 + lda;
        for (let p = 0; p < kc; p++) {
          Ap[d] = alpha * A[r0++]!;
          Ap[d + 1] = alpha * A[r1++]!;
          Ap[d + 2] = alpha * A[r2++]!;
          Ap[d + 3] = alpha * A[r3++]!;
          d += 4;
        }
      } else {
        // A is stored K×M: the four values for one k are adjacent.
        let src = aOff + p0 * lda + i;
        for (let p = 0; p < kc; p++) {
          Ap[d] = alpha * A[src]!;
          Ap[d + 1] = alpha * A[src + 1]!;
          Ap[d + 2] = alpha * A[src + 2]!;
          Ap[d + 3] = alpha * A[src + 3]!;
          src += lda;
          d += 4;
        }
      }
    } else {
      const rowStep = transA ? 1 : lda;
      const kStep = transA ? lda : 1;
      for (let p = 0; p < kc; p++) {
        const base = aOff + i * rowStep + (p0 + p) * kStep;
        for (let r = 0; r < MR; r++) Ap[d + r] = r < rows ? alpha * A[base + r * rowStep]! : 0;
        d += MR;
      }
    }
  }
}

/**
 * Pack k-range [p0, p0+kc) × columns [j0, j0+nc) of op(B) as strips of NR columns: strip s holds, for each
 * k, the NR values of columns j0+NR·s … consecutively. Columns past nc are zero.
 */
function packB(
  transB: boolean,
  B: TypedData,
  bOff: number,
  ldb: number,
  p0: number,
  kc: number,
  j0: number,
  nc: number,
  Bp: Float64Array,
): void {
  const fullStrips = Math.floor(nc / NR);
  const stripSize = kc * NR;
  if (!transB) {
    // Walk B row by row (unit stride) and scatter into the strips.
    for (let p = 0; p < kc; p++) {
      let src = bOff + (p0 + p) * ldb + j0;
      let d = p * NR;
      for (let s = 0; s < fullStrips; s++) {
        Bp[d] = B[src]!;
        Bp[d + 1] = B[src + 1]!;
        Bp[d + 2] = B[src + 2]!;
        Bp[d + 3] = B[src + 3]!;
        src += NR;
        d += stripSize;
      }
    }
  } else {
    // B is stored N×K: each column of op(B) is a unit-stride row of B.
    for (let s = 0; s < fullStrips; s++) {
      let c0 = bOff + (j0 + s * NR) * ldb + p0;
      let c1 = c0 + ldb;
      let c2 = c1 + ldb;
      let c3 = c2 + ldb;
      let d = s * stripSize;
      for (let p = 0; p < kc; p++) {
        Bp[d] = B[c0++]!;
        Bp[d + 1] = B[c1++]!;
        Bp[d + 2] = B[c2++]!;
        Bp[d + 3] = B[c3++]!;
        d += 4;
      }
    }
  }
  const rest = nc - fullStrips * NR;
  if (rest > 0) {
    const colStep = transB ? ldb : 1;
    const kStep = transB ? 1 : ldb;
    let d = fullStrips * stripSize;
    for (let p = 0; p < kc; p++) {
      const base = bOff + (p0 + p) * kStep + (j0 + fullStrips * NR) * colStep;
      for (let c = 0; c < NR; c++) Bp[d + c] = c < rest ? B[base + c * colStep]! : 0;
      d += NR;
    }
  }
}

/** All MR×NR tiles of one packed A block against one packed B block. */
function macroKernel(
  mc: number,
  nc: number,
  kc: number,
  Ap: Float64Array,
  Bp: Float64Array,
  C: TypedData,
  cOff: number,
  ldc: number,
  beta: number,
): void {
  const stripA = kc * MR;
  const stripB = kc * NR;
  // Column strips outside, row strips inside: the B strip stays in L1 while the A block streams from L2.
  for (let j = 0, bo = 0; j < nc; j += NR, bo += stripB) {
    const nr = Math.min(NR, nc - j);
    for (let i = 0, ao = 0; i < mc; i += MR, ao += stripA) {
      const mr = Math.min(MR, mc - i);
      const co = cOff + i * ldc + j;
      if (mr === MR && nr === NR) microKernel(kc, Ap, ao, Bp, bo, C, co, ldc, beta);
      else if (mr === MR) narrowEdgeKernel(kc, Ap, ao, Bp, bo, C, co, ldc, beta, nr);
      else shortEdgeKernel(kc, Ap, ao, Bp, bo, C, co, ldc, beta, mr, nr);
    }
  }
}

/** One full 4×4 tile: C_tile = (beta === 0 ? 0 : C_tile) + Σ_k Ap[k]·Bp[k]. */
function microKernel(
  kc: number,
  Ap: Float64Array,
  ao: number,
  Bp: Float64Array,
  bo: number,
  C: TypedData,
  co: number,
  ldc: number,
  beta: number,
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
    ao += MR;
    bo += NR;
  }
  {
    const r0 = co;
    const r1 = r0 + ldc;
    const r2 = r1 + ldc;
    const r3 = r2 + ldc;
    if (beta === 0) {
      C[r0] = c00;
      C[r0 + 1] = c01;
      C[r0 + 2] = c02;
      C[r0 + 3] = c03;
      C[r1] = c10;
      C[r1 + 1] = c11;
      C[r1 + 2] = c12;
      C[r1 + 3] = c13;
      C[r2] = c20;
      C[r2 + 1] = c21;
      C[r2 + 2] = c22;
      C[r2 + 3] = c23;
      C[r3] = c30;
      C[r3 + 1] = c31;
      C[r3 + 2] = c32;
      C[r3 + 3] = c33;
    } else {
      C[r0] += c00;
      C[r0 + 1] += c01;
      C[r0 + 2] += c02;
      C[r0 + 3] += c03;
      C[r1] += c10;
      C[r1 + 1] += c11;
      C[r1 + 2] += c12;
      C[r1 + 3] += c13;
      C[r2] += c20;
      C[r2 + 1] += c21;
      C[r2 + 2] += c22;
      C[r2 + 3] += c23;
      C[r3] += c30;
      C[r3 + 1] += c31;
      C[r3 + 2] += c32;
      C[r3 + 3] += c33;
    }
  }
}

/**
 * A tile on the right edge of C: all 4 rows but only nr < 4 columns. One column at a time with four row
 * accumulators, so no work is spent on the zero padding (N = 9 or 10 would otherwise waste up to 25%).
 */
function narrowEdgeKernel(
  kc: number,
  Ap: Float64Array,
  ao: number,
  Bp: Float64Array,
  bo: number,
  C: TypedData,
  co: number,
  ldc: number,
  beta: number,
  nr: number,
): void {
  for (let j = 0; j < nr; j++) {
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    for (let p = 0, a = ao, b = bo + j; p < kc; p++, a += MR, b += NR) {
      const bj = Bp[b]!;
      c0 += Ap[a]! * bj;
      c1 += Ap[a + 1]! * bj;
      c2 += Ap[a + 2]! * bj;
      c3 += Ap[a + 3]! * bj;
    }
    const r0 = co + j;
    const r1 = r0 + ldc;
    const r2 = r1 + ldc;
    const r3 = r2 + ldc;
    if (beta === 0) {
      C[r0] = c0;
      C[r1] = c1;
      C[r2] = c2;
      C[r3] = c3;
    } else {
      C[r0] += c0;
      C[r1] += c1;
      C[r2] += c2;
      C[r3] += c3;
    }
  }
}

/**
 * A tile on the bottom edge of C: mr < 4 rows (and nr ≤ 4 columns). One row at a time with four column
 * accumulators; padded columns are computed but not stored.
 */
function shortEdgeKernel(
  kc: number,
  Ap: Float64Array,
  ao: number,
  Bp: Float64Array,
  bo: number,
  C: TypedData,
  co: number,
  ldc: number,
  beta: number,
  mr: number,
  nr: number,
): void {
  for (let i = 0; i < mr; i++) {
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    for (let p = 0, a = ao + i, b = bo; p < kc; p++, a += MR, b += NR) {
      const ai = Ap[a]!;
      c0 += ai * Bp[b]!;
      c1 += ai * Bp[b + 1]!;
      c2 += ai * Bp[b + 2]!;
      c3 += ai * Bp[b + 3]!;
    }
    const row = co + i * ldc;
    if (beta === 0) {
      C[row] = c0;
      if (nr > 1) C[row + 1] = c1;
      if (nr > 2) C[row + 2] = c2;
      if (nr > 3) C[row + 3] = c3;
    } else {
      C[row] += c0;
      if (nr > 1) C[row + 1] += c1;
      if (nr > 2) C[row + 2] += c2;
      if (nr > 3) C[row + 3] += c3;
    }
  }
}

/** C ← beta·C on an M×N block; beta = 0 writes zeros without reading (NaN in C must not survive). */
function scaleMatrix(C: TypedData, cOff: number, ldc: number, M: number, N: number, beta: number): void {
  if (beta === 1) return;
  for (let i = 0; i < M; i++) {
    const row = cOff + i * ldc;
    if (beta === 0) C.fill(0, row, row + N);
    else for (let j = row; j < row + N; j++) C[j] = beta * C[j]!;
  }
}

function checkGemmArgs(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: TypedData,
  aOff: number,
  lda: number,
  B: TypedData,
  bOff: number,
  ldb: number,
  beta: number,
  C: TypedData,
  cOff: number,
  ldc: number,
): void {
  for (const [name, v] of [
    ["M", M],
    ["N", N],
    ["K", K],
    ["aOff", aOff],
    ["bOff", bOff],
    ["cOff", cOff],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new Error(`gemm: ${name} must be a non-negative integer, got ${v}`);
  }
  if (typeof alpha !== "number" || typeof beta !== "number") {
    throw new Error(`gemm: alpha and beta must be numbers, got ${String(alpha)} and ${String(beta)}`);
  }
  checkOperand("A", A, transA ? K : M, transA ? M : K, aOff, lda, transA ? "K×M" : "M×K");
  checkOperand("B", B, transB ? N : K, transB ? K : N, bOff, ldb, transB ? "N×K" : "K×N");
  checkOperand("C", C, M, N, cOff, ldc, "M×N");
  if (M === 0 || N === 0) return;
  const cEnd = cOff + (M - 1) * ldc + N;
  if (K > 0 && alpha !== 0) {
    if (overlaps(C, cOff, cEnd, A, aOff, aOff + (transA ? (K - 1) * lda + M : (M - 1) * lda + K))) {
      throw new Error("gemm: C overlaps A in memory; the output must not alias an input");
    }
    if (overlaps(C, cOff, cEnd, B, bOff, bOff + (transB ? (N - 1) * ldb + K : (K - 1) * ldb + N))) {
      throw new Error("gemm: C overlaps B in memory; the output must not alias an input");
    }
  }
}

function checkOperand(
  name: string,
  X: TypedData,
  rows: number,
  cols: number,
  off: number,
  ld: number,
  layout: string,
): void {
  if (!(X instanceof Float32Array || X instanceof Float64Array)) {
    throw new Error(`gemm: ${name} must be a Float32Array or a Float64Array`);
  }
  if (!Number.isInteger(ld) || ld < Math.max(1, cols)) {
    throw new Error(
      `gemm: ld${name.toLowerCase()} = ${ld} is too small for ${name} stored ${layout} (${rows}×${cols}): expected an integer >= ${Math.max(1, cols)}`,
    );
  }
  if (rows > 0 && cols > 0) {
    const end = off + (rows - 1) * ld + cols;
    if (end > X.length) {
      throw new Error(
        `gemm: ${name} stored ${layout} (${rows}×${cols}, ld ${ld}, offset ${off}) needs ${end} elements, but its array has ${X.length}`,
      );
    }
  }
}

/** Whether element ranges [s0, e0) of X and [s1, e1) of Y share memory. */
function overlaps(X: TypedData, s0: number, e0: number, Y: TypedData, s1: number, e1: number): boolean {
  if (X.buffer !== Y.buffer) return false;
  const x0 = X.byteOffset + s0 * X.BYTES_PER_ELEMENT;
  const x1 = X.byteOffset + e0 * X.BYTES_PER_ELEMENT;
  const y0 = Y.byteOffset + s1 * Y.BYTES_PER_ELEMENT;
  const y1 = Y.byteOffset + e1 * Y.BYTES_PER_ELEMENT;
  return x0 < y1 && y0 < x1;
}
