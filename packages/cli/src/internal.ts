// Pieces of the CLI its tests exercise directly. Not a stable interface.
export { int, num, parse, recipeSummaries, UsageError } from "./args.js";
export { type ExperimentCommandDeps, experimentCommand } from "./commands/experiment.js";
export * from "./experiment/index.js";
export { checkInputFile, checkOutDir, checkOutFile, missingDirs } from "./out-path.js";
export { writeAtomic } from "./output.js";
export { formatProfilesEvaluation, type ProfilesEvaluation } from "./profile-eval.js";
export * from "./progress/index.js";
export * from "./report/index.js";
export {
  cleanUpAfterChild,
  type GuardEvent,
  guardRun,
  guardsTaken,
  leftoverPid,
  type RunGuard,
  removeLeftovers,
  reportGuardEvents,
} from "./run-guard.js";
export type { RunOptions, TrainRun } from "./run-recipe.js";
export { untrimmableWarning } from "./trim-warning.js";
