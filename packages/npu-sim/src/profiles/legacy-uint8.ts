import { tfliteCompat } from "@quant-trim/quant";
import { defineProfile } from "./define.js";
import { mobileNpuCost } from "./device-costs.js";
import type { BackendProfile } from "./schema.js";
import { allOpsUnconstrained } from "./tflite.js";

/**
 * The legacy asymmetric per-tensor uint8 scheme (TFLite before int8, many older NPUs such as the
 * VeriSilicon VIP "asymmetric_affine-u8" and RKNN toolkit 1): uint8 weights and activations, each with
 * one scale and a zero point, KL calibration. BatchNorm folding multiplies each output channel's
 * weights by its own γ/σ, so one per-tensor weight scale must span channels of very different
 * magnitudes: the grid where folded depthwise convolutions collapse.
 * Sources: TFLite quantization spec ("In the past our quantized tooling used per-tensor, asymmetric,
 * uint8"); tensorflow/lite/kernels/kernel_util.cc (legacy uint8 path with weight offsets);
 * khadas/aml_npu_sdk acuity-toolkit quantize script (asymmetric_affine-u8); rknn_model_zoo config
 * docs (quantized_algorithm kl_divergence); ARM-software/armnn#344 (per-tensor MobileNet collapse).
 */
export const uint8PerTensor: BackendProfile = defineProfile({
  name: "uint8-per-tensor",
  summary: "legacy uint8 asymmetric per-tensor weights and activations, KL calibration",
  sources: [
    "tensorflow/lite/g3doc/performance/quantization_spec.md (the legacy per-tensor asymmetric uint8 scheme)",
    "tensorflow/lite/kernels/kernel_util.cc (legacy uint8 convolution with weight offsets)",
    "khadas/aml_npu_sdk acuity-toolkit/demo/1_quantize_model.sh (asymmetric_affine-u8)",
    "airockchip rknn_model_zoo config docs (quantized_algorithm: kl_divergence)",
    "ARM-software/armnn#344 (per-tensor weights collapse MobileNet)",
  ],
  weight: tfliteCompat.spec({ bits: 8, signed: false, symmetric: false, granularity: "per-tensor" }),
  activation: tfliteCompat.spec({ bits: 8, signed: false, symmetric: false, granularity: "per-tensor" }),
  requant: { mode: "gemmlowp" },
  accumulator: { bits: 32, overflow: "wrap" },
  pairSaturation: false,
  bias: { bits: 32 },
  fusedActivations: ["relu", "relu6"],
  ops: allOpsUnconstrained,
  fallback: "cpu-float",
  partitioning: "any",
  calibration: { method: "entropy", bins: 2048, quantizedBins: 128 },
  activationScaling: "static",
  floatOutput: false,
  cost: mobileNpuCost,
});
