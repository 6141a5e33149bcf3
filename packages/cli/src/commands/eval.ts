import { closeSync, openSync, readSync } from "node:fs";
import { type Module, SAFETENSORS_MAX_HEADER_BYTES } from "@quant-trim/autograd";
import { profileNames } from "@quant-trim/npu-sim";
import { evaluate, head, ptqAccuracy, ptqGrids, sample } from "@quant-trim/recipes";
import { fromData, Rng } from "@quant-trim/tensor";
import { int, parse, str, UsageError, wrapList } from "../args.js";
import { dataForCheckpoint } from "../checkpoint-data.js";
import { type ExperimentData, loadExperimentData } from "../experiment/experiment-data.js";
import { checkInputFile } from "../out-path.js";
import { type Io, pct } from "../output.js";
import { evaluateOnProfiles, formatProfilesEvaluation, parseProfileList } from "../profile-eval.js";
import { checkpointModel, onnxEvalModel } from "./export.js";

export const evalHelp = `Usage: quant-trim eval --checkpoint PATH [options]
       quant-trim eval --onnx PATH [options]

  Accuracy on the 2,000 test digits in FP32, and with every weight and activation fake-quantized after
  calibrating on 256 training images: INT8 and INT4 weights, per-channel and per-tensor, INT8 activations.
  The test digits are those of the training split (seed 0), so a checkpoint is never scored on its own
  training data. A checkpoint holding NaN or ±Inf is refused (exit code 2), naming the tensor and element.
  A checkpoint trained on another dataset (experiment --data-dir) is evaluated on that dataset's test
  images with --data-dir; data of another sample shape, class count or standardisation is refused.
  --onnx PATH       evaluate a float ONNX model instead (imported into nn layers; input [batch, 1, 28, 28],
                    10 outputs; see docs/onnx.md for the operators it reads)
  --profiles LIST   also compile the model for integer backends ('all' or names separated by commas, see
                    quant-trim profiles), each calibrating on the same 256 images, and report per profile
                    integer accuracy, top-1 agreement with FP, logit cosine, worst layer SQNR and cost-model
                    figures, then the worst FP→integer gap and the spread across profiles. Profiles:
${wrapList(profileNames, 20)}
  --data-dir DIR    evaluate on this IDX dataset (found and split as by experiment --data-dir)
  --json            print the result as JSON
  --seed N          which 256 training images calibrate: 0 (default) takes the first 256, any other seed a
                    seeded random draw
  Exit codes: 0 done, 1 the evaluation failed, 2 bad input (an option, or a file that is not a checkpoint).`;

export async function evalCommand(args: string[], io: Io): Promise<void> {
  const v = parse(args, {
    checkpoint: { type: "string" },
    onnx: { type: "string" },
    profiles: { type: "string" },
    "data-dir": { type: "string" },
  });
  if (v.help) {
    io.stdout.write(`${evalHelp}\n`);
    return;
  }
  const onnxPath = str(v, "onnx");
  const path = onnxPath ?? str(v, "checkpoint");
  if (onnxPath !== undefined && str(v, "checkpoint") !== undefined)
    throw new UsageError("give --checkpoint or --onnx, not both");
  if (path === undefined) throw new UsageError("--checkpoint PATH is required (or --onnx PATH)");
  const option = onnxPath !== undefined ? "--onnx" : "--checkpoint";
  const seed = int("seed", str(v, "seed"), 0, 0, 2 ** 32 - 1);
  const profileSpec = str(v, "profiles");
  const profileList = profileSpec === undefined ? null : parseProfileList(profileSpec);
  const size = checkInputFile(option, path);
  if (onnxPath === undefined) checkSafetensorsHeader(option, path, size);
  const dataDir = str(v, "data-dir") ?? null;
  if (dataDir !== null && dataDir.trim() === "") throw new UsageError("--data-dir: the path is blank");
  let model: Module;
  let arch: string;
  let data: ExperimentData;
  if (onnxPath !== undefined) {
    data = loadExperimentData(dataDir);
    ({ model, arch } = onnxEvalModel(
      onnxPath,
      data.info.sampleShape,
      data.classes,
      dataDir === null ? "the digits" : `the samples in '${dataDir}'`,
    ));
  } else {
    const c = checkpointModel(path);
    ({ model, arch } = c);
    data = dataForCheckpoint(path, c.trained, dataDir);
  }
  const { train, test } = data;
  const fp = evaluate(model, test);
  const calibration = seed === 0 ? head(train, 256) : sample(train, 256, new Rng(seed));
  const quantized: Record<string, number> = {};
  for (const [name, grids] of Object.entries(ptqGrids))
    quantized[name] = ptqAccuracy(model, { grids, calibration, test });
  const integer =
    profileList === null
      ? null
      : evaluateOnProfiles(
          model,
          profileList,
          fromData(calibration.inputs, [calibration.count, ...calibration.sampleShape]),
          fromData(test.inputs, [test.count, ...test.sampleShape]),
          test.labels,
        );
  if (v.json)
    io.stdout.write(
      `${JSON.stringify({ ...(onnxPath === undefined ? { checkpoint: path } : { onnx: path }), architecture: arch, fpAccuracy: fp, quantized, ...(integer ? { integer } : {}) })}\n`,
    );
  else {
    io.stdout.write(`${path} (${arch}): FP32 ${pct(fp)}\n`);
    for (const [k, a] of Object.entries(quantized))
      io.stdout.write(`  ${k.padEnd(18)} ${pct(a)}  (gap ${((fp - a) * 100).toFixed(2)} pts)\n`);
    if (integer) io.stdout.write(`integer backends:\n${formatProfilesEvaluation(integer)}\n`);
  }
}

/**
 * A safetensors file starts with its header length N (8 bytes, little-endian) followed by N bytes of
 * JSON starting with '{'. Checking those first 9 bytes against the file size refuses random bytes, a
 * JSON file or a truncated download at once, with one message, instead of reading the whole file.
 */
export function checkSafetensorsHeader(option: string, path: string, size: number): void {
  const not = (why: string) => new UsageError(`${option}: '${path}' is not a safetensors file (${why})`);
  if (size < 10) throw not(`${size} bytes; one holds an 8-byte header length and a JSON header`);
  const head = new Uint8Array(9);
  const fd = openSync(path, "r");
  try {
    if (readSync(fd, head, 0, 9, 0) < 9) throw not("it ended while its first 9 bytes were read");
  } finally {
    closeSync(fd);
  }
  const n = new DataView(head.buffer).getBigUint64(0, true);
  if (n > BigInt(size - 8))
    throw not(`its first 8 bytes give a header length of ${n} bytes, but only ${size - 8} bytes follow them`);
  if (n > BigInt(SAFETENSORS_MAX_HEADER_BYTES))
    throw not(
      `its header length of ${n} bytes is above the format's limit of ${SAFETENSORS_MAX_HEADER_BYTES}`,
    );
  if (head[8] !== 0x7b) throw not("the header after the 8-byte length does not start with '{'");
}
