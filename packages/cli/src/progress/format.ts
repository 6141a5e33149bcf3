import type { Piece } from "./styled-text.js";

/*
 * The words and numbers of the progress display, as pure functions of their inputs (no clock, no
 * stream), so each line's exact text is testable. The renderer decides when to print them.
 */

/** "0:07", "12:03", "1:02:03"; "?" when unknown (no rate measured yet). */
export function formatDuration(seconds: number): string {
  if (typeof seconds !== "number" || Number.isNaN(seconds) || seconds < 0)
    throw new Error(`formatDuration: seconds must be a number ≥ 0, got ${String(seconds)}`);
  if (!Number.isFinite(seconds)) return "?";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** An integer with thousands separators, independent of the locale: 12345 → "12,345". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`formatCount: n must be finite, got ${n}`);
  const sign = n < 0 ? "-" : "";
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+$)/g, ",");
}

/** "1,234 samples/s"; one decimal below 10; "– samples/s" when nothing was timed. */
export function formatRate(perSecond: number | null, unit = "samples"): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return `– ${unit}/s`;
  if (perSecond < 0) throw new Error(`formatRate: perSecond must be ≥ 0, got ${perSecond}`);
  return `${perSecond < 10 ? perSecond.toFixed(1) : formatCount(perSecond)} ${unit}/s`;
}

/** An accuracy in [0, 1] as "97.85%". */
export function formatPercent(fraction: number, digits = 2): string {
  if (!Number.isFinite(fraction)) throw new Error(`formatPercent: fraction must be finite, got ${fraction}`);
  return `${(100 * fraction).toFixed(digits)}%`;
}

/** A fixed-width bar, "[=========>          ]": `width` cells between the brackets. */
export function formatBar(done: number, total: number, width: number): string {
  if (!Number.isInteger(width) || width < 1)
    throw new Error(`formatBar: width must be an integer ≥ 1, got ${width}`);
  if (!(total > 0)) throw new Error(`formatBar: total must be > 0, got ${total}`);
  if (!(done >= 0)) throw new Error(`formatBar: done must be ≥ 0, got ${done}`);
  const filled = Math.min(width, Math.floor((Math.min(done, total) / total) * width));
  if (filled === width) return `[${"=".repeat(width)}]`;
  return `[${"=".repeat(filled)}>${" ".repeat(width - filled - 1)}]`;
}

/** What a run trains: architecture, recipe and seed. */
export interface RunIdentity {
  readonly arch: string;
  readonly recipe: string;
  readonly seed: number;
}

/** "cnn-bn/quant-trim/seed 1". */
export function runLabel(run: RunIdentity): string {
  return `${run.arch}/${run.recipe}/seed ${run.seed}`;
}

/** "run 3 of 9 · cnn-bn/quant-trim/seed 1", plus " · about 4:20 left" once a run has been timed. */
export function runHeader(
  index: number,
  total: number,
  run: RunIdentity,
  secondsLeft: number | null,
): Piece[] {
  const pieces: Piece[] = [{ text: `run ${index} of ${total} · ${runLabel(run)}`, style: "bold" }];
  if (secondsLeft !== null)
    pieces.push({ text: ` · about ${formatDuration(secondsLeft)} left`, style: "dim" });
  return pieces;
}

/** A value that a recipe may not have (λ for fp, the trim quantile without reverse pruning). */
function optional(value: number | null, digits: number): string {
  return value === null ? "–" : value.toFixed(digits);
}

/** The figures of one finished epoch. */
export interface EpochFigures {
  /** 0-based, printed from 1. */
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
  readonly trainAccuracy: number;
  readonly lambda: number | null;
  readonly trimQuantile: number | null;
  readonly samplesPerSecond: number | null;
  readonly elapsedSeconds: number;
  /** Until this run's training ends. */
  readonly etaSeconds: number;
}

/** "epoch 2/3 · loss 0.1234 · acc 96.12% · λ 0.500 · trim q 0.9900 · 1,234 samples/s · 0:12 elapsed · ETA 0:06". */
export function epochLine(e: EpochFigures): Piece[] {
  return [
    { text: `epoch ${e.epoch + 1}/${e.epochs}`, style: "cyan" },
    { text: ` · loss ${e.loss.toFixed(4)} · acc ${formatPercent(e.trainAccuracy)}` },
    { text: ` · λ ${optional(e.lambda, 3)} · trim q ${optional(e.trimQuantile, 4)}` },
    { text: ` · ${formatRate(e.samplesPerSecond)} · ${formatDuration(e.elapsedSeconds)} elapsed` },
    { text: ` · ETA ${formatDuration(e.etaSeconds)}`, style: "dim" },
  ];
}

/** The state of an epoch in progress, for the live bar. */
export interface TrainingFigures {
  readonly epoch: number;
  readonly epochs: number;
  readonly step: number;
  readonly steps: number;
  /** Mean loss of the epoch's steps so far. */
  readonly loss: number;
  readonly lambda: number | null;
  readonly samplesPerSecond: number | null;
  readonly etaSeconds: number;
}

/** "epoch 2/3 [=====>    ] 45/125 · loss 0.2345 · λ 0.480 · 1,234 samples/s · ETA 0:05". */
export function trainingBarLine(t: TrainingFigures, barWidth = 20): Piece[] {
  return [
    { text: `epoch ${t.epoch + 1}/${t.epochs} ` },
    { text: formatBar(t.step, t.steps, barWidth), style: "green" },
    { text: ` ${t.step}/${t.steps} · loss ${t.loss.toFixed(4)} · λ ${optional(t.lambda, 3)}` },
    { text: ` · ${formatRate(t.samplesPerSecond)}` },
    { text: ` · ETA ${formatDuration(t.etaSeconds)}`, style: "dim" },
  ];
}

/** "eval cnn-bn/quant-trim/seed 1 · 12 profiles". */
export function evalHeader(label: string, total: number, unit: string): Piece[] {
  return [{ text: `eval ${label} · ${formatCount(total)} ${unit}`, style: "bold" }];
}

/** "  3/12 tflite-int8 · 97.85% · 0:01". */
export function evalItemLine(
  index: number,
  total: number,
  name: string,
  detail: string | null,
  seconds: number,
): Piece[] {
  return [
    { text: `  ${index}/${total} ${name}` },
    { text: detail === null ? "" : ` · ${detail}` },
    { text: ` · ${formatDuration(seconds)}`, style: "dim" },
  ];
}

/** "eval [====>     ] 3/12 · ETA 0:09". */
export function evalBarLine(done: number, total: number, etaSeconds: number, barWidth = 20): Piece[] {
  return [
    { text: "eval " },
    { text: formatBar(done, total, barWidth), style: "green" },
    { text: ` ${done}/${total}` },
    { text: ` · ETA ${formatDuration(etaSeconds)}`, style: "dim" },
  ];
}

/** "eval done · 12 profiles in 0:09". */
export function evalDoneLine(total: number, unit: string, seconds: number): Piece[] {
  return [{ text: `eval done · ${formatCount(total)} ${unit} in ${formatDuration(seconds)}` }];
}
