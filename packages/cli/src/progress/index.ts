// Keras/tqdm-style progress of the main job: pure line formatting and a small stateful renderer.
export {
  type EpochFigures,
  epochLine,
  evalBarLine,
  evalDoneLine,
  evalHeader,
  evalItemLine,
  formatBar,
  formatCount,
  formatDuration,
  formatPercent,
  formatRate,
  type RunIdentity,
  runHeader,
  runLabel,
  type TrainingFigures,
  trainingBarLine,
} from "./format.js";
export {
  type EpochEndFigures,
  ProgressRenderer,
  type ProgressRendererOptions,
  type ProgressStream,
  type StepFigures,
} from "./progress-renderer.js";
export { colorEnabled, type Piece, renderPieces, type Style, visibleLength } from "./styled-text.js";
