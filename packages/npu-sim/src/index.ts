export * from "./accumulator.js";
export * from "./activation.js";
export * from "./calibration/activation-observer.js";
export * from "./calibration/entropy-observer.js";
export * from "./calibration/entropy-threshold.js";
export { type CompileCalibration, compile } from "./compiler/compile.js";
export { constraintViolations, type OpGeometry } from "./compiler/constraints.js";
export { fakeQuantOutputs, qatActivationQParams, qatConfigForProfile } from "./compiler/qat.js";
export {
  type Conv2dIntOptions,
  conv2dInt,
  conv2dIntOutputShape,
  conv2dIntRequantized,
} from "./conv2d-int.js";
export { type CostEstimate, estimateCost, type StepCost } from "./cost-model/cost-model.js";
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
export {
  type BackendComparison,
  type CompareOptions,
  compareWithFloat,
  floatLogits,
  floatValues,
  type LayerSqnr,
  layerSqnr,
} from "./metrics/compare.js";
export * from "./metrics/logit-metrics.js";
export * from "./overflow.js";
export * from "./pool-int.js";
export * from "./profiles/index.js";
export * from "./program/program.js";
export { type RunOptions, type RunResult, run } from "./program/run.js";
export { describeGrid, summarizeProgram } from "./program/summary.js";
export * from "./quantize-int.js";
export * from "./requantize.js";
