import { gridSpec, int8NarrowSymmetricPerChannel, int8NarrowSymmetricPerTensor } from "@quant-trim/quant";
import { defineProfile } from "./define.js";
import { embeddedGpuCost } from "./device-costs.js";
import type { BackendProfile } from "./schema.js";
import { allOpsUnconstrained } from "./tflite.js";

/** TensorRT's symmetric "amax" grid: scale = amax / 127, round half to even, codes in [-127, 127]. */
const amax = { symmetricDivisor: "positive-range", rounding: "half-even" } as const;

/**
 * NVIDIA TensorRT INT8: symmetric narrow per-channel weights, symmetric narrow per-tensor activations
 * (zero point 0, so post-ReLU tensors use half the codes), float scales, entropy (KL) calibration on a
 * 2048-bin histogram of |x| folded to 128 quantized bins; the network output stays float (the last
 * layer's accumulators are dequantized, as Q/DQ graphs without a Q on the output run).
 * Sources: NVIDIA TF quantization toolkit docs ("TensorRT only supports G_NARROW_RANGE=True /
 * G_SYMMETRIC=True"); pytorch-quantization `QuantDescriptor`/`HistogramCalibrator` (amax, entropy);
 * the TensorRT developer guide's INT8 calibration section (IInt8EntropyCalibrator2).
 */
export const tensorrtInt8: BackendProfile = defineProfile({
  name: "tensorrt-int8",
  summary:
    "TensorRT INT8: symmetric narrow per-channel weights and per-tensor activations, entropy calibration",
  sources: [
    "NVIDIA TensorFlow quantization toolkit docs (TensorRT: narrow range and symmetric only)",
    "NVIDIA/TensorRT tools/pytorch-quantization: QuantDescriptor (amax / 127), HistogramCalibrator (entropy, 2048 bins)",
    "TensorRT developer guide: INT8 calibration (IInt8EntropyCalibrator2), Q/DQ fusion with float scales",
  ],
  weight: gridSpec({ ...int8NarrowSymmetricPerChannel, ...amax }),
  activation: gridSpec({ ...int8NarrowSymmetricPerTensor, ...amax }),
  requant: { mode: "float32" },
  accumulator: { bits: 32, overflow: "wrap" },
  pairSaturation: false,
  bias: { bits: 32 },
  fusedActivations: ["relu", "relu6"],
  ops: allOpsUnconstrained,
  fallback: "cpu-float",
  partitioning: "any",
  calibration: { method: "entropy", bins: 2048, quantizedBins: 128 },
  activationScaling: "static",
  floatOutput: true,
  cost: embeddedGpuCost,
});
