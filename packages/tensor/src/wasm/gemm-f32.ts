/**
 * The `wasm` backend's GEMM (see `gemm` for the contract): float32 operands are copied into WebAssembly
 * memory, packed there into float32 panels and multiplied by the SIMD micro-kernel of
 * `gemm-f32-kernel.ts`; the blocking loops (the Goto/BLIS order of the `js` kernel) run here.
 *
 * Accuracy: products and sums are float32 (the `js` kernel sums in float64). Each element of C is a sum
 * of K products accumulated in some order, so |c − exact| ≤ γ(K+1)·Σₖ|α·aᵢₖ·bₖⱼ| (+ |c| rounding when
 * accumulating onto C), with γ(n) = n·u/(1 − n·u) and u = 2⁻²⁴ (Higham, Accuracy and Stability of
 * Numerical Algorithms, §3.1); α is folded into the packed A, one more rounding per product.
 * Any operand in float64 makes this kernel defer to the `js` one, so float64 work keeps its accuracy.
 */
import { kernelFor } from "../backend/registry.js";
import type { GemmKernel } from "../gemm.js";
import type { TypedData } from "../tensor.js";
import { GEMM_MACRO, GEMM_MR, GEMM_NR, GEMM_PACK_A, GEMM_PACK_B } from "./gemm-f32-kernel.js";
import { wasmRuntime } from "./runtime.js";

/** Largest k-block: a packed B strip is K_BLOCK·NR·4 = 8 KiB and an A strip 4 KiB, both L1-resident. */
const K_BLOCK = 256;
/** Rows of A packed at once: M_BLOCK·K_BLOCK·4 = 128 KiB, resident in L2. */
const M_BLOCK = 128;
/** Floats of one packed B block (1 MiB); its width adapts to the k-block. */
const B_BLOCK_FLOATS = 262144;

let jsGemm: GemmKernel | undefined;

export const gemmWasm: GemmKernel = (
  transA,
  transB,
  M,
  N,
  K,
  alpha,
  A,
  aOff,
  lda,
  B,
  bOff,
  ldb,
  beta,
  C,
  cOff,
  ldc,
) => {
  if (!(A instanceof Float32Array && B instanceof Float32Array && C instanceof Float32Array)) {
    jsGemm ??= kernelFor<GemmKernel>("gemm", "js")!;
    jsGemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
    return;
  }
  const rt = wasmRuntime();
  const heap = rt.heap;
  const ex = rt.exports;
  const [aRows, aCols] = transA ? [K, M] : [M, K];
  const [bRows, bCols] = transB ? [N, K] : [K, N];

  const kBlocks = Math.ceil(K / K_BLOCK);
  const kcMax = Math.ceil(K / kBlocks);
  const ncMax = Math.max(GEMM_NR, Math.floor(B_BLOCK_FLOATS / kcMax / GEMM_NR) * GEMM_NR);
  const mcMax = Math.min(M_BLOCK, roundUp(M, GEMM_MR));

  const aRaw = heap.alloc(aRows * aCols * 4);
  const bRaw = heap.alloc(bRows * bCols * 4);
  const cW = heap.alloc(M * N * 4);
  const aPack = heap.alloc(mcMax * kcMax * 4);
  const bPack = heap.alloc(Math.min(ncMax, roundUp(N, GEMM_NR)) * kcMax * 4);
  try {
    const mem = heap.f32();
    copyTight(A, aOff, lda, aRows, aCols, mem, aRaw >> 2);
    copyTight(B, bOff, ldb, bRows, bCols, mem, bRaw >> 2);
    if (beta === 1) copyTight(C, cOff, ldc, M, N, mem, cW >> 2);

    // Byte strides of op(A) (lane = row i) and op(B) (lane = column j) in the tight copies.
    const aLane = transA ? 4 : aCols * 4;
    const aK = transA ? aCols * 4 : 4;
    const bLane = transB ? bCols * 4 : 4;
    const bK = transB ? 4 : bCols * 4;
    for (let jc = 0; jc < N; jc += ncMax) {
      const nc = Math.min(ncMax, N - jc);
      for (let pc = 0; pc < K; pc += kcMax) {
        const kc = Math.min(kcMax, K - pc);
        ex[GEMM_PACK_B](bRaw + jc * bLane + pc * bK, bLane, bK, nc, kc, bPack, 1);
        const accumulate = pc > 0 || beta === 1 ? 1 : 0;
        for (let ic = 0; ic < M; ic += M_BLOCK) {
          const mc = Math.min(M_BLOCK, M - ic);
          ex[GEMM_PACK_A](aRaw + ic * aLane + pc * aK, aLane, aK, mc, kc, aPack, alpha);
          ex[GEMM_MACRO](
            aPack,
            kc * GEMM_MR * 4,
            bPack,
            kc * GEMM_NR * 4,
            GEMM_NR * 4,
            cW + (ic * N + jc) * 4,
            mc,
            nc,
            kc,
            N * 4,
            accumulate,
            rt.gemmTile,
          );
        }
      }
    }
    copyOut(heap.f32(), cW >> 2, M, N, C, cOff, ldc);
  } finally {
    heap.release(bPack);
    heap.release(aPack);
    heap.release(cW);
    heap.release(bRaw);
    heap.release(aRaw);
  }
};

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

/** Copy a rows×cols block (row stride ld) from `src` to `dst` at `at` with row stride cols. */
export function copyTight(
  src: TypedData,
  off: number,
  ld: number,
  rows: number,
  cols: number,
  dst: Float32Array,
  at: number,
): void {
  if (ld === cols || rows === 1) {
    dst.set(src.subarray(off, off + rows * cols), at);
    return;
  }
  for (let r = 0; r < rows; r++) dst.set(src.subarray(off + r * ld, off + r * ld + cols), at + r * cols);
}

/** Copy a tight rows×cols block of `src` at `at` into `dst` (row stride ld). */
function copyOut(
  src: Float32Array,
  at: number,
  rows: number,
  cols: number,
  dst: TypedData,
  off: number,
  ld: number,
): void {
  if (ld === cols || rows === 1) {
    dst.set(src.subarray(at, at + rows * cols), off);
    return;
  }
  for (let r = 0; r < rows; r++) dst.set(src.subarray(at + r * cols, at + (r + 1) * cols), off + r * ld);
}
