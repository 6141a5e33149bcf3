import { WasmModuleBuilder } from "./assembler.js";
import { webAssembly } from "./wasm-api.js";

let supported: boolean | undefined;
let relaxed = false;

/**
 * Whether this runtime accepts WebAssembly with SIMD-128 (Node ≥ 16.4, every current browser). Decided
 * once by validating a module that uses the instructions the kernels depend on.
 */
export function simdSupported(): boolean {
  if (supported === undefined) {
    supported = webAssembly()?.validate(probeModule()) === true;
  }
  return supported;
}

/**
 * Whether this runtime accepts relaxed SIMD's `f32x4.relaxed_madd` (Chrome ≥ 114 and Firefox ≥ 120 by
 * default; Node 20 only once V8's `--experimental-wasm-relaxed-simd` is set, which
 * `@quant-trim/tensor/node`'s `enableRelaxedSimd()` does). Asked when the kernel module is first
 * assembled; the answer is not cached, because the flag may be set before that moment.
 */
export function relaxedSimdSupported(): boolean {
  // Once valid, a runtime does not take it back; until then, ask again (the flag may have been set).
  relaxed ||= webAssembly()?.validate(relaxedProbeModule()) === true;
  return relaxed;
}

/** One function using a SIMD load, splat, multiply-add, integer dot product and a store. */
function probeModule(): Uint8Array {
  const m = new WasmModuleBuilder().defineMemory(1);
  m.addFunction("probe", ["i32"], [], (f, p) => {
    f.get(p)
      .get(p)
      .simdMem("v128_load")
      .f32Const(2)
      .simd("f32x4_splat")
      .simd("f32x4_mul")
      .get(p)
      .simdMem("v128_load32_splat", 16)
      .simd("f32x4_add")
      .get(p)
      .simdMem("v128_load", 32)
      .simd("i32x4_dot_i16x8_s")
      .simdMem("v128_store");
  });
  return m.encode();
}

/** One function using `f32x4.relaxed_madd`. */
function relaxedProbeModule(): Uint8Array {
  const m = new WasmModuleBuilder().defineMemory(1);
  m.addFunction("probe", ["i32"], [], (f, p) => {
    f.get(p)
      .get(p)
      .simdMem("v128_load")
      .get(p)
      .simdMem("v128_load", 16)
      .get(p)
      .simdMem("v128_load", 32)
      .simd("f32x4_relaxed_madd")
      .simdMem("v128_store");
  });
  return m.encode();
}
