import { tfliteCompat } from "@quant-trim/quant";
import { defineProfile } from "./define.js";
import { mobileNpuCost } from "./device-costs.js";
import type { BackendProfile, OpConstraints } from "./schema.js";

/** Every op the compiler can lower, without limits: the TFLite int8 builtin kernels cover them all. */
export const allOpsUnconstrained: Readonly<Record<string, OpConstraints>> = Object.freeze({
  conv2d: {},
  "depthwise-conv2d": {},
  linear: {},
  add: {},
  mul: {},
  "max-pool": {},
  "avg-pool": {},
  clamp: {},
  reshape: {},
});

const tfliteSources = [
  "TFLite quantization spec: tensorflow/lite/g3doc/performance/quantization_spec.md (int8 narrow symmetric per-axis weights, int8 asymmetric per-tensor activations, int32 bias at s_in·s_w)",
  "tensorflow/lite/kernels/internal/quantization_util.cc (QuantizeMultiplier, ChooseQuantizationParams: zero point from the nearer range end, half away from zero)",
  "tensorflow/lite/kernels/internal/common.cc (MultiplyByQuantizedMultiplier: gemmlowp double rounding unless TFLITE_SINGLE_ROUNDING)",
  "tensorflow/lite/kernels/internal/reference/integer_ops/{conv.h,fully_connected.h,add.h,mul.h,pooling.h}",
  "tensorflow/lite/kernels/kernel_util.cc (CalculateActivationRangeQuantized: fused ReLU/ReLU6 as output clamps)",
];

/**
 * TFLite / LiteRT int8, reference kernels (TFLM, the TFLite reference path): per-channel narrow int8
 * weights, asymmetric int8 activations, gemmlowp double-rounding requantization, int32 accumulators that
 * wrap. Sources: the TFLite quantization spec and the kernel files listed in `sources`.
 */
export const tfliteInt8: BackendProfile = defineProfile({
  name: "tflite-int8",
  summary:
    "TFLite int8 reference kernels: per-channel int8 weights, int8 activations, gemmlowp double rounding",
  sources: tfliteSources,
  weight: tfliteCompat.weight,
  activation: tfliteCompat.activation,
  requant: { mode: "gemmlowp" },
  accumulator: { bits: 32, overflow: "wrap" },
  pairSaturation: false,
  bias: { bits: 32 },
  fusedActivations: ["relu", "relu6"],
  ops: allOpsUnconstrained,
  fallback: "cpu-float",
  partitioning: "any",
  calibration: { method: "min-max" },
  activationScaling: "static",
  floatOutput: false,
  cost: mobileNpuCost,
});

/**
 * TFLite built with TFLITE_SINGLE_ROUNDING (and the XNNPACK/ruy optimized path): the same grids, one
 * rounding in requantization. Differs from `tflite-int8` by one code on about 1–2 % of outputs
 * (tensorflow/tflite-micro#3252, tensorflow/tensorflow PR #50290).
 */
export const tfliteInt8SingleRounding: BackendProfile = defineProfile({
  ...tfliteInt8,
  name: "tflite-int8-single-rounding",
  summary: "TFLite int8 with TFLITE_SINGLE_ROUNDING (XNNPACK/ruy-style requantization)",
  sources: [
    ...tfliteSources,
    "tensorflow/tflite-micro#3252 and tensorflow/tensorflow PR #50290 (single vs double rounding)",
  ],
  requant: { mode: "single-rounding" },
});
