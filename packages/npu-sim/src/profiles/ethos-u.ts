import { tfliteCompat } from "@quant-trim/quant";
import { defineProfile } from "./define.js";
import { microNpuCost } from "./device-costs.js";
import type { BackendProfile } from "./schema.js";

/**
 * Arm Ethos-U55/U65 through Vela: TFLite int8 grids, but per-axis weights only for CONV_2D and
 * DEPTHWISE_CONV_2D (fully connected weights are per-tensor), strides of 1–4 (convolution) and 1–3
 * (depthwise and pooling), dilated kernels at most 64 high and 4096 in area, average pools at most 8×8,
 * biases that must fit in 40 bits; ops outside these limits are "scheduled on the CPU instead".
 * Requantization: single rounding — apache/tvm PR #15929 moved Ethos-U away from TFLite's double
 * rounding; the exact NPU tie rule is not public (unverified).
 * Sources: nxp-imx/ethos-u-vela SUPPORTED_OPS.md (Vela 3.6) and vela.py; executorch Arm backend docs;
 * apache/tvm PR #15929.
 */
export const ethosU: BackendProfile = defineProfile({
  name: "ethos-u",
  summary: "Arm Ethos-U (Vela): TFLite int8, per-axis weights only for convolutions, op limits, CPU fallback",
  sources: [
    "nxp-imx/ethos-u-vela SUPPORTED_OPS.md (Vela 3.6): per-axis quantization only for CONV_2D/DEPTHWISE_CONV_2D/TRANSPOSE_CONV, stride, dilation and pool limits, 40-bit bias, fused activations",
    "executorch docs: Arm Ethos-U backend (8x8 and 16x8 quantization)",
    "apache/tvm PR #15929 (Ethos-U requantize rounding differs from TFLite's double rounding)",
  ],
  weight: tfliteCompat.weight,
  activation: tfliteCompat.activation,
  requant: { mode: "single-rounding" },
  accumulator: { bits: 32, overflow: "wrap" },
  pairSaturation: false,
  bias: { bits: 40 },
  fusedActivations: ["relu", "relu6"],
  ops: {
    conv2d: { stride: [1, 4], maxDilatedKernelHeight: 64, maxDilatedKernelArea: 4096 },
    "depthwise-conv2d": { stride: [1, 3], maxDilatedKernelHeight: 64, maxDilatedKernelArea: 4096 },
    linear: {
      weight: tfliteCompat.spec({
        bits: 8,
        signed: true,
        symmetric: true,
        narrowRange: true,
        granularity: "per-tensor",
      }),
    },
    add: {},
    mul: {},
    "max-pool": { stride: [1, 3] },
    "avg-pool": { stride: [1, 3], maxKernel: [8, 8] },
    clamp: {},
    reshape: {},
  },
  fallback: "cpu-float",
  partitioning: "any",
  calibration: { method: "min-max" },
  activationScaling: "static",
  floatOutput: false,
  cost: microNpuCost,
});
