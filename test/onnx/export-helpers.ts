import { type Module, nn, noGrad, Variable } from "@quant-trim/autograd";
import { type ModelProto, type TensorProto, tensorToArray } from "@quant-trim/onnx";
import * as T from "@quant-trim/tensor";
import { expect } from "vitest";
import { ortRun, ortSession } from "./ort.js";

/*
 * Shared by the export, import and round-trip tests: random inputs, the TypeScript forward pass, running
 * an exported model in ONNX Runtime, and the error measure the issue states ("within 1e-5 relative").
 */

/** `count` samples of `sampleShape` drawn uniformly from [-2, 2). */
export function randomInput(rng: T.Rng, count: number, sampleShape: readonly number[]): T.Tensor {
  const n = count * sampleShape.reduce((a, b) => a * b, 1);
  return T.fromData(
    Float32Array.from({ length: n }, () => rng.uniform(-2, 2)),
    [count, ...sampleShape],
  );
}

/** The model's eval-mode forward pass as float32 values. */
export function forward(model: Module, x: T.Tensor): Float32Array {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => model.call(new Variable(x))).data.toFloat32Array();
  } finally {
    model.train(wasTraining);
  }
}

/** Run `bytes` in ONNX Runtime on each batch and return the output for each. */
export async function ortOutputs(
  bytes: Uint8Array | ModelProto,
  inputs: readonly T.Tensor[],
  inputName = "input",
  outputName = "output",
): Promise<{ data: Float32Array; dims: readonly number[] }[]> {
  const session = await ortSession(bytes);
  try {
    const out: { data: Float32Array; dims: readonly number[] }[] = [];
    for (const x of inputs) {
      const r = await ortRun(session, { [inputName]: { data: x.toFloat32Array(), dims: [...x.shape] } });
      const y = r[outputName];
      if (y === undefined)
        throw new Error(`ORT returned no '${outputName}' (got ${Object.keys(r).join(", ")})`);
      out.push({ data: y.data as Float32Array, dims: y.dims });
    }
    return out;
  } finally {
    await session.release();
  }
}

/** max |a − b| / max |reference|: the error relative to the size of the outputs. */
export function relativeError(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  expect(actual.length).toBe(reference.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - reference[i]!));
    scale = Math.max(scale, Math.abs(reference[i]!));
  }
  return scale === 0 ? worst : worst / scale;
}

/**
 * Give every BatchNorm non-trivial statistics and affine parameters (a fresh one is the identity up to
 * eps, which would hide folding and export mistakes).
 */
export function randomizeBatchNorms(model: Module, rng: T.Rng): void {
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof nn.BatchNorm1d || m instanceof nn.BatchNorm2d)) continue;
    const fill = (t: T.Tensor, lo: number, hi: number) => {
      const d = t.data;
      for (let i = 0; i < d.length; i++) d[i] = rng.uniform(lo, hi);
    };
    fill(m.weight.data, 0.5, 1.5);
    fill(m.bias.data, -0.5, 0.5);
    fill(m.runningMean, -0.3, 0.3);
    fill(m.runningVar, 0.2, 2);
  }
}

/** An initializer's values by name. */
export function initializer(model: ModelProto, name: string): ArrayLike<number> {
  const t: TensorProto | undefined = model.graph.initializer.find((i) => i.name === name);
  if (t === undefined) throw new Error(`no initializer '${name}'`);
  return tensorToArray(t) as ArrayLike<number>;
}
