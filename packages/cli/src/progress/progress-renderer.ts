import {
  epochLine,
  evalBarLine,
  evalDoneLine,
  evalHeader,
  evalItemLine,
  type RunIdentity,
  runHeader,
  trainingBarLine,
} from "./format.js";
import { colorEnabled, type Piece, renderPieces, visibleLength } from "./styled-text.js";

/** Where progress goes (the CLI passes stderr, keeping stdout for results). */
export interface ProgressStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  /** Terminal width; live lines are cut to it so that they never wrap. */
  readonly columns?: number;
}

export interface ProgressRendererOptions {
  readonly stream: ProgressStream;
  /** Read for NO_COLOR and TERM (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Milliseconds on a monotonic clock (default performance.now). */
  readonly now?: () => number;
  /** Least time between two redraws of a live bar (default 100 ms); the last step always draws. */
  readonly redrawIntervalMs?: number;
}

export interface StepFigures {
  readonly loss: number;
  /** Samples in this step's batch. */
  readonly samples: number;
  readonly lambda?: number | null;
}

export interface EpochEndFigures {
  readonly trainAccuracy: number;
  readonly lambda: number | null;
  readonly trimQuantile: number | null;
  /** Mean training loss of the epoch (default: the mean of the losses given to `step`). */
  readonly loss?: number;
}

interface EpochState {
  epoch: number;
  epochs: number;
  steps: number;
  step: number;
  lossSum: number;
  samples: number;
  startMs: number;
  lambda: number | null;
}

interface RunState {
  index: number;
  total: number;
  startMs: number;
  /** Steps and time spent in steps, over this run's epochs: the ETA's rate. */
  stepsDone: number;
  stepMs: number;
  epochMs: number[];
}

interface EvalState {
  total: number;
  unit: string;
  done: number;
  startMs: number;
  lastMs: number;
}

const OPTION_KEYS = new Set(["stream", "env", "now", "redrawIntervalMs"]);

/**
 * Keras/tqdm-style progress for the main job. On a terminal, a live bar redrawn in place with carriage
 * returns (cut to the terminal width, padded with spaces over the previous frame, so no cursor control
 * codes are needed) and colours unless NO_COLOR is set. Anywhere else (a log file, a pipe, CI), only the
 * finished lines — one per run, epoch and evaluated item — with no control characters at all.
 *
 * Call order: startRun, then per epoch startEpoch, step…, endEpoch; then startEval, evalItem…, endEval;
 * endRun (or the next startRun). `message` prints a line without breaking the bar.
 */
export class ProgressRenderer {
  /** Whether a live bar is drawn (the stream is a terminal). */
  readonly live: boolean;
  readonly color: boolean;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly interval: number;
  private liveWidth = 0;
  /** The live bar on screen, redrawn after a message. */
  private liveLine: readonly Piece[] | null = null;
  private lastDrawMs = Number.NEGATIVE_INFINITY;
  private run: RunState | null = null;
  private epoch: EpochState | null = null;
  private evaluation: EvalState | null = null;
  private readonly runMs: number[] = [];

  constructor(options: ProgressRendererOptions) {
    const fn = "ProgressRenderer";
    if (typeof options !== "object" || options === null) throw new Error(`${fn}: options must be an object`);
    for (const key of Object.keys(options))
      if (!OPTION_KEYS.has(key))
        throw new Error(`${fn}: unknown option '${key}' (expected ${[...OPTION_KEYS].join(", ")})`);
    if (typeof options.stream?.write !== "function")
      throw new Error(`${fn}: stream must have a write(text) method`);
    const interval = options.redrawIntervalMs ?? 100;
    if (!(interval >= 0 && Number.isFinite(interval)))
      throw new Error(`${fn}: redrawIntervalMs must be a finite number ≥ 0, got ${String(interval)}`);
    this.stream = options.stream;
    this.live = options.stream.isTTY === true;
    this.color = colorEnabled(this.live, options.env ?? process.env);
    this.now = options.now ?? (() => performance.now());
    this.interval = interval;
  }

  /** Starts run `index` of `total` (1-based), ending the previous one if it is still open. */
  startRun(index: number, total: number, run: RunIdentity): void {
    if (!Number.isInteger(total) || total < 1)
      throw new Error(`ProgressRenderer.startRun: total must be an integer ≥ 1, got ${String(total)}`);
    if (!Number.isInteger(index) || index < 1 || index > total)
      throw new Error(
        `ProgressRenderer.startRun: index must be an integer in [1, ${total}], got ${String(index)}`,
      );
    this.endRun();
    const now = this.now();
    // Later runs cost about what earlier ones did (same model and data; recipes differ by a few %).
    const left =
      this.runMs.length === 0
        ? null
        : ((this.runMs.reduce((a, b) => a + b, 0) / this.runMs.length) * (total - index + 1)) / 1000;
    this.line(runHeader(index, total, run, left));
    this.run = { index, total, startMs: now, stepsDone: 0, stepMs: 0, epochMs: [] };
  }

  /** Ends the current run (its duration feeds the time-left estimate of the next run headers). */
  endRun(): void {
    if (!this.run) return;
    this.finishEval();
    this.runMs.push(this.now() - this.run.startMs);
    this.run = null;
    this.epoch = null;
  }

  /** Starts epoch `epoch` (0-based, as the trainer counts) of `epochs`, `steps` optimizer steps long. */
  startEpoch(epoch: number, epochs: number, steps: number): void {
    this.requireRun("startEpoch");
    for (const [name, v, min] of [
      ["epochs", epochs, 1],
      ["steps", steps, 1],
    ] as const)
      if (!Number.isInteger(v) || v < min)
        throw new Error(`ProgressRenderer.startEpoch: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
    if (!Number.isInteger(epoch) || epoch < 0 || epoch >= epochs)
      throw new Error(
        `ProgressRenderer.startEpoch: epoch must be an integer in [0, ${epochs - 1}], got ${String(epoch)}`,
      );
    this.epoch = { epoch, epochs, steps, step: 0, lossSum: 0, samples: 0, startMs: this.now(), lambda: null };
    this.lastDrawMs = Number.NEGATIVE_INFINITY;
  }

  /** One optimizer step done. Redraws the live bar at most every `redrawIntervalMs`, and at the last step. */
  step(figures: StepFigures): void {
    const e = this.requireEpoch("step");
    if (!Number.isInteger(figures.samples) || figures.samples < 1)
      throw new Error(
        `ProgressRenderer.step: samples must be an integer ≥ 1, got ${String(figures.samples)}`,
      );
    const now = this.now();
    e.step++;
    e.lossSum += figures.loss;
    e.samples += figures.samples;
    if (figures.lambda !== undefined) e.lambda = figures.lambda;
    if (!this.live || (now - this.lastDrawMs < this.interval && e.step < e.steps)) return;
    this.lastDrawMs = now;
    const seconds = (now - e.startMs) / 1000;
    this.draw(
      trainingBarLine({
        epoch: e.epoch,
        epochs: e.epochs,
        step: Math.min(e.step, e.steps),
        steps: e.steps,
        loss: e.lossSum / e.step,
        lambda: e.lambda,
        samplesPerSecond: seconds > 0 ? e.samples / seconds : null,
        etaSeconds: this.trainingEta(now),
      }),
    );
  }

  /** Ends the epoch: its line replaces the live bar (or is printed, off a terminal). */
  endEpoch(figures: EpochEndFigures): void {
    const e = this.requireEpoch("endEpoch");
    const run = this.run!;
    const now = this.now();
    const loss = figures.loss ?? (e.step > 0 ? e.lossSum / e.step : null);
    if (loss === null)
      throw new Error("ProgressRenderer.endEpoch: no step was reported, so loss must be given");
    const epochMs = now - e.startMs;
    run.epochMs.push(epochMs);
    run.stepsDone += e.step;
    run.stepMs += epochMs;
    const meanEpochMs = run.epochMs.reduce((a, b) => a + b, 0) / run.epochMs.length;
    this.line(
      epochLine({
        epoch: e.epoch,
        epochs: e.epochs,
        loss,
        trainAccuracy: figures.trainAccuracy,
        lambda: figures.lambda,
        trimQuantile: figures.trimQuantile,
        samplesPerSecond: epochMs > 0 && e.samples > 0 ? e.samples / (epochMs / 1000) : null,
        elapsedSeconds: (now - run.startMs) / 1000,
        etaSeconds: (meanEpochMs * (e.epochs - e.epoch - 1)) / 1000,
      }),
    );
    this.epoch = null;
  }

  /** Starts an evaluation phase of `total` items (profiles, say) for `label` (e.g. the run label). */
  startEval(label: string, total: number, unit = "profiles"): void {
    if (!Number.isInteger(total) || total < 1)
      throw new Error(`ProgressRenderer.startEval: total must be an integer ≥ 1, got ${String(total)}`);
    this.finishEval();
    const now = this.now();
    this.line(evalHeader(label, total, unit));
    this.evaluation = { total, unit, done: 0, startMs: now, lastMs: now };
    if (this.live) this.draw(evalBarLine(0, total, Number.POSITIVE_INFINITY));
  }

  /** One item evaluated: its line (with the caller's `detail`, e.g. "97.85%"), then the bar again. */
  evalItem(name: string, detail: string | null = null): void {
    const ev = this.evaluation;
    if (!ev) throw new Error("ProgressRenderer.evalItem: call startEval first");
    if (ev.done >= ev.total)
      throw new Error(`ProgressRenderer.evalItem: all ${ev.total} items of this evaluation are already done`);
    const now = this.now();
    ev.done++;
    this.line(evalItemLine(ev.done, ev.total, name, detail, (now - ev.lastMs) / 1000));
    ev.lastMs = now;
    if (this.live && ev.done < ev.total)
      this.draw(
        evalBarLine(ev.done, ev.total, (((now - ev.startMs) / ev.done) * (ev.total - ev.done)) / 1000),
      );
  }

  /** Ends the evaluation phase with a summary line. */
  endEval(): void {
    if (!this.evaluation) throw new Error("ProgressRenderer.endEval: call startEval first");
    this.finishEval();
  }

  /** A line of text (a warning, say) printed above the live bar, which is then drawn again. */
  message(text: string): void {
    const bar = this.liveLine;
    this.line([{ text: String(text) }]);
    if (bar) this.draw(bar);
  }

  /** Removes a live bar still on screen (before printing results, or on an error). */
  close(): void {
    if (this.liveWidth > 0) this.stream.write(`\r${" ".repeat(this.liveWidth)}\r`);
    this.liveWidth = 0;
    this.liveLine = null;
  }

  private finishEval(): void {
    const ev = this.evaluation;
    if (!ev) return;
    this.evaluation = null;
    this.line(evalDoneLine(ev.done, ev.unit, (this.now() - ev.startMs) / 1000));
  }

  /** Seconds until this run's last step, from the run's own step rate so far (∞ before the first step). */
  private trainingEta(now: number): number {
    const run = this.run!;
    const e = this.epoch!;
    const steps = run.stepsDone + e.step;
    const ms = run.stepMs + (now - e.startMs);
    if (steps === 0 || ms <= 0) return Number.POSITIVE_INFINITY;
    const remaining = e.steps - Math.min(e.step, e.steps) + (e.epochs - e.epoch - 1) * e.steps;
    return ((ms / steps) * remaining) / 1000;
  }

  /** A finished line: over the live bar on a terminal (padded to cover it), plain otherwise. */
  private line(pieces: readonly Piece[]): void {
    const text = renderPieces(pieces, this.color);
    if (this.live && this.liveWidth > 0) {
      const pad = Math.max(0, this.liveWidth - visibleLength(pieces));
      this.stream.write(`\r${text}${" ".repeat(pad)}\n`);
      this.liveWidth = 0;
      this.liveLine = null;
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  /** Redraws the live bar (terminal only). */
  private draw(pieces: readonly Piece[]): void {
    const columns = this.stream.columns;
    const max = typeof columns === "number" && columns > 1 ? columns - 1 : undefined;
    const text = renderPieces(pieces, this.color, max);
    const width = Math.min(visibleLength(pieces), max ?? Number.POSITIVE_INFINITY);
    this.stream.write(`\r${text}${" ".repeat(Math.max(0, this.liveWidth - width))}`);
    this.liveWidth = width;
    this.liveLine = pieces;
  }

  private requireRun(method: string): RunState {
    if (!this.run) throw new Error(`ProgressRenderer.${method}: call startRun first`);
    return this.run;
  }

  private requireEpoch(method: string): EpochState {
    this.requireRun(method);
    if (!this.epoch) throw new Error(`ProgressRenderer.${method}: call startEpoch first`);
    return this.epoch;
  }
}
