import { decodeCheckpoint, type Module } from "@quant-trim/autograd";
import { floatLogits, getProfile } from "@quant-trim/npu-sim";
import { buildModel, type Dataset, predictedClasses } from "@quant-trim/recipes";
import { fromData } from "@quant-trim/tensor";
import type { ProfileCost, ProfileEvaluation } from "../report/results-schema.js";
import { type EvaluationInputs, evaluateOnProfile } from "./profile-evaluation.js";

/** What the integer evaluation needs to rebuild a checkpoint's model. */
export interface ModelSpec {
  readonly arch: string;
  readonly sampleShape: readonly number[];
  readonly classes: number;
}

/** One checkpoint on every profile asked for. */
export interface CheckpointEvaluation {
  readonly fpAccuracy: number;
  readonly profiles: Record<string, ProfileEvaluation>;
  readonly costs: Record<string, ProfileCost>;
}

/** Called as each profile is done (for progress), with its name and result. */
export type OnProfile = (name: string, evaluation: ProfileEvaluation) => void;

/**
 * Evaluates checkpoints (safetensors bytes) on profiles; the experiment awaits it, so an implementation
 * may run elsewhere (worker threads). Every implementation gives the same numbers: compile and run are
 * deterministic.
 */
export interface CheckpointEvaluator {
  evaluate(
    checkpoint: Uint8Array,
    profiles: readonly string[],
    onProfile: OnProfile,
  ): Promise<CheckpointEvaluation>;
  /** Releases what the evaluator holds (threads); idempotent. */
  close(): Promise<void>;
}

/**
 * The model a checkpoint's bytes hold, as a fresh zoo model: what a user deploying the file would compile,
 * with none of the training run's hooks.
 */
export function modelFromCheckpoint(bytes: Uint8Array, spec: ModelSpec): Module {
  const { tensors } = decodeCheckpoint(bytes);
  const model = buildModel(spec.arch, { inputShape: spec.sampleShape, classes: spec.classes, seed: 0 });
  model.loadStateDict(tensors);
  model.eval();
  return model;
}

/** The calibration and test tensors of the datasets, and the float model's test logits slot. */
export function evaluationTensors(calibration: Dataset, test: Dataset): Omit<EvaluationInputs, "fpLogits"> {
  return {
    calibration: fromData(calibration.inputs, [calibration.count, ...calibration.sampleShape]),
    test: fromData(test.inputs, [test.count, ...test.sampleShape]),
    labels: test.labels,
  };
}

/** FP32 accuracy from the float model's logits. */
export function logitAccuracy(logits: Float32Array, labels: ArrayLike<number>, classes: number): number {
  const predicted = predictedClasses(logits, classes);
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / predicted.length;
}

/** `model` (FP32) on each named profile, in order, on this thread. */
export function evaluateModel(
  model: Module,
  profiles: readonly string[],
  tensors: Omit<EvaluationInputs, "fpLogits">,
  onProfile: OnProfile,
): CheckpointEvaluation {
  const fpLogits = floatLogits(model, tensors.test);
  const fpAccuracy = logitAccuracy(fpLogits.toFloat32Array(), tensors.labels, fpLogits.shape[1]!);
  const out: CheckpointEvaluation = { fpAccuracy, profiles: {}, costs: {} };
  for (const name of profiles) {
    const { evaluation, cost } = evaluateOnProfile(model, getProfile(name), { ...tensors, fpLogits });
    out.profiles[name] = evaluation;
    out.costs[name] = cost;
    onProfile(name, evaluation);
  }
  return out;
}

/** An evaluator that works on the calling thread (tests, and machines with one core). */
export function inlineEvaluator(spec: ModelSpec, calibration: Dataset, test: Dataset): CheckpointEvaluator {
  const tensors = evaluationTensors(calibration, test);
  return {
    async evaluate(checkpoint, profiles, onProfile) {
      return evaluateModel(modelFromCheckpoint(checkpoint, spec), profiles, tensors, onProfile);
    },
    async close() {},
  };
}
