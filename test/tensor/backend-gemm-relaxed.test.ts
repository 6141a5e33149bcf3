/**
 * The wasm fp32 GEMM is assembled in two forms: with relaxed SIMD's `f32x4.relaxed_madd` (the suite's
 * setup enables relaxed SIMD, as the CLI does, so every other test runs this one) and with plain SIMD's
 * multiply then add (what a runtime without relaxed SIMD runs). Both, driven through `gemm` on the wasm
 * backend, stay within the float32 bound of a K-term dot product against a float64 reference:
 * |c − ref| ≤ γ(K + 2)·Σₖ|aᵢₖ·bₖⱼ|.
 */
import { gemm, getBackend, Rng, setBackend } from "@quant-trim/tensor";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createWasmRuntime,
  swapWasmRuntime,
  type WasmRuntime,
  wasmKernelFeatures,
} from "../../packages/tensor/src/wasm/runtime.js";
import { gamma, U32 } from "./backends.js";

function worstExcess(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  seed: number,
): number {
  const rng = new Rng(seed);
  const A = Float32Array.from({ length: M * K }, () => rng.uniform(-2, 2));
  const B = Float32Array.from({ length: K * N }, () => rng.uniform(-2, 2));
  const C = new Float32Array(M * N);
  const [lda, ldb] = [transA ? M : K, transB ? K : N];
  gemm(transA, transB, M, N, K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, N);
  let worst = 0;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let ref = 0;
      let abs = 0;
      for (let k = 0; k < K; k++) {
        const p = A[transA ? k * M + i : i * K + k]! * B[transB ? j * K + k : k * N + j]!;
        ref += p;
        abs += Math.abs(p);
      }
      const bound = gamma(K + 2, U32) * abs + 1e-30;
      worst = Math.max(worst, Math.abs(C[i * N + j]! - ref) / bound);
    }
  }
  return worst; // ≤ 1 when every element is within its bound
}

const shapes = fc.record({
  transA: fc.boolean(),
  transB: fc.boolean(),
  M: fc.integer({ min: 1, max: 40 }),
  N: fc.integer({ min: 1, max: 40 }),
  K: fc.integer({ min: 1, max: 300 }), // past one k-block (256): accumulation across blocks
  seed: fc.nat(),
});

describe("wasm fp32 GEMM, relaxed-SIMD and plain-SIMD micro-kernels", () => {
  let previousBackend: ReturnType<typeof getBackend>;
  beforeAll(() => {
    previousBackend = getBackend();
    setBackend("wasm");
  });
  afterAll(() => setBackend(previousBackend));

  it("the suite's runtime uses relaxed_madd (Node 20 with the flag the setup sets)", () => {
    expect(wasmKernelFeatures()).toEqual({ simd128: true, relaxedMadd: true });
  });

  it("relaxed_madd kernel: within the float32 bound on random shapes", () => {
    fc.assert(
      fc.property(shapes, (s) => worstExcess(s.transA, s.transB, s.M, s.N, s.K, s.seed) <= 1),
      { numRuns: 40 },
    );
  });

  it("plain-SIMD kernel: within the same bound on the same shapes", () => {
    const plain: WasmRuntime = createWasmRuntime({ relaxedMadd: false });
    const previous = swapWasmRuntime(plain);
    try {
      expect(wasmKernelFeatures()).toEqual({ simd128: true, relaxedMadd: false });
      fc.assert(
        fc.property(shapes, (s) => worstExcess(s.transA, s.transB, s.M, s.N, s.K, s.seed) <= 1),
        { numRuns: 40 },
      );
    } finally {
      swapWasmRuntime(previous);
    }
    expect(wasmKernelFeatures().relaxedMadd).toBe(true);
  });
});
