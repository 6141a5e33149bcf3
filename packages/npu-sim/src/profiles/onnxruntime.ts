import { onnxCompat } from "@quant-trim/quant";
import { defineProfile } from "./define.js";
import { x86CpuCost } from "./device-costs.js";
import type { BackendProfile } from "./schema.js";
import { allOpsUnconstrained } from "./tflite.js";

const ortSources = [
  "onnxruntime/core/mlas/lib/quantize.cpp (MlasRequantizeOutput: float32 product, clamp, round half to even)",
  "onnxruntime/core/providers/cpu/quantization/quantize_linear_matmul.cc (output scale a_s·b_s/y_s in float32)",
  "onnxruntime/python/tools/quantization/{quantize.py,quant_utils.py} (quantize_static defaults: uint8 asymmetric activations, int8 symmetric [-127, 127] weights, compute_scale_zp)",
  "microsoft/onnxruntime#8890 (per-channel QLinearConv needs symmetric weights)",
];

/** The grids of onnxruntime's static quantizer with per_channel=True: s8 weights, u8 activations. */
const ortWeight = onnxCompat.spec({
  bits: 8,
  signed: true,
  symmetric: true,
  narrowRange: true,
  granularity: "per-channel",
  axis: 0,
});
const ortActivation = onnxCompat.spec({
  bits: 8,
  signed: false,
  symmetric: false,
  granularity: "per-tensor",
});

/**
 * onnxruntime's CPU execution provider on a QDQ model from `quantize_static` (per-channel): uint8
 * activations, int8 weights, exact int32 accumulation and MLAS float32 requantization. This is what
 * ARM64 and x86 machines with VNNI compute.
 */
export const ortCpuU8s8: BackendProfile = defineProfile({
  name: "ort-cpu-u8s8",
  summary:
    "onnxruntime CPU, uint8 activations × int8 weights, exact int32 accumulation, float32 requantization",
  sources: ortSources,
  weight: ortWeight,
  activation: ortActivation,
  requant: { mode: "float32" },
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
  cost: x86CpuCost,
});

/**
 * The same model on an x86 machine with AVX2 but no VNNI, which is what onnxruntime-node really runs on
 * such hardware: MLAS's u8×s8 kernel multiplies with `vpmaddubsw`, which sums each pair of adjacent
 * products into an int16 with saturation before widening. Large activations next to large weights
 * therefore saturate (the reason behind PyTorch's and onnxruntime's `reduce_range` advice).
 */
export const ortCpuU8s8X86PairSaturation: BackendProfile = defineProfile({
  ...ortCpuU8s8,
  name: "ort-cpu-u8s8-x86-pair-sat",
  summary: "onnxruntime CPU on AVX2 without VNNI: u8×s8 product pairs saturate to int16 (vpmaddubsw)",
  sources: [
    ...ortSources,
    "torch/ao/quantization/observer.py (reduce_range comment: vpmaddubsw int16 overflow on x86)",
    "onnxruntime quantize.py docstring on reduce_range for non-VNNI machines",
  ],
  pairSaturation: true,
});

/**
 * onnxruntime `quantize_dynamic`: int8 per-tensor weights quantized offline, uint8 activations
 * quantized per input at run time (DynamicQuantizeLinear: range of the tensor itself, float32
 * arithmetic, zero point rounded half to even), float32 requantization.
 */
export const ortCpuDynamicU8s8: BackendProfile = defineProfile({
  ...ortCpuU8s8,
  name: "ort-cpu-dynamic-u8s8",
  summary:
    "onnxruntime quantize_dynamic: int8 per-tensor weights, uint8 activations ranged per input at run time",
  sources: [
    ...ortSources,
    "onnx/defs/quantization/defs.cc and onnxruntime/core/providers/cpu/quantization/dynamicquantizelinear.cc (DynamicQuantizeLinear)",
  ],
  weight: onnxCompat.spec({
    bits: 8,
    signed: true,
    symmetric: true,
    narrowRange: true,
    granularity: "per-tensor",
  }),
  activation: onnxCompat.spec({
    bits: 8,
    signed: false,
    symmetric: false,
    granularity: "per-tensor",
    qparamsArithmetic: "float32",
  }),
  activationScaling: "dynamic",
  floatOutput: true,
});
