import { defineProfile } from "./define.js";
import { edgeTpuCost } from "./device-costs.js";
import type { BackendProfile } from "./schema.js";
import { tfliteInt8 } from "./tflite.js";

/**
 * Google Coral Edge TPU (edgetpu_compiler): full-integer TFLite int8 models with TFLite's arithmetic,
 * but the compiler partitions once — the first op it cannot map and everything after it run on the
 * CPU ("More than one subgraph is not supported").
 * Sources: coral.ai/docs/edgetpu/compiler and models-intro (supported ops, single partition);
 * google-coral/edgetpu#225, #342, #659.
 */
export const edgeTpu: BackendProfile = defineProfile({
  ...tfliteInt8,
  name: "edgetpu",
  summary:
    "Coral Edge TPU: TFLite int8 arithmetic, single-cut partitioning (first unsupported op onwards on CPU)",
  sources: [
    "coral.ai/docs/edgetpu/compiler (a single Edge TPU subgraph: the first unsupported op and all after it run on the CPU)",
    "coral.ai/docs/edgetpu/models-intro (supported operations; TFLite int8 quantization required)",
    "google-coral/edgetpu#225, #342, #659 (partitioning and unsupported data types)",
  ],
  partitioning: "single-cut",
  cost: edgeTpuCost,
});
