import { Worker } from "node:worker_threads";
import type { Dataset } from "@quant-trim/recipes";
import type { ProfileCost, ProfileEvaluation } from "../report/results-schema.js";
import type { EvalWorkerData, EvalWorkerReply, EvalWorkerRequest } from "./eval-worker.js";
import type { CheckpointEvaluation, CheckpointEvaluator, ModelSpec } from "./evaluate-checkpoint.js";

/** A dataset's own arrays (a view would send its whole underlying buffer to every worker). */
function compact(ds: Dataset): Dataset {
  return {
    inputs: ds.inputs.slice(),
    sampleShape: [...ds.sampleShape],
    labels: ds.labels.slice(),
    count: ds.count,
  };
}

/**
 * Starts the worker module. From the sources (tsx, `npm start`), a worker thread does not inherit tsx's
 * loader, so it registers tsx's API first and then imports the TypeScript module; from dist/ it is plain
 * JavaScript.
 */
function startWorker(data: EvalWorkerData): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(`./eval-worker${fromSource ? ".ts" : ".js"}`, import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: data });
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
  // The workspace packages' sources too, as in this thread (a stale dist/ would give other numbers).
  const execArgv = [...process.execArgv, "--conditions=source"];
  return new Worker(boot, { eval: true, workerData: data, execArgv });
}

/**
 * Evaluates checkpoints on `threads` worker threads: every worker receives the checkpoint, then takes the
 * next profile as soon as it is free, so the profiles of one checkpoint run in parallel (the main thread
 * only waits). The figures are those of the inline evaluator: compile and run are deterministic.
 */
export function workerEvaluator(
  spec: ModelSpec,
  calibration: Dataset,
  test: Dataset,
  threads: number,
): CheckpointEvaluator {
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`workerEvaluator: threads must be an integer ≥ 1, got ${String(threads)}`);
  const data: EvalWorkerData = { spec, calibration: compact(calibration), test: compact(test) };
  const workers = Array.from({ length: threads }, () => startWorker(data));
  let closed = false;
  let failure: Error | null = null;
  let onFailure: ((e: Error) => void) | null = null;
  const fail = (e: Error) => {
    failure ??= e;
    onFailure?.(e);
  };
  for (const w of workers) {
    w.on("error", (e) => fail(new Error(`an evaluation thread failed: ${e.message}`, { cause: e })));
    w.on("exit", (code) => {
      if (!closed) fail(new Error(`an evaluation thread stopped (exit code ${code})`));
    });
  }
  let nextId = 1;
  return {
    evaluate(bytes, profiles, onProfile) {
      return new Promise<CheckpointEvaluation>((resolve, reject) => {
        if (failure) return reject(failure);
        const id = nextId++;
        const queue = [...profiles];
        const results = new Map<string, { evaluation: ProfileEvaluation; cost: ProfileCost }>();
        let fpAccuracy: number | null = null;
        let settled = false;
        const finish = (e: Error | null) => {
          if (settled) return;
          settled = true;
          for (const w of workers) w.off("message", handlers.get(w)!);
          onFailure = null;
          if (e) return reject(e);
          const out: CheckpointEvaluation = { fpAccuracy: fpAccuracy!, profiles: {}, costs: {} };
          for (const name of profiles) {
            const r = results.get(name)!;
            out.profiles[name] = r.evaluation;
            out.costs[name] = r.cost;
          }
          resolve(out);
        };
        onFailure = finish;
        const give = (w: Worker) => {
          const name = queue.shift();
          if (name !== undefined) w.postMessage({ kind: "profile", id, name } satisfies EvalWorkerRequest);
        };
        const handlers = new Map<Worker, (m: EvalWorkerReply) => void>();
        for (const w of workers) {
          const handler = (m: EvalWorkerReply) => {
            if (m.id !== id || settled) return;
            if (m.kind === "error") return finish(new Error(`evaluation thread: ${m.message}`));
            fpAccuracy = m.fpAccuracy;
            results.set(m.name, { evaluation: m.result.evaluation, cost: m.result.cost });
            try {
              onProfile(m.name, m.result.evaluation);
            } catch (e) {
              return finish(e as Error);
            }
            if (results.size === profiles.length) return finish(null);
            give(w);
          };
          handlers.set(w, handler);
          w.on("message", handler);
          // The copy of the bytes each worker gets is its own: nothing is shared between threads.
          w.postMessage({ kind: "checkpoint", id, bytes } satisfies EvalWorkerRequest);
          give(w);
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
