import { Adam, type Module, type Optimizer, ops, Variable } from "@quant-trim/autograd";
import { Rng } from "@quant-trim/tensor";
import { batches, checkDataset, type Dataset } from "../data/dataset.js";
import { classesOf, countCorrect, evaluate } from "./evaluate.js";

/** Per-step hooks a recipe adds to plain training (a `QuantTrimRun` is one). */
export interface StepHooks {
  /** Before the forward pass of global step `step` (0-based): QAT sets λ here. */
  beforeStep?(step: number, totalSteps: number): void;
  /** After the optimizer step: pruners project weights here. */
  afterStep?(step: number, totalSteps: number): void;
  /** The run length the hooks were built for; the trainer refuses to run a different number of steps. */
  readonly totalSteps?: number;
}

export interface StepInfo {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  batchSize: number;
}

export interface EpochInfo {
  epoch: number;
  meanLoss: number;
  trainAccuracy: number;
  /** Accuracy on `validation` after this epoch (null without a validation set). */
  validationAccuracy: number | null;
  seconds: number;
  samplesPerSecond: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Adam's learning rate when no `optimizer` is given (default 1e-3). */
  lr?: number;
  /** Seeds the shuffling (default 0). */
  seed?: number;
  /** Build the optimizer (default Adam with `lr`). */
  optimizer?: (model: Module) => Optimizer;
  /** Recipe hooks, run in order around every step. */
  hooks?: StepHooks | readonly StepHooks[];
  /** After every step (and its hooks), e.g. for progress. */
  onStep?: (info: StepInfo) => void;
  onEpoch?: (info: EpochInfo) => void;
  /** Evaluated after every epoch (see `splitValidation` to hold part of the training data out). */
  validation?: Dataset;
}

export interface TrainResult {
  epochs: EpochInfo[];
  /** Loss of each optimizer step, in order. */
  losses: number[];
  totalSeconds: number;
  samplesPerSecond: number;
}

const OPTION_KEYS = new Set([
  "epochs",
  "batchSize",
  "lr",
  "seed",
  "optimizer",
  "hooks",
  "onStep",
  "onEpoch",
  "validation",
]);

/** The loss became NaN or ±Infinity: the run cannot produce a usable model. */
export class TrainingDivergedError extends Error {
  constructor(
    readonly loss: number,
    /** 0-based, as in EpochInfo; the message counts from 1. */
    readonly epoch: number,
    readonly epochs: number,
    /** Global optimizer step, 0-based. */
    readonly step: number,
    readonly totalSteps: number,
    /** The learning rate given (null with a custom optimizer). */
    readonly lr: number | null,
  ) {
    super(
      `training diverged: the loss is ${loss} at epoch ${epoch + 1} of ${epochs}, step ${step + 1} of ${totalSteps}${lr === null ? "" : `; try a lower learning rate than ${lr}`}`,
    );
    this.name = "TrainingDivergedError";
  }
}

/** Optimizer steps of a run: ⌈count / batchSize⌉ per epoch (the last batch may be short). */
export function trainingSteps(count: number, batchSize: number, epochs: number): number {
  for (const [name, v, min] of [
    ["count", count, 0],
    ["batchSize", batchSize, 1],
    ["epochs", epochs, 1],
  ] as const)
    if (!Number.isInteger(v) || v < min)
      throw new Error(`trainingSteps: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return Math.ceil(count / batchSize) * epochs;
}

/**
 * Supervised training with cross-entropy on any dataset of inputs and labels; the class count comes
 * from the model's logits. Recipes hook in through `hooks` (`beforeStep` before each forward pass,
 * `afterStep` after each optimizer step). Stops with `TrainingDivergedError` at the first non-finite
 * loss, before that step's update.
 */
export function trainClassifier(model: Module, train: Dataset, opts: TrainOptions): TrainResult {
  const fn = "trainClassifier";
  if (typeof opts !== "object" || opts === null) throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(opts))
    if (!OPTION_KEYS.has(key))
      throw new Error(`${fn}: unknown option '${key}' (expected ${[...OPTION_KEYS].join(", ")})`);
  checkDataset(fn, train, "training set");
  if (train.count === 0) throw new Error(`${fn}: the training set is empty`);
  if (opts.validation !== undefined) {
    checkDataset(fn, opts.validation, "validation set");
    if (opts.validation.count === 0) throw new Error(`${fn}: the validation set is empty`);
  }
  const lr = opts.lr ?? 1e-3;
  if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`${fn}: lr must be a finite number > 0, got ${lr}`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new Error(`${fn}: seed must be an integer in [0, 4294967295], got ${seed}`);
  const totalSteps = trainingSteps(train.count, opts.batchSize, opts.epochs);
  const hooks: readonly StepHooks[] =
    opts.hooks === undefined ? [] : Array.isArray(opts.hooks) ? opts.hooks : [opts.hooks as StepHooks];
  for (const [i, h] of hooks.entries()) {
    // A recipe built for another run length would never reach λ = 1, or would reach it too early.
    if (h.totalSteps !== undefined && h.totalSteps !== totalSteps)
      throw new Error(
        `${fn}: hooks[${i}] were built for ${h.totalSteps} steps, but ${train.count} samples in batches of ${opts.batchSize} for ${opts.epochs} epochs make ${totalSteps}`,
      );
  }

  const rng = new Rng(seed);
  const optimizer = opts.optimizer ? opts.optimizer(model) : new Adam(model.parameters(), { lr });
  const epochs: EpochInfo[] = [];
  const losses: number[] = [];
  let step = 0;
  const t0 = performance.now();
  model.train();
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const e0 = performance.now();
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    for (const batch of batches(train, opts.batchSize, rng)) {
      for (const h of hooks) h.beforeStep?.(step, totalSteps);
      optimizer.zeroGrad();
      const logits = model.call(new Variable(batch.x));
      const loss = ops.crossEntropy(logits, batch.y);
      const l = loss.item();
      // A NaN or infinite loss never recovers: every later step would write NaN into the weights and the
      // run would end "successfully" with a useless checkpoint. Stop before this step's update instead.
      if (!Number.isFinite(l))
        throw new TrainingDivergedError(
          l,
          epoch,
          opts.epochs,
          step,
          totalSteps,
          opts.optimizer ? (opts.lr ?? null) : lr,
        );
      loss.backward();
      optimizer.step();
      for (const h of hooks) h.afterStep?.(step, totalSteps);
      losses.push(l);
      lossSum += l * batch.size;
      correct += countCorrect(logits.data.values(), batch.y, classesOf(fn, logits.shape));
      seen += batch.size;
      opts.onStep?.({ step, totalSteps, epoch, loss: l, batchSize: batch.size });
      step++;
    }
    const seconds = (performance.now() - e0) / 1000;
    const info: EpochInfo = {
      epoch,
      meanLoss: lossSum / seen,
      trainAccuracy: correct / seen,
      validationAccuracy: opts.validation ? evaluate(model, opts.validation) : null,
      seconds,
      samplesPerSecond: seen / seconds,
    };
    epochs.push(info);
    opts.onEpoch?.(info);
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  return { epochs, losses, totalSeconds, samplesPerSecond: (train.count * opts.epochs) / totalSeconds };
}
