import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE } from "@quant-trim/recipes/node";
import { UsageError } from "./args.js";
import { type ExperimentData, loadExperimentData } from "./experiment/experiment-data.js";

/**
 * What a checkpoint was trained on, from its `training` metadata: the sample shape, the class count, the
 * dataset's name and the standardisation applied. `experiment` records all of them; `train` (bundled
 * MNIST only) and older checkpoints record none, which means the bundled digits.
 */
export interface TrainedOn {
  readonly inputShape: readonly number[];
  readonly classes: number;
  /** The dataset's name as recorded, or null for the bundled digits' default. */
  readonly data: string | null;
  readonly standardization: { readonly mean: number; readonly std: number } | null;
}

export function trainedOn(metadata: Record<string, string>): TrainedOn {
  let t: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(metadata.training ?? "{}") as unknown;
    if (parsed !== null && typeof parsed === "object") t = parsed as Record<string, unknown>;
  } catch {
    // Unreadable training metadata: fall back to the bundled digits, as for a checkpoint without it.
  }
  const shape = t.inputShape;
  const validShape =
    Array.isArray(shape) &&
    shape.length >= 1 &&
    shape.every((d) => Number.isSafeInteger(d) && (d as number) > 0 && (d as number) <= 65536);
  const classes = t.classes;
  const validClasses = Number.isSafeInteger(classes) && (classes as number) >= 2;
  const s = t.standardization as { mean?: unknown; std?: unknown } | undefined;
  return {
    inputShape: validShape ? (shape as number[]) : MNIST_SAMPLE_SHAPE,
    classes: validClasses ? (classes as number) : MNIST_CLASSES,
    data: typeof t.data === "string" ? t.data : null,
    standardization:
      s && typeof s.mean === "number" && typeof s.std === "number" ? { mean: s.mean, std: s.std } : null,
  };
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.join(",") === b.join(",");

/**
 * The data to evaluate (or calibrate) a checkpoint on: the IDX dataset in `dataDir`, or the bundled
 * digits. Refused (a UsageError naming `path` and both sides) when the checkpoint was trained on samples
 * of another shape, another class count, or other standardisation statistics than the data given, so a
 * model is never scored on inputs it was not built for.
 */
export function dataForCheckpoint(path: string, trained: TrainedOn, dataDir: string | null): ExperimentData {
  const data = loadExperimentData(dataDir);
  const where = dataDir === null ? "the bundled MNIST digits" : `--data-dir '${dataDir}'`;
  const hint =
    dataDir === null
      ? `; it was trained on ${trained.data ?? "another dataset"}: give --data-dir with that dataset`
      : "";
  if (!sameShape(trained.inputShape, data.info.sampleShape)) {
    throw new UsageError(
      `'${path}' takes samples of shape [${trained.inputShape.join(", ")}], ${where} are [${data.info.sampleShape.join(", ")}]${hint}`,
    );
  }
  if (trained.classes !== data.classes) {
    throw new UsageError(`'${path}' has ${trained.classes} classes, ${where} ${data.classes}${hint}`);
  }
  const s = trained.standardization;
  const d = data.info.standardization;
  if (s !== null && (Math.abs(s.mean - d.mean) > 1e-6 || Math.abs(s.std - d.std) > 1e-6)) {
    throw new UsageError(
      `'${path}' was trained on inputs standardised with mean ${s.mean} and std ${s.std}; ${where} give mean ${d.mean} and std ${d.std}${hint}`,
    );
  }
  return data;
}
