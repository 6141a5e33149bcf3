// The public surface of @quant-trim/autograd (docs/packages.md). Checkpoint and safetensors files are in
// "@quant-trim/autograd/node"; helpers that sibling packages need are in "@quant-trim/autograd/internal".

// Checkpoints and the safetensors format as bytes (files: "@quant-trim/autograd/node").
export {
  applyCheckpoint,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointMetadata,
  decodeCheckpoint,
  encodeCheckpoint,
  type LoadedCheckpoint,
  PACKAGE_VERSION,
} from "./checkpoint/checkpoint.js";
export {
  CheckpointError,
  type DecodedSafetensors,
  decodeSafetensors,
  dtypeByteSize,
  encodeSafetensors,
  type IntTensorLike,
  type IntTypedArray,
  isSafetensorsDType,
  type RawTensor,
  rawTensorArray,
  SAFETENSORS_MAX_HEADER_BYTES,
  SAFETENSORS_MAX_RANK,
  type SafetensorsDType,
  type SafetensorsEntry,
} from "./checkpoint/safetensors.js";
// Variables, the op recorder and gradient checking.
export { type GradcheckOptions, type GradcheckReport, gradcheck } from "./gradcheck.js";

// Modules, also as the namespace `nn` (nn.Linear, nn.trace, ...).
export * as nn from "./nn/index.js";
export { kaimingUniform, uniformBias } from "./nn/init.js";
export {
  Add,
  AvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  type Conv2dConfig,
  Dropout,
  Flatten,
  Identity,
  type InitOptions,
  Linear,
  MaxPool2d,
  ReLU,
  ReLU6,
  Sequential,
} from "./nn/layers.js";
export { Module } from "./nn/module.js";
export { type TraceConstant, type TraceGraph, type TraceNode, type TraceOptions, trace } from "./nn/trace.js";
// Differentiable ops, as one namespace: ops.matmul, ops.conv2d, ops.crossEntropy, ...
export * as ops from "./ops/index.js";
// Optimizers and learning-rate schedules.
export { Adam, type AdamHyperparameters, type AdamOptions, AdamW } from "./optim/adam.js";
export {
  applyLr,
  constantLr,
  cosineLr,
  type LrSchedule,
  linearWarmup,
  stepLr,
} from "./optim/lr-schedule.js";
export {
  type HyperparameterValue,
  Optimizer,
  type OptimizerOptions,
  type OptimizerState,
  type ParamLike,
  type ZeroGradOptions,
} from "./optim/optimizer.js";
export { SGD, type SgdHyperparameters, type SgdOptions } from "./optim/sgd.js";
export {
  constant,
  type GradFn,
  isGradEnabled,
  noGrad,
  Parameter,
  record,
  Variable,
  variable,
} from "./variable.js";
