import {
  gridSpec,
  int8PowerOfTwoSymmetricPerChannel,
  int8PowerOfTwoSymmetricPerTensor,
} from "@quant-trim/quant";
import { defineProfile } from "./define.js";
import { dspAcceleratorCost } from "./device-costs.js";
import type { BackendProfile } from "./schema.js";
import { allOpsUnconstrained } from "./tflite.js";

/** Power-of-two grids rounding ties toward +∞ (the DPU rule), with the largest value representable. */
const fixedPoint = { rounding: "half-up", symmetricDivisor: "positive-range" } as const;

/**
 * Fixed-point accelerators in the TI TIDL / Xilinx Vitis AI DPU style: symmetric int8 per-tensor grids
 * with power-of-two scales for weights and activations alike (per-channel power-of-two weights for
 * depthwise convolutions, TIDL's option), so requantization is an arithmetic shift that rounds ties
 * toward +∞.
 * Sources: TexasInstruments/edgeai-torchvision docs/pixel2pixel/Quantization.md (power-of-2, symmetric,
 * per-tensor; per-channel for depthwise); MQBench docs/source/user_guide/hardware/vitis.rst and
 * prepare_by_platform.py (Vitis: 8-bit per-tensor symmetric power-of-two, DPU rounding); Brevitas
 * fixed_point.py (power-of-two restrict_scaling).
 */
export const pow2Int8: BackendProfile = defineProfile({
  name: "pow2-int8",
  summary: "TIDL / Vitis AI style: symmetric int8 with power-of-two scales, shift requantization",
  sources: [
    "TexasInstruments/edgeai-torchvision docs/pixel2pixel/Quantization.md (TIDL: power-of-2 symmetric per-tensor, per-channel for depthwise)",
    "ModelTC/MQBench docs/source/user_guide/hardware/vitis.rst, mqbench/prepare_by_platform.py (Vitis DPU: power-of-two scales, ties toward +inf)",
    "Xilinx/brevitas src/brevitas/quant/fixed_point.py (power-of-two scaling)",
  ],
  weight: gridSpec({ ...int8PowerOfTwoSymmetricPerTensor, ...fixedPoint }),
  activation: gridSpec({ ...int8PowerOfTwoSymmetricPerTensor, ...fixedPoint }),
  requant: { mode: "power-of-two", shiftRounding: "half-up" },
  accumulator: { bits: 32, overflow: "saturate" },
  pairSaturation: false,
  bias: { bits: 32 },
  fusedActivations: ["relu", "relu6"],
  ops: {
    ...allOpsUnconstrained,
    "depthwise-conv2d": { weight: gridSpec({ ...int8PowerOfTwoSymmetricPerChannel, ...fixedPoint }) },
  },
  fallback: "cpu-float",
  partitioning: "any",
  calibration: { method: "min-max" },
  activationScaling: "static",
  floatOutput: false,
  cost: dspAcceleratorCost,
});
