import { Adam, type Module, noGrad, type Optimizer, ops, Variable } from "@quant-trim/autograd";
import { Rng } from "@quant-trim/tensor";
import { batches, type Dataset } from "./data/mnist.js";

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Build the optimizer (default Adam with `lr`). */
  optimizer?: (model: Module) => Optimizer;
  /** Called before each forward pass with the global step (0-based) and total steps: QAT drives λ here. */
  beforeStep?: (step: number, totalSteps: number) => void;
  /** Called after each optimizer step: pruners project weights here. */
  afterStep?: (step: number, totalSteps: number) => void;
  onEpoch?: (info: EpochInfo) => void;
}

export interface EpochInfo {
  epoch: number;
  meanLoss: number;
  trainAccuracy: number;
  seconds: number;
  samplesPerSecond: number;
}

export interface TrainResult {
  epochs: EpochInfo[];
  /** Loss of each optimizer step, in order. */
  losses: number[];
  totalSeconds: number;
  samplesPerSecond: number;
}

/** The loss became NaN or ±Infinity: the run cannot produce a usable model. */
export class TrainingDivergedError extends Error {
  constructor(
    readonly loss: number,
    /** 0-based, as in EpochInfo; the message counts from 1. */
    readonly epoch: number,
    epochs: number,
    /** Global optimizer step, 0-based. */
    readonly step: number,
    totalSteps: number,
    lr: number,
  ) {
    super(
      `training diverged: the loss is ${loss} at epoch ${epoch + 1} of ${epochs}, step ${step + 1} of ${totalSteps}; try a lower learning rate than --lr ${lr}`,
    );
    this.name = "TrainingDivergedError";
  }
}

/** Plain supervised training with cross-entropy; the recipe hooks in through beforeStep/afterStep. */
export function trainClassifier(model: Module, train: Dataset, opts: TrainOptions): TrainResult {
  const rng = new Rng(opts.seed);
  const optimizer = opts.optimizer ? opts.optimizer(model) : new Adam(model.parameters(), { lr: opts.lr });
  const stepsPerEpoch = Math.ceil(train.count / opts.batchSize);
  const totalSteps = stepsPerEpoch * opts.epochs;
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
      opts.beforeStep?.(step, totalSteps);
      optimizer.zeroGrad();
      const logits = model.call(new Variable(batch.x));
      const loss = ops.crossEntropy(logits, batch.y);
      const l = loss.item();
      // A NaN or infinite loss never recovers: every later step would write NaN into the weights and the
      // run would end "successfully" with a useless checkpoint. Stop before this step's update instead.
      if (!Number.isFinite(l))
        throw new TrainingDivergedError(l, epoch, opts.epochs, step, totalSteps, opts.lr);
      loss.backward();
      optimizer.step();
      opts.afterStep?.(step, totalSteps);
      losses.push(l);
      lossSum += l * batch.size;
      correct += countCorrect(logits.data.values(), batch.y, 10);
      seen += batch.size;
      step++;
    }
    const seconds = (performance.now() - e0) / 1000;
    const info = {
      epoch,
      meanLoss: lossSum / seen,
      trainAccuracy: correct / seen,
      seconds,
      samplesPerSecond: seen / seconds,
    };
    epochs.push(info);
    opts.onEpoch?.(info);
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  return { epochs, losses, totalSeconds, samplesPerSecond: (train.count * opts.epochs) / totalSeconds };
}

export function countCorrect(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (logits[i * classes + j]! > logits[i * classes + best]!) best = j;
    if (best === labels[i]) correct++;
  }
  return correct;
}

/** Top-1 accuracy in eval mode, without recording a graph. */
export function evaluate(model: Module, ds: Dataset, batchSize = 500): number {
  const wasTraining = model.training;
  model.eval();
  let correct = 0;
  noGrad(() => {
    for (const batch of batches(ds, batchSize)) {
      const logits = model.call(new Variable(batch.x));
      correct += countCorrect(logits.data.values(), batch.y, 10);
    }
  });
  model.train(wasTraining);
  return correct / ds.count;
}
