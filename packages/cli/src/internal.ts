// Pieces of the CLI its tests exercise directly. Not a stable interface.
export { int, num, parse, UsageError } from "./args.js";
export { experimentCommand } from "./commands/experiment.js";
export { checkOutDir, checkOutFile } from "./out-path.js";
export { writeAtomic } from "./output.js";
export { formatProfilesEvaluation, type ProfilesEvaluation } from "./profile-eval.js";
export * from "./progress/index.js";
export * from "./report/index.js";
export type { RunOptions, TrainRun } from "./run-recipe.js";
export { untrimmableWarning } from "./trim-warning.js";
