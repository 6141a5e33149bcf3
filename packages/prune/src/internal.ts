// Kernels and helpers of @quant-trim/prune that its tests use. Not a stable interface: they may change
// without notice. Users import from "@quant-trim/prune".
export { globToRegExp, isDefaultPrunable, matchesName, selectWeights } from "./layers.js";
export { assertContiguous, clampGroup, storableThreshold, zeroTailGroup } from "./project.js";
export { checkKeys, normalizeSchedule } from "./schedule.js";
export { parseState } from "./state.js";
export {
  absQuantileExact,
  absQuantileHistogram,
  absQuantileTop,
  checkK,
  checkP,
  DEFAULT_EXACT_LIMIT,
  DEFAULT_HISTOGRAM_BINS,
  quantileRank,
  selectKth,
  ThresholdWorkspace,
  TOP_BUFFER_LIMIT,
} from "./thresholds.js";
export { checkRule, groupThreshold, projectGroup } from "./trim.js";
