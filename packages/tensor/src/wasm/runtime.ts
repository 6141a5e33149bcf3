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
import { simdSupported } from "./simd-support.js";
import { type WasmMemory, webAssembly } from "./wasm-api.js";

export type KernelExports = GemmF32Exports &
  GemmInt8Exports &
  ConvExports &
  PoolExports &
  FakeQuantExports &
  ElementwiseExports;

export interface WasmRuntime {
  readonly exports: KernelExports;
  readonly heap: WasmHeap;
  /** MR·NR·4 bytes of scratch for the GEMM's edge tiles, allocated once. */
  readonly gemmTile: number;
}

let runtime: WasmRuntime | undefined;

/** The bytes of the kernel module (deterministic: the same on every call). */
export function kernelModuleBytes(): Uint8Array {
  const m = new WasmModuleBuilder().defineMemory(16);
  emitGemmF32(m);
  emitGemmInt8(m);
  emitConv(m);
  emitPool(m);
  emitFakeQuant(m);
  emitElementwise(m);
  return m.encode();
}

/** The instantiated kernel module (created on first use). Throws where WebAssembly SIMD is missing. */
export function wasmRuntime(): WasmRuntime {
  if (runtime !== undefined) return runtime;
  if (!simdSupported()) {
    throw new Error("wasmRuntime: this runtime does not support WebAssembly SIMD-128; use the js backend");
  }
  const wa = webAssembly()!;
  const instance = new wa.Instance(new wa.Module(kernelModuleBytes()), {});
  const memory = instance.exports.memory as WasmMemory;
  // Address 0 stays unused so that 0 can mean "no buffer" (e.g. no bias).
  const heap = new WasmHeap(memory, 64);
  runtime = {
    exports: instance.exports as unknown as KernelExports,
    heap,
    gemmTile: heap.alloc(GEMM_MR * GEMM_NR * 4),
  };
  return runtime;
}
