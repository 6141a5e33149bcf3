import { type Module, nn, PACKAGE_VERSION, type TraceGraph } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { irVersionForOpset } from "../builder/opset.js";
import { encodeModel } from "../proto/codec.js";
import type { ModelProto } from "../proto/types.js";
import {
  exportDefaultsOf,
  type FloatExportOptions,
  type ResolvedFloatOptions,
  resolveFloatOptions,
} from "./export-options.js";
import { OnnxGraphWriter } from "./graph-writer.js";
import { EXPORT_TRACE_BATCH, isExportedLayer, type LoweringHooks, lowerTrace } from "./lower-trace.js";
import { checkOnnxModel } from "./onnx-checker.js";

/** The producer written into every exported model. */
export const ONNX_PRODUCER = "quant-trim";

/** The model's module graph for export: every known layer one node, anything else opened. */
export function traceForExport(fn: string, model: Module, inputShape: readonly number[]): TraceGraph {
  try {
    return nn.trace(model, T.zeros([EXPORT_TRACE_BATCH, ...inputShape]), {
      isLeaf: isExportedLayer,
      constantValues: 0,
    });
  } catch (e) {
    throw new Error(
      `${fn}: the model does not run on inputShape [${inputShape.join(", ")}]: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** The float lowering's answers: weights as float32 initializers named as in the state dict. */
export function floatHooks(writer: OnnxGraphWriter): LoweringHooks {
  return {
    parameter(layer, role, values, dims) {
      const name = `${layer}.${role}`;
      return writer.hasInitializer(name) ? name : writer.initializer(name, values, dims);
    },
    value: (_id, produced) => produced,
    rewrites: () => false,
  };
}

/** The ModelProto around a finished graph, with the producer and metadata every export carries. */
export function wrapModel(
  fn: string,
  writer: OnnxGraphWriter,
  o: ResolvedFloatOptions,
  outputDims: readonly number[],
  extraMetadata: Readonly<Record<string, string>> = {},
): ModelProto {
  writer.input(o.inputName, "float32", [o.batchDim, ...o.inputShape]);
  writer.output(o.outputName, "float32", [o.batchDim, ...outputDims]);
  const metadata: Record<string, string> = {
    producer: ONNX_PRODUCER,
    producer_version: PACKAGE_VERSION,
    ...o.metadata,
    ...extraMetadata,
  };
  // Carried-over metadata (an imported model's) keeps its key order but cannot change who wrote the file.
  metadata.producer = ONNX_PRODUCER;
  metadata.producer_version = PACKAGE_VERSION;
  const model: ModelProto = {
    irVersion: irVersionForOpset(o.opset),
    opsetImport: [{ domain: "", version: o.opset }],
    producerName: ONNX_PRODUCER,
    producerVersion: PACKAGE_VERSION,
    graph: writer.graph(),
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  checkOnnxModel(model, fn);
  return model;
}

/**
 * The model as a float ONNX ModelProto: its traced graph as standard operators (opset 13 unless
 * `options.opset` says otherwise), one input and one output with a dynamic batch dimension, weights as
 * float32 initializers named as in the state dict, and `metadata_props` with the producer, its version
 * and `options.metadata`. Throws an Error naming the module or op that has no ONNX mapping.
 */
export function exportOnnxModel(model: Module, options: FloatExportOptions = {}): ModelProto {
  const fn = "exportOnnx";
  if (!(model instanceof nn.Module)) throw new Error(`${fn}: model must be an nn.Module`);
  const o = resolveFloatOptions(fn, options, exportDefaultsOf(model));
  const graph = traceForExport(fn, model, o.inputShape);
  const writer = new OnnxGraphWriter(o.graphName, fn);
  lowerTrace(graph, model, writer, floatHooks(writer), {
    fn,
    inputName: o.inputName,
    outputName: o.outputName,
    foldBatchNorm: o.foldBatchNorm,
    nodeNames: o.nodeNames,
  });
  return wrapModel(fn, writer, o, graph.output.shape.slice(1));
}

/** `exportOnnxModel` encoded as the bytes of an `.onnx` file. */
export function exportOnnx(model: Module, options: FloatExportOptions = {}): Uint8Array {
  return encodeModel(exportOnnxModel(model, options));
}
