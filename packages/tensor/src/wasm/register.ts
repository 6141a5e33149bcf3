/**
 * Registers the `wasm` backend's kernels with the registry. Imported for its effect by the package
 * entry; the WebAssembly module itself is only assembled when one of these kernels first runs.
 */
import { registerKernel } from "../backend/registry.js";
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm } from "./conv.js";
import { conv2dReluMaxPoolWasm } from "./conv-relu-pool.js";
import { binaryFastWasm, unaryFastWasm } from "./elementwise.js";
import { fakeQuantizeHalfEvenWasm } from "./fake-quant.js";
import { gemmWasm } from "./gemm-f32.js";
import { maxPool2dWasm } from "./pool.js";

registerKernel("gemm", "wasm", gemmWasm);
registerKernel("conv2d", "wasm", conv2dForwardWasm);
registerKernel("conv2dBackwardInput", "wasm", conv2dBackwardInputWasm);
registerKernel("conv2dBackwardWeight", "wasm", conv2dBackwardWeightWasm);
registerKernel("maxPool2d", "wasm", maxPool2dWasm);
registerKernel("conv2dReluMaxPool", "wasm", conv2dReluMaxPoolWasm);
registerKernel("elementwise.unary", "wasm", unaryFastWasm);
registerKernel("elementwise.binary", "wasm", binaryFastWasm);
registerKernel("fakeQuantizeHalfEven", "wasm", fakeQuantizeHalfEvenWasm);
