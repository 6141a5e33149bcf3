// The public surface of @quant-trim/quant (docs/packages.md). Helpers that sibling packages or tests need
// but users should not rely on are in "@quant-trim/quant/internal".

// Fake quantization as autograd ops (straight-through, progressive blend, learned scales).
export { type FakeQuantOptions, fakeQuant } from "./fake-quant-op.js";
// The integer grid: one model of bits, ranges, rounding and scales, shared by training and deployment.
export {
  type CompatPreset,
  compatPresets,
  type GridConventions,
  onnxCompat,
  pytorchCompat,
  tfliteCompat,
} from "./grid/compat.js";
export { packInt4, unpackInt4 } from "./grid/int4.js";
export { type MinMaxResult, minMax, minMaxByLayout, type NonFiniteHandling } from "./grid/min-max.js";
export {
  int4AsymmetricPerChannel,
  int4AsymmetricPerTensor,
  int4NarrowSymmetricPerChannel,
  int4NarrowSymmetricPerTensor,
  int4SymmetricPerChannel,
  int4SymmetricPerTensor,
  int8AsymmetricPerChannel,
  int8AsymmetricPerTensor,
  int8NarrowSymmetricPerChannel,
  int8NarrowSymmetricPerTensor,
  int8PowerOfTwoSymmetricPerChannel,
  int8PowerOfTwoSymmetricPerTensor,
  int8SymmetricPerChannel,
  int8SymmetricPerTensor,
  int16NarrowSymmetricPerTensor,
  uint4AsymmetricPerTensor,
  uint8AsymmetricPerChannel,
  uint8AsymmetricPerTensor,
} from "./grid/presets.js";
export {
  checkQParams,
  computeQParams,
  learnedQParams,
  makeQParams,
  powerOfTwoAtLeast,
  type QParams,
} from "./grid/qparams.js";
export {
  dequantize,
  dequantizeInto,
  dequantizeValue,
  divideByScale,
  type FakeQuantizeOptions,
  fakeQuantize,
  fakeQuantizeInto,
  fakeQuantizeValue,
  type GridOptions,
  quantize,
  quantizeInto,
  quantizeValue,
} from "./grid/quantize.js";
export {
  roundFloor,
  roundHalfAway,
  roundHalfEven,
  roundHalfUp,
  roundNearest,
  roundStochastic,
  roundWith,
} from "./grid/rounding.js";
export {
  type ChannelLayout,
  channelLayout,
  checkGridSpec,
  FLOAT32_EPS,
  GRID_DEFAULTS,
  type Granularity,
  type GridSpec,
  gridSpec,
  MIN_NORMAL_FLOAT32,
  NEAREST_ROUNDINGS,
  type NearestRounding,
  type QParamsArithmetic,
  qRange,
  ROUNDING_MODES,
  type RoundingMode,
  resolveAxis,
  type ScaleApplication,
  type ScaleConstraint,
  type SymmetricDivisor,
  symmetricZeroPoint,
  type ZeroPointRule,
} from "./grid/spec.js";
export { lsqFakeQuant } from "./lsq.js";

// Observers: ranges seen during training or calibration, turned into qparams.
export { EmaMinMaxObserver, type EmaMinMaxObserverOptions } from "./observers/ema-min-max-observer.js";
export { ChannelHistograms, type HistogramChannelState, type HistogramState } from "./observers/histogram.js";
export { MinMaxObserver } from "./observers/min-max-observer.js";
export { MseObserver, type MseObserverOptions } from "./observers/mse-observer.js";
export {
  type ObservedRange,
  Observer,
  type ObserverOptions,
  type ObserverState,
} from "./observers/observer.js";
export { PercentileObserver, type PercentileObserverOptions } from "./observers/percentile-observer.js";
export { restoreObserver } from "./observers/restore.js";

// QAT preparation of a model and the λ curriculum.
export { type LayerOverride, prepareQat, type QatConfig } from "./prepare-qat.js";
export { FUSION_PATTERNS, type FusionPattern } from "./qat/fusion.js";
export {
  type Int16PairOrder,
  int16PairSaturationCorrection,
  int16PairSaturationError,
  type PairConvOptions,
  type QatAccumulatorConfig,
} from "./qat/pair-saturation.js";
export type { GridChoice, QuantPointInfo } from "./qat/points.js";
export { QatModel } from "./qat/qat-model.js";
export {
  type ConstantScheduleOptions,
  type LambdaPhase,
  LambdaSchedule,
  type LambdaScheduleOptions,
  type LinearScheduleOptions,
  type QuantTrimScheduleOptions,
  type ResolvedScheduleOptions,
} from "./schedule.js";
