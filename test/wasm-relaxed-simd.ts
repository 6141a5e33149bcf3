import { enableRelaxedSimd } from "@quant-trim/tensor/node";

/**
 * The suite runs the kernels the CLI runs: the wasm fp32 GEMM with relaxed SIMD's multiply-add, which
 * Node 20 keeps behind a V8 flag that the CLI sets at start-up. The plain-SIMD GEMM (what a runtime
 * without relaxed SIMD gets) has its own test, test/tensor/backend-gemm-relaxed.test.ts.
 */
enableRelaxedSimd();
