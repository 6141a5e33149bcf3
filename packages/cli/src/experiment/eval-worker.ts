import { parentPort, workerData } from "node:worker_threads";
import type { Module } from "@quant-trim/autograd";
import { floatLogits, getProfile } from "@quant-trim/npu-sim";
import type { Dataset } from "@quant-trim/recipes";
import type { Tensor } from "@quant-trim/tensor";
import {
  evaluationTensors,
  logitAccuracy,
  type ModelSpec,
  modelFromCheckpoint,
} from "./evaluate-checkpoint.js";
import { evaluateOnProfile } from "./profile-evaluation.js";

/*
 * A worker thread of the evaluation pool (worker-evaluator.ts). It receives the data once (workerData),
 * then per checkpoint its bytes, then profile names one at a time; for each profile it answers with the
 * evaluation, the cost figures and the checkpoint's FP32 accuracy. Messages are handled in order, so a
 * profile always refers to the last checkpoint received.
 */

/** What the pool sends with the worker: the model to rebuild and the data to evaluate on. */
export interface EvalWorkerData {
  readonly spec: ModelSpec;
  readonly calibration: Dataset;
  readonly test: Dataset;
}

export type EvalWorkerRequest =
  | { readonly kind: "checkpoint"; readonly id: number; readonly bytes: Uint8Array }
  | { readonly kind: "profile"; readonly id: number; readonly name: string };

export type EvalWorkerReply =
  | {
      readonly kind: "profile";
      readonly id: number;
      readonly name: string;
      readonly fpAccuracy: number;
      readonly result: ReturnType<typeof evaluateOnProfile>;
    }
  | { readonly kind: "error"; readonly id: number; readonly message: string };

if (parentPort) {
  const port = parentPort;
  const data = workerData as EvalWorkerData;
  const tensors = evaluationTensors(data.calibration, data.test);
  let current: { id: number; model: Module; fpLogits: Tensor; fpAccuracy: number } | null = null;
  port.on("message", (m: EvalWorkerRequest) => {
    try {
      if (m.kind === "checkpoint") {
        const model = modelFromCheckpoint(m.bytes, data.spec);
        const fpLogits = floatLogits(model, tensors.test);
        const fpAccuracy = logitAccuracy(fpLogits.toFloat32Array(), tensors.labels, fpLogits.shape[1]!);
        current = { id: m.id, model, fpLogits, fpAccuracy };
        return;
      }
      if (current?.id !== m.id)
        throw new Error(`profile '${m.name}' asked for checkpoint ${m.id}, which this worker does not hold`);
      const result = evaluateOnProfile(current.model, getProfile(m.name), {
        ...tensors,
        fpLogits: current.fpLogits,
      });
      port.postMessage({
        kind: "profile",
        id: m.id,
        name: m.name,
        fpAccuracy: current.fpAccuracy,
        result,
      } satisfies EvalWorkerReply);
    } catch (e) {
      port.postMessage({
        kind: "error",
        id: m.id,
        message: (e as Error).stack ?? String(e),
      } satisfies EvalWorkerReply);
    }
  });
}
