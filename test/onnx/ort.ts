import { encodeModel, type ModelProto } from "@quant-trim/onnx";
import * as ort from "onnxruntime-node";

/*
 * Running models in ONNX Runtime (onnxruntime-node, CPU) from tests. Sessions use one intra-op and one
 * inter-op thread: the machine is shared, and single-threaded kernels are what the parity tests and the
 * benchmarks compare against. Creating a session costs milliseconds to tens of milliseconds, so tests
 * build one model and feed it many cases where they can.
 */

export type OrtArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | BigInt64Array;

/** A tensor fed to or returned by a session: row-major data and its dims. */
export interface OrtValue<T extends OrtArray = OrtArray> {
  readonly data: T;
  readonly dims: readonly number[];
}

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ["cpu"],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
  logSeverityLevel: 3,
};

function ortType(data: OrtArray): ort.Tensor.Type {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Uint16Array) return "uint16";
  if (data instanceof Int32Array) return "int32";
  return "int64";
}

/** An ONNX Runtime session for a model (a ModelProto is encoded with this package's encoder). */
export async function ortSession(model: ModelProto | Uint8Array): Promise<ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  return ort.InferenceSession.create(bytes, SESSION_OPTIONS);
}

/** Feed `inputs` to a session and return every output as a typed array (copied out of ORT's tensor). */
export async function ortRun(
  session: ort.InferenceSession,
  inputs: Readonly<Record<string, OrtValue>>,
): Promise<Record<string, OrtValue>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, v] of Object.entries(inputs)) {
    feeds[name] = new ort.Tensor(ortType(v.data), v.data as never, [...v.dims]);
  }
  const results = await session.run(feeds);
  const out: Record<string, OrtValue> = {};
  for (const [name, t] of Object.entries(results)) {
    const data = t.data as OrtArray;
    out[name] = { data: data.slice() as OrtArray, dims: [...t.dims] };
    t.dispose();
  }
  return out;
}

/** Build a session, run it once and release it. */
export async function ortRunOnce(
  model: ModelProto | Uint8Array,
  inputs: Readonly<Record<string, OrtValue>>,
): Promise<Record<string, OrtValue>> {
  const session = await ortSession(model);
  try {
    return await ortRun(session, inputs);
  } finally {
    await session.release();
  }
}
