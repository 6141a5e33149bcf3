export * from "./accumulator.js";
export * from "./activation.js";
export * from "./calibration/activation-observer.js";
export * from "./calibration/entropy-observer.js";
export * from "./calibration/entropy-threshold.js";
export {
  type Conv2dIntOptions,
  conv2dInt,
  conv2dIntOutputShape,
  conv2dIntRequantized,
} from "./conv2d-int.js";
export * from "./elementwise-int.js";
export * from "./fixed-point.js";
export { type GemmIntOptions, gemmInt, gemmIntRequantized } from "./gemm-int.js";
export type { ReductionOrder } from "./im2col-int.js";
export { activationRange, type IntActivations } from "./int-activations.js";
export * from "./int-container.js";
export type { IntKernelOptions } from "./int-kernel-options.js";
export {
  type IntWeights,
  type IntWeightsInit,
  type IntWeightType,
  intWeights,
  isPackedWeightType,
  packIntWeights,
  weightCode,
  weightTypeRange,
  weightZeroPoint,
} from "./int-weights.js";
export * from "./overflow.js";
export * from "./pool-int.js";
export * from "./profiles/index.js";
export * from "./quantize-int.js";
export * from "./requantize.js";
