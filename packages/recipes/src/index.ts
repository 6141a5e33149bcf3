// The public surface of @quant-trim/recipes: what a researcher imports. Node-only helpers (the MNIST
// files) are in "@quant-trim/recipes/node".
export {
  type Batch,
  type BatchOptions,
  batches,
  type Dataset,
  dataset,
  gather,
  head,
  type LabelArray,
  sample,
  splitValidation,
  standardize,
} from "./data/dataset.js";
export {
  type IdxArray,
  type IdxDataset,
  type IdxDatasetOptions,
  type IdxDataType,
  idxDataset,
  parseIdx,
} from "./data/idx.js";
export {
  type IdxSources,
  type IdxSplit,
  type IdxSplitKind,
  type IdxSplitOptions,
  idxSplit,
} from "./data/idx-split.js";
export { type InputStatistics, inputStatistics } from "./data/input-statistics.js";
export {
  type PtqGrids,
  type PtqOptions,
  ptqAccuracy,
  ptqGrids,
} from "./ptq.js";
export {
  isRecipe,
  type LambdaCurve,
  type QuantTrimOptions,
  type QuantTrimRun,
  quantTrim,
  type RecipeName,
  recipeNames,
  trainingGrids,
} from "./recipe.js";
export { binomialStandardError } from "./stats/binomial.js";
export { type ProfileAccuracies, profileSpread, worstGap } from "./stats/profile-gaps.js";
export { mean, type SeedSummary, sampleStd, summarizeSeeds } from "./stats/seed-summary.js";
export { predictedClasses, top1Agreement } from "./stats/top1-agreement.js";
export { evaluate } from "./train/evaluate.js";
export {
  type EpochInfo,
  type StepHooks,
  type StepInfo,
  TrainingDivergedError,
  type TrainOptions,
  type TrainResult,
  trainClassifier,
  trainingSteps,
} from "./train/trainer.js";
export {
  parseWeightGridSet,
  type WeightGridName,
  type WeightGridSetChoice,
  weightGridNames,
  weightGridSet,
} from "./weight-grid-set.js";
export { buildModel, isZooModel, type ZooBuilder, type ZooOptions, zoo, zooNames } from "./zoo/index.js";
