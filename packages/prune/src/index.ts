// The public surface of @quant-trim/prune (docs/packages.md). Kernels and helpers that its tests use but
// users should not rely on are in "@quant-trim/prune/internal".
export type { NamedParam, ParamEntry, PrunableParam } from "./layers.js";
export {
  MagnitudePruner,
  type MagnitudePrunerOptions,
  type MagnitudePrunerState,
  packMask,
  type SparsitySchedule,
  unpackMask,
} from "./magnitude-pruner.js";
export { alignThresholdPow2 } from "./pow2-align.js";
export { type GroupLayout, groupLayout, type TrimMode } from "./project.js";
export {
  type LayerTrimOptions,
  ReversePruner,
  type ReversePrunerOptions,
  type ReversePrunerState,
  type TrimLayerReport,
  type UntrimmableLayer,
} from "./reverse-pruner.js";
export {
  DEFAULT_P_FINAL_INT4,
  DEFAULT_P_FINAL_INT8,
  defaultPFinal,
  type LambdaLike,
  pAt,
  type TrimSchedule,
  trimProgress,
} from "./schedule.js";
export {
  type GridStats,
  type MomentStats,
  type WeightHistogram,
  type WeightStats,
  type WeightStatsOptions,
  weightStats,
} from "./stats.js";
export {
  absQuantile,
  kSigmaThreshold,
  MAD_TO_SIGMA,
  maxAbs,
  type QuantileMethod,
  type QuantileOptions,
  robustKSigmaThreshold,
} from "./thresholds.js";
export { type ThresholdRule, type TrimOptions, type TrimResult, trimWeights } from "./trim.js";
