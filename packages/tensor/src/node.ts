/**
 * Node-only helpers of the tensor package (the main entry imports no Node built-in, so it bundles for a
 * browser). Import from `@quant-trim/tensor/node`.
 */
import { setFlagsFromString } from "node:v8";
import { wasmRuntimeStarted } from "./wasm/runtime.js";
import { relaxedSimdSupported } from "./wasm/simd-support.js";

/**
 * Lets the wasm backend use relaxed SIMD's `f32x4.relaxed_madd` (a fused multiply-add on x64 CPUs with
 * FMA) in its float32 GEMM. Node 20's V8 has relaxed SIMD but only behind `--experimental-wasm-relaxed-
 * simd`; this sets that flag for the running process. It must be called before the first wasm kernel
 * runs (the module is assembled once, on first use); later it changes nothing and says so. Returns
 * whether the kernels will use relaxed SIMD. Browsers with relaxed SIMD need no call.
 *
 * Results stay within the gemm's float32 error bound either way, but are not bit-identical to the plain
 * SIMD kernel's (one rounding per multiply-add instead of two).
 */
export function enableRelaxedSimd(): boolean {
  if (relaxedSimdSupported()) return true;
  if (wasmRuntimeStarted()) {
    throw new Error(
      "enableRelaxedSimd: the wasm kernels are already instantiated without relaxed SIMD; call it before the first tensor operation",
    );
  }
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  return relaxedSimdSupported();
}
