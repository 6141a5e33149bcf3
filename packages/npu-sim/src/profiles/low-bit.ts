import { tfliteCompat } from "@quant-trim/quant";
import { defineProfile } from "./define.js";
import { mobileNpuCost } from "./device-costs.js";
import type { BackendProfile } from "./schema.js";
import { allOpsUnconstrained } from "./tflite.js";

/**
 * INT4 weights with INT8 activations: per-channel symmetric int4 weights in [-7, 7] (TFLite's converter
 * range), packed two a byte with the low nibble first, int8 asymmetric activations, TFLite arithmetic.
 * Sources: tensorflow/lite/tools/optimize/quantization_utils.cc (int4 weights clamped to ±7);
 * tensorflow/lite/kernels/internal/portable_tensor_utils.cc (UnpackDenseInt4IntoInt8, low nibble
 * first); onnx docs/docsgen/source/technical/int4.md; Hailo model zoo docs/OPTIMIZATION.rst (a8_w4).
 */
export const w4a8: BackendProfile = defineProfile({
  name: "w4a8",
  summary: "INT4 per-channel weights (packed), INT8 activations, TFLite arithmetic",
  sources: [
    "tensorflow/lite/tools/optimize/quantization_utils.cc (int4 weights in [-7, 7])",
    "tensorflow/lite/kernels/internal/portable_tensor_utils.cc (packed int4, low nibble first)",
    "onnx/onnx docs/docsgen/source/technical/int4.md (int4 packing)",
    "hailo-ai/hailo_model_zoo docs/OPTIMIZATION.rst (a8_w4 precision mode)",
  ],
  weight: tfliteCompat.spec({
    bits: 4,
    signed: true,
    symmetric: true,
    narrowRange: true,
    granularity: "per-channel",
    axis: 0,
  }),
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
 * INT4 everywhere, one scale per tensor: symmetric int4 weights in [-7, 7] and unsigned asymmetric
 * 4-bit activations in [0, 15], MSE calibration (min-max ranges waste most of 16 codes on outliers).
 * The harshest grid in the set; accuracy here is what reverse pruning is meant to protect.
 * Sources: as `w4a8`; tensorflow/model-optimization#430 and amd/Quark#22 (4-bit activations collapse
 * without care); NVIDIA pytorch-quantization and onnxruntime calibrators (MSE calibration).
 */
export const w4a4PerTensor: BackendProfile = defineProfile({
  ...w4a8,
  name: "w4a4-per-tensor",
  summary: "INT4 per-tensor weights and UINT4 per-tensor activations, MSE calibration",
  sources: [
    ...w4a8.sources,
    "tensorflow/model-optimization#430, amd/Quark#22 (4-bit activations)",
    "onnxruntime/python/tools/quantization/calibrate.py and pytorch-quantization (MSE calibration)",
  ],
  weight: tfliteCompat.spec({
    bits: 4,
    signed: true,
    symmetric: true,
    narrowRange: true,
    granularity: "per-tensor",
  }),
  activation: tfliteCompat.spec({ bits: 4, signed: false, symmetric: false, granularity: "per-tensor" }),
  calibration: { method: "mse" },
});
