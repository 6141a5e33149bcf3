export {
  type ChannelRuns,
  type FakeQuantizeHalfEvenKernel,
  fakeQuantizeHalfEvenFast,
} from "./backend/fast-paths.js";
export {
  type BackendName,
  backendAvailable,
  backendNames,
  getBackend,
  kernelsOf,
  setBackend,
  withBackend,
} from "./backend/registry.js";
export * from "./conv.js";
export * from "./conv-relu-pool.js";
export * from "./creation.js";
export * from "./elementwise.js";
export * from "./errors.js";
export * from "./gemm.js";
export * from "./join.js";
export * from "./matmul.js";
export * from "./pool.js";
export * from "./reduce.js";
export * from "./rng.js";
export * from "./tensor.js";
export * from "./views.js";

export { gemmInt8Wasm, type Int8BLayout, type Int8PairCount } from "./wasm/gemm-int8.js";

// Registers the wasm backend's kernels (the module itself is assembled on first use).
import "./wasm/register.js";
