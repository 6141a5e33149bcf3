import { type Module, nn, noGrad, Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { batchRows } from "../compiler/calibrate.js";
import { isKnownLayer } from "../compiler/ir.js";
import { type OverflowCounts, overflowCounts } from "../overflow.js";
import type { IntegerProgram } from "../program/program.js";
import { run } from "../program/run.js";
import {
  accuracy,
  expectedCalibrationError,
  logitCosine,
  logitKl,
  maxAbsDifference,
  sqnrDb,
  top1Agreement,
} from "./logit-metrics.js";

export interface LayerSqnr {
  /** The model op (or quantization point) whose output this is. */
  readonly name: string;
  /** The program value compared. */
  readonly value: string;
  readonly sqnrDb: number;
}

export interface BackendComparison {
  readonly profile: string;
  readonly samples: number;
  /** null without labels. */
  readonly fpAccuracy: number | null;
  readonly accuracy: number | null;
  readonly fpEce: number | null;
  readonly ece: number | null;
  readonly top1Agreement: number;
  readonly logitCosine: number;
  /** Mean KL(softmax(FP) ‖ softmax(integer)), nats. */
  readonly logitKl: number;
  readonly maxLogitDifference: number;
  /** SQNR of every requantized intermediate against the float model's value (on `sqnrSamples` inputs). */
  readonly layers: readonly LayerSqnr[];
  readonly worstLayer: LayerSqnr | null;
  readonly overflow: {
    readonly total: OverflowCounts;
    /** Steps with at least one event. */
    readonly steps: readonly {
      readonly name: string;
      readonly op: string;
      readonly counts: OverflowCounts;
    }[];
  };
  /** Compile-time warnings of the program and run-time ones. */
  readonly warnings: readonly string[];
}

export interface CompareOptions {
  /** Labels of `inputs`, for accuracy and ECE. */
  readonly labels?: ArrayLike<number>;
  /** The float model's logits on `inputs`, if already computed (e.g. once for many profiles). */
  readonly fpLogits?: T.Tensor;
  /** Inputs used for per-layer SQNR (the first ones; default 64). */
  readonly sqnrSamples?: number;
  /** Inputs per pass (default 256). */
  readonly chunk?: number;
}

const COMPARE_OPTIONS = new Set(["labels", "fpLogits", "sqnrSamples", "chunk"]);

/** The float model's outputs in eval mode, without a graph, chunk by chunk; training mode is restored. */
export function floatLogits(model: Module, inputs: T.Tensor, chunk = 256): T.Tensor {
  return outputsByChunk(model, inputs, chunk, (x) => model.call(x).data);
}

/**
 * `forward` over `inputs` in chunks of `chunk` rows, in eval mode and without a graph, the outputs
 * stacked into one [n, ...] tensor; the model's training mode is restored.
 */
export function outputsByChunk(
  model: Module,
  inputs: T.Tensor,
  chunk: number,
  forward: (x: Variable) => T.Tensor,
): T.Tensor {
  const n = inputs.shape[0]!;
  const wasTraining = model.training;
  model.eval();
  const parts: Float32Array[] = [];
  let rowShape: readonly number[] = [];
  try {
    noGrad(() => {
      for (let from = 0; from < n; from += chunk) {
        const y = forward(new Variable(batchRows(inputs, from, Math.min(n, from + chunk))));
        rowShape = y.shape.slice(1);
        parts.push(y.toFloat32Array());
      }
    });
  } finally {
    model.train(wasTraining);
  }
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return T.fromData(out, [n, ...rowShape]);
}

/**
 * Everything the report says about one backend: run the program on `inputs`, compare its outputs with
 * the float model's (accuracy, ECE, top-1 agreement, logit cosine and KL, max logit difference), the
 * SQNR of each requantized intermediate on the first inputs, and the overflow events per step.
 */
export function compareWithFloat(
  model: Module,
  program: IntegerProgram,
  inputs: T.Tensor,
  options: CompareOptions = {},
): BackendComparison {
  const fn = "compareWithFloat";
  for (const k of Object.keys(options)) {
    if (!COMPARE_OPTIONS.has(k))
      throw new Error(`${fn}: unknown option '${k}'; known options: ${[...COMPARE_OPTIONS].join(", ")}`);
  }
  if (!(inputs instanceof T.Tensor) || inputs.ndim < 2 || inputs.shape[0] === 0) {
    throw new Error(`${fn}: inputs must be a non-empty Tensor [N, ...]`);
  }
  const n = inputs.shape[0]!;
  const chunk = options.chunk ?? 256;
  const fp = options.fpLogits ?? floatLogits(model, inputs, chunk);
  if (fp.shape[0] !== n || fp.ndim !== 2) {
    throw new Error(`${fn}: fpLogits must be [${n}, classes], got [${fp.shape.join(", ")}]`);
  }
  const classes = fp.shape[1]!;
  const result = run(program, inputs, { overflow: true, chunk });
  const q = result.output.toFloat32Array();
  const f = fp.toFloat32Array();
  if (q.length !== f.length) {
    throw new Error(
      `${fn}: the program returns [${result.output.shape.join(", ")}] but the model [${fp.shape.join(", ")}]`,
    );
  }
  const labels = options.labels;
  if (labels !== undefined && labels.length !== n)
    throw new Error(`${fn}: ${n} inputs but ${labels.length} labels`);

  const layers = layerSqnr(model, program, batchRows(inputs, 0, Math.min(n, options.sqnrSamples ?? 64)));
  let worstLayer: LayerSqnr | null = null;
  for (const l of layers) if (worstLayer === null || l.sqnrDb < worstLayer.sqnrDb) worstLayer = l;

  const total = overflowCounts();
  const steps: { name: string; op: string; counts: OverflowCounts }[] = [];
  result.overflow!.forEach((c, i) => {
    total.accumulator += c.accumulator;
    total.int16Pairs += c.int16Pairs;
    total.outputClamps += c.outputClamps;
    total.elements += c.elements;
    if (c.accumulator + c.int16Pairs + c.outputClamps > 0) {
      const s = program.steps[i]!;
      steps.push({ name: s.name || s.op, op: s.op, counts: c });
    }
  });
  return {
    profile: program.profile.name,
    samples: n,
    fpAccuracy: labels ? accuracy(f, labels, classes) : null,
    accuracy: labels ? accuracy(q, labels, classes) : null,
    fpEce: labels ? expectedCalibrationError(f, labels, classes) : null,
    ece: labels ? expectedCalibrationError(q, labels, classes) : null,
    top1Agreement: top1Agreement(f, q, classes),
    logitCosine: logitCosine(f, q, classes),
    logitKl: logitKl(f, q, classes),
    maxLogitDifference: maxAbsDifference(f, q),
    layers,
    worstLayer,
    overflow: { total, steps },
    warnings: [...program.warnings, ...result.warnings],
  };
}

/**
 * The float model's value behind every program value (keyed by the program values' `source` ids), on
 * `inputs`: what a program's intermediates are compared with.
 */
export function floatValues(model: Module, program: IntegerProgram, inputs: T.Tensor): Map<string, T.Tensor> {
  const out = new Map<string, T.Tensor>();
  const wanted = new Set(Object.values(program.values).map((v) => v.source));
  nn.trace(model, inputs, {
    isLeaf: isKnownLayer,
    constantValues: 0,
    onValue: (id, v) => {
      if (wanted.has(id)) out.set(id, v.contiguous().copy("float32"));
    },
  });
  return out;
}

/** SQNR of every requantizing step's output (and each Quantize) against the float model's value. */
export function layerSqnr(model: Module, program: IntegerProgram, inputs: T.Tensor): LayerSqnr[] {
  const fpValues = new Map([...floatValues(model, program, inputs)].map(([k, v]) => [k, v.toFloat32Array()]));
  const inter = run(program, inputs, { intermediates: true }).intermediates!;
  const out: LayerSqnr[] = [];
  for (const s of program.steps) {
    if (!["quantize", "conv2d", "linear", "add", "mul", "clamp"].includes(s.op)) continue;
    const v = program.values[s.output]!;
    const ref = fpValues.get(v.source);
    if (!ref) continue;
    out.push({
      name: s.name || `quantize ${v.point}`,
      value: s.output,
      sqnrDb: sqnrDb(ref, inter[s.output]!.toFloat32Array()),
    });
  }
  return out;
}
