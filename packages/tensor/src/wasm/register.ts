/**
 * Registers the `wasm` backend's kernels with the registry. Imported for its effect by the package
 * entry; the WebAssembly module itself is only assembled when one of these kernels first runs.
 */
import { registerKernel } from "../backend/registry.js";
import { gemmWasm } from "./gemm-f32.js";

registerKernel("gemm", "wasm", gemmWasm);
