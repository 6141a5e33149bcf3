/**
 * The kernel module: assembled from this package's TypeScript the first time a wasm kernel runs
 * (a few milliseconds), compiled synchronously, and instantiated once per process (or worker) with its
 * own growable memory, managed by a `WasmHeap`.
 */
import { WasmModuleBuilder } from "./assembler.js";
import { type ConvExports, emitConv } from "./conv-kernel.js";
import { type ElementwiseExports, emitElementwise } from "./elementwise-kernel.js";
import { emitFakeQuant, type FakeQuantExports } from "./fake-quant-kernel.js";
import { emitGemmF32, GEMM_MR, GEMM_NR, type GemmF32Exports } from "./gemm-f32-kernel.js";
import { emitGemmInt8, type GemmInt8Exports } from "./gemm-int8-kernel.js";
import { WasmHeap } from "./heap.js";
import { emitPool, type PoolExports } from "./pool-kernel.js";
import { relaxedSimdSupported, simdSupported } from "./simd-support.js";
import { type WasmMemory, webAssembly } from "./wasm-api.js";

export type KernelExports = GemmF32Exports &
  GemmInt8Exports &
  ConvExports &
  PoolExports &
  FakeQuantExports &
  ElementwiseExports;

export interface WasmRuntime {
  readonly exports: KernelExports;
  /** Whether the float32 GEMM's micro-kernel multiplies and adds with `f32x4.relaxed_madd`. */
  readonly relaxedMadd: boolean;
  readonly heap: WasmHeap;
  /** MR·NR·4 bytes of scratch for the GEMM's edge tiles, allocated once. */
  readonly gemmTile: number;
}

let runtime: WasmRuntime | undefined;

/**
 * The bytes of the kernel module (deterministic for given options). `relaxedMadd` makes the float32
 * GEMM's micro-kernel use relaxed SIMD's multiply-add, one instruction where plain SIMD needs two
 * (fused — one rounding — on CPUs with FMA, as V8 compiles it on x64); the default is to use it where
 * the runtime validates it.
 */
export function kernelModuleBytes(options: { relaxedMadd?: boolean } = {}): Uint8Array {
  const m = new WasmModuleBuilder().defineMemory(16);
  emitGemmF32(m, { mr: GEMM_MR, nr: GEMM_NR, fma: options.relaxedMadd ?? relaxedSimdSupported() });
  emitGemmInt8(m);
  emitConv(m);
  emitPool(m);
  emitFakeQuant(m);
  emitElementwise(m);
  return m.encode();
}

/** The instantiated kernel module (created on first use). Throws where WebAssembly SIMD is missing. */
export function wasmRuntime(): WasmRuntime {
  runtime ??= createWasmRuntime({ relaxedMadd: relaxedSimdSupported() });
  return runtime;
}

/** A fresh instance of the kernel module with its own memory and heap. */
export function createWasmRuntime(options: { relaxedMadd: boolean }): WasmRuntime {
  if (!simdSupported()) {
    throw new Error("wasmRuntime: this runtime does not support WebAssembly SIMD-128; use the js backend");
  }
  const wa = webAssembly()!;
  const instance = new wa.Instance(new wa.Module(kernelModuleBytes(options)), {});
  const memory = instance.exports.memory as WasmMemory;
  // Address 0 stays unused so that 0 can mean "no buffer" (e.g. no bias).
  const heap = new WasmHeap(memory, 64);
  return {
    exports: instance.exports as unknown as KernelExports,
    relaxedMadd: options.relaxedMadd,
    heap,
    gemmTile: heap.alloc(GEMM_MR * GEMM_NR * 4),
  };
}

/**
 * Makes `next` the instance every wasm kernel uses and returns the previous one (undefined: none yet).
 * For tests that run the kernels on the plain-SIMD module where relaxed SIMD is enabled.
 */
export function swapWasmRuntime(next: WasmRuntime | undefined): WasmRuntime | undefined {
  const previous = runtime;
  runtime = next;
  return previous;
}

/**
 * What the wasm backend runs on here: SIMD-128 (required), and whether the GEMM uses relaxed SIMD's
 * multiply-add. Instantiates the module if it is not yet. For benchmarks and diagnostics.
 */
export function wasmKernelFeatures(): { simd128: boolean; relaxedMadd: boolean } {
  if (!simdSupported()) return { simd128: false, relaxedMadd: false };
  return { simd128: true, relaxedMadd: wasmRuntime().relaxedMadd };
}

/** Whether the kernel module has been instantiated in this process (settings made later do not apply). */
export function wasmRuntimeStarted(): boolean {
  return runtime !== undefined;
}
