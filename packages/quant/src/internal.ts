// Helpers of @quant-trim/quant that its tests and sibling packages use. Not a stable interface: they may
// change without notice. Users import from "@quant-trim/quant".
export { blendInto, checkLambda, float32Values } from "./fake-quant-op.js";
export { unclampedCode } from "./grid/quantize.js";
export { checkHistogramMatchesBounds } from "./observers/histogram.js";
export { boundsFromState } from "./observers/observer.js";
