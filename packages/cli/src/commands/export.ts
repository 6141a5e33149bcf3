import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { CheckpointError, type Module, noGrad, Variable } from "@quant-trim/autograd";
import { loadCheckpoint } from "@quant-trim/autograd/node";
import { compile, profiles } from "@quant-trim/npu-sim";
import {
  EXPORT_OPSETS,
  encodeModel,
  exportOnnxModel,
  exportQdqOnnxModel,
  type ImportedOnnxModel,
  importOnnx,
  type ModelProto,
} from "@quant-trim/onnx";
import { buildModel, head, isZooModel, sample } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE } from "@quant-trim/recipes/node";
import { fromData, Rng, zeros } from "@quant-trim/tensor";
import { int, parse, str, UsageError, wrapList } from "../args.js";
import { dataForCheckpoint, type TrainedOn, trainedOn } from "../checkpoint-data.js";
import { firstNonFinite } from "../finite-tensors.js";
import { checkInputFile, checkOutFile } from "../out-path.js";
import type { Io } from "../output.js";

export const exportHelp = `Usage: quant-trim export --checkpoint PATH --onnx OUT.onnx [options]

  Writes the checkpoint's model as an ONNX file (see docs/onnx.md). Without --qdq: the float model
  (opset 13 by default; BatchNormalization kept unless --fold-bn), input "input" [batch, ...sample shape]
  ([batch, 1, 28, 28] for digits), output "output" [batch, classes], the checkpoint's metadata in
  metadata_props. With --qdq PROFILE: the model compiled for that npu-sim profile (calibrated on 256
  training images, BatchNorm folded) with QuantizeLinear/DequantizeLinear pairs carrying the profile's
  qparams (int4 weights at opset 21).
  --checkpoint PATH  a .safetensors checkpoint written by quant-trim train or experiment
  --onnx PATH        the .onnx file to write (atomically: nothing is written on any error)
  --qdq PROFILE      export for this npu-sim profile, one of
${wrapList(Object.keys(profiles), 21)}
  --opset N          default-domain opset, ${EXPORT_OPSETS.min}–${EXPORT_OPSETS.max} (default 13; 21 for 4-bit weights)
  --fold-bn          fold BatchNorm into the convolution before it (float export)
  --json             print what was written as JSON
  --data-dir DIR     the IDX dataset a checkpoint trained on other data than the bundled digits
                     calibrates --qdq on (as for experiment --data-dir)
  --seed N           which 256 training images calibrate --qdq: 0 (default) the first 256, else a seeded draw
  Exit codes: 0 written, 1 the export failed, 2 bad input or a model the exporter refuses (nothing written).`;

/** The zoo model a checkpoint names, with its weights; a CheckpointError names what is wrong. */
export function checkpointModel(path: string): {
  model: Module;
  arch: string;
  metadata: Record<string, string>;
  trained: TrainedOn;
} {
  const { tensors, metadata } = loadCheckpoint(path);
  const arch = metadata.architecture!;
  if (!isZooModel(arch)) throw new CheckpointError(`unknown architecture '${arch}' in ${path}`);
  const bad = firstNonFinite(tensors);
  if (bad) {
    throw new CheckpointError(
      `${path}: tensor '${bad.name}' holds ${bad.value} at element ${bad.index}; a checkpoint must be finite`,
    );
  }
  // Built for the samples and classes the checkpoint records (the bundled digits when it records none).
  const trained = trainedOn(metadata);
  let model: Module;
  try {
    model = buildModel(arch, { inputShape: trained.inputShape, classes: trained.classes, seed: 0 });
    model.loadStateDict(tensors);
  } catch (e) {
    throw new CheckpointError(`${path} does not fit architecture '${arch}': ${(e as Error).message}`);
  }
  return { model, arch, metadata, trained };
}

/** Write bytes atomically: a temporary file renamed into place, removed on any failure. */
function writeBytesAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`cannot write '${path}': ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The model in an .onnx file, for `eval --onnx`: imported into nn layers, and checked to take samples
 * of `sampleShape` (the digits by default) and give one logit per class. A file that cannot be read or
 * imported is a UsageError (exit 2) naming why.
 */
export function onnxEvalModel(
  path: string,
  sampleShape: readonly number[] = MNIST_SAMPLE_SHAPE,
  classes: number = MNIST_CLASSES,
  dataName = "the digits",
): { model: ImportedOnnxModel; arch: string } {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new UsageError(`--onnx: cannot read '${path}' (${why})`);
  }
  let model: ImportedOnnxModel;
  try {
    model = importOnnx(bytes);
  } catch (e) {
    throw new UsageError(`--onnx '${path}': ${(e as Error).message}`);
  }
  const shape = model.info.inputShape;
  if (shape.join(",") !== sampleShape.join(",")) {
    throw new UsageError(
      `--onnx '${path}': the model takes samples of shape [${shape.join(", ")}], ${dataName} are [${sampleShape.join(", ")}]`,
    );
  }
  const logits = noGrad(() => model.call(new Variable(zeros([1, ...shape])))).shape;
  if (logits.length !== 2 || logits[1] !== classes) {
    throw new UsageError(
      `--onnx '${path}': the model outputs [${logits.join(", ")}] per batch of one, expected [1, ${classes}] logits`,
    );
  }
  return { model, arch: `onnx (${model.info.producerName || "unknown producer"})` };
}

export async function exportCommand(args: string[], io: Io): Promise<void> {
  const v = parse(args, {
    checkpoint: { type: "string" },
    onnx: { type: "string" },
    qdq: { type: "string" },
    opset: { type: "string" },
    "fold-bn": { type: "boolean" },
    "data-dir": { type: "string" },
  });
  if (v.help) {
    io.stdout.write(`${exportHelp}\n`);
    return;
  }
  const path = str(v, "checkpoint");
  if (!path) throw new UsageError("--checkpoint PATH is required");
  const out = str(v, "onnx");
  if (!out) throw new UsageError("--onnx OUT.onnx is required");
  checkOutFile("--onnx", out);
  checkInputFile("--checkpoint", path); // a FIFO or a device would hang the read: exit 2 instead
  const opsetArg = str(v, "opset");
  const opset =
    opsetArg === undefined ? undefined : int("opset", opsetArg, 13, EXPORT_OPSETS.min, EXPORT_OPSETS.max);
  const seed = int("seed", str(v, "seed"), 0, 0, 2 ** 32 - 1);
  const profileName = str(v, "qdq");
  const profile = profileName === undefined ? undefined : profiles[profileName];
  if (profileName !== undefined && (profile === undefined || !Object.hasOwn(profiles, profileName))) {
    throw new UsageError(
      `--qdq: unknown profile '${profileName}' (profiles: ${Object.keys(profiles).join(", ")})`,
    );
  }
  if (profile !== undefined && v["fold-bn"]) {
    throw new UsageError("--fold-bn applies to the float export; --qdq always folds BatchNorm");
  }
  const dataDir = str(v, "data-dir") ?? null;
  if (dataDir !== null && dataDir.trim() === "") throw new UsageError("--data-dir: the path is blank");
  const { model, metadata, trained } = checkpointModel(path);
  // --qdq calibrates on the checkpoint's own kind of data; a float export needs only its sample shape.
  const calibrationData = profile === undefined ? null : dataForCheckpoint(path, trained, dataDir);
  let proto: ModelProto;
  // Anything the exporter refuses (an op without a mapping, a dynamic-scaling profile, an opset too low
  // for int4) is a property of the input: a one-line reason and exit code 2.
  try {
    if (profile === undefined) {
      proto = exportOnnxModel(model, {
        inputShape: trained.inputShape,
        foldBatchNorm: v["fold-bn"] === true,
        metadata,
        ...(opset === undefined ? {} : { opset }),
      });
    } else {
      const { train } = calibrationData!;
      const calibration = seed === 0 ? head(train, 256) : sample(train, 256, new Rng(seed));
      const batch = fromData(calibration.inputs, [calibration.count, ...calibration.sampleShape]);
      const program = compile(model, profile, batch);
      proto = exportQdqOnnxModel(program, { metadata, ...(opset === undefined ? {} : { opset }) });
    }
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const bytes = encodeModel(proto);
  writeBytesAtomic(out, bytes);
  const summary = {
    checkpoint: path,
    onnx: out,
    format: profile === undefined ? "float" : "QDQ",
    profile: profile?.name ?? null,
    opset: proto.opsetImport.find((o) => (o.domain ?? "") === "")!.version,
    nodes: proto.graph.node.length,
    bytes: bytes.length,
    input: proto.graph.input[0]!.name,
    output: proto.graph.output[0]!.name,
  };
  if (v.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    io.stdout.write(
      `${out}: ${summary.format}${summary.profile ? ` (${summary.profile})` : ""} ONNX, opset ${summary.opset}, ${summary.nodes} nodes, ${summary.bytes} bytes, ${summary.input} → ${summary.output}\n`,
    );
  }
}
