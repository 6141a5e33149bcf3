// The pieces of `quant-trim experiment`, for its tests (through quant-trim/internal); not a stable interface.
export {
  type CheckpointEvaluation,
  type CheckpointEvaluator,
  evaluateModel,
  evaluationTensors,
  inlineEvaluator,
  logitAccuracy,
  type ModelSpec,
  modelFromCheckpoint,
  type OnProfile,
} from "./evaluate-checkpoint.js";
export { CALIBRATION_SAMPLES, type ExperimentData, loadExperimentData } from "./experiment-data.js";
export {
  EXPERIMENT_DEFAULTS,
  type ExperimentSettings,
  experimentHelp,
  parseExperimentArgs,
} from "./experiment-options.js";
export {
  evaluateOnProfile,
  groupFigures,
  layerLabel,
  profileGroup,
  profileInfo,
  programCost,
  SQNR_SAMPLES,
} from "./profile-evaluation.js";
export {
  fraction,
  nameList,
  positiveFraction,
  RECIPE_OPTIONS,
  type RecipeOption,
  type RecipeOptionValue,
  readRecipeOptions,
  recipeOptionSpecs,
} from "./recipe-options.js";
export { formatResultsReport, formatResultsTable } from "./results-table.js";
export { checkpointName, type ExperimentHooks, runExperiment, type Trainer } from "./run-experiment.js";
export { findGitDir, packageVersion, readHeadCommit, softwareInfo } from "./software-info.js";
export { summarizeRuns, testNoise } from "./summarize-runs.js";
export {
  buildRecipe,
  TRIMMED_LAYERS_KEPT,
  type TrainedRun,
  type TrainRunOptions,
  trainRun,
} from "./train-run.js";
export {
  HISTOGRAM_BINS,
  type PrunedLayerState,
  sharedHistograms,
  trimmedLayerRecord,
} from "./weight-histograms.js";
export { workerEvaluator } from "./worker-evaluator.js";
