import { Rng } from "@quant-trim/tensor";
import { type Dataset, gather, standardize } from "./dataset.js";
import { type IdxDataset, idxDataset, parseIdx } from "./idx.js";
import { type InputStatistics, inputStatistics } from "./input-statistics.js";

/** The raw bytes of an IDX dataset: the training pair, and the test pair when the dataset has one. */
export interface IdxSources {
  readonly trainImages: Uint8Array;
  readonly trainLabels: Uint8Array;
  readonly testImages?: Uint8Array | null;
  readonly testLabels?: Uint8Array | null;
  /** What to call each source in error messages (file names, say). */
  readonly names?: Partial<Record<"trainImages" | "trainLabels" | "testImages" | "testLabels", string>>;
}

export interface IdxSplitOptions {
  /**
   * Used only when there is no test pair: the fraction of the training files held out as the test set,
   * drawn by a seeded permutation (default 0.2, the bundled MNIST split's 8,000 / 2,000 proportion).
   */
  testFraction?: number;
  /** Seeds the held-out split and the subsampling below (default 0). */
  seed?: number;
  /** Keep at most this many training samples (a seeded sample; default all). */
  trainCount?: number;
  /** Keep at most this many test samples (a seeded sample; default all). */
  testCount?: number;
}

/** How the test set was obtained. */
export type IdxSplitKind =
  | { readonly kind: "files" }
  | { readonly kind: "held-out"; readonly testFraction: number; readonly seed: number };

/** A train/test split ready for training: both parts standardised with the training images' statistics. */
export interface IdxSplit {
  readonly train: IdxDataset;
  readonly test: IdxDataset;
  /** From the training labels (largest + 1); every test label must fall below it. */
  readonly classes: number;
  readonly sampleShape: readonly number[];
  /** Measured on the training images (after subsampling, before standardisation): record them. */
  readonly statistics: InputStatistics;
  readonly split: IdxSplitKind;
}

const OPTION_KEYS = new Set(["testFraction", "seed", "trainCount", "testCount"]);

/**
 * Decodes and checks an IDX dataset and splits it: the test pair when there is one, otherwise a seeded
 * hold-out of the training pair. The standardisation statistics come from the training part only, so
 * nothing about the test images leaks into training.
 */
export function idxSplit(sources: IdxSources, options: IdxSplitOptions = {}): IdxSplit {
  const fn = "idxSplit";
  if (typeof sources !== "object" || sources === null) throw new Error(`${fn}: sources must be an object`);
  if (typeof options !== "object" || options === null) throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options))
    if (!OPTION_KEYS.has(key))
      throw new Error(`${fn}: unknown option '${key}' (expected ${[...OPTION_KEYS].join(", ")})`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new Error(`${fn}: seed must be an integer in [0, 4294967295], got ${String(seed)}`);
  for (const key of ["trainCount", "testCount"] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1))
      throw new Error(`${fn}: ${key} must be an integer ≥ 1, got ${String(v)}`);
  }
  const hasTestImages = sources.testImages !== undefined && sources.testImages !== null;
  const hasTestLabels = sources.testLabels !== undefined && sources.testLabels !== null;
  if (hasTestImages !== hasTestLabels)
    throw new Error(
      `${fn}: the test ${hasTestImages ? "images come without their labels" : "labels come without their images"}; give both or neither`,
    );
  if (hasTestImages && options.testFraction !== undefined)
    throw new Error(`${fn}: testFraction applies only without test files, and test files were given`);
  const testFraction = options.testFraction ?? 0.2;
  if (typeof testFraction !== "number" || !(testFraction > 0 && testFraction < 1))
    throw new Error(`${fn}: testFraction must be a number in (0, 1), got ${String(testFraction)}`);

  const name = (key: keyof NonNullable<IdxSources["names"]>) => sources.names?.[key] ?? key;
  const decode = (key: "trainImages" | "trainLabels" | "testImages" | "testLabels") =>
    parseIdx(sources[key] as Uint8Array, name(key));
  const trainImages = decode("trainImages");
  const trainFiles = idxDataset(trainImages, decode("trainLabels"), {
    imagesName: name("trainImages"),
    labelsName: name("trainLabels"),
  });
  const classes = trainFiles.classes;

  let train: Dataset;
  let test: Dataset;
  let split: IdxSplitKind;
  const rng = new Rng(seed);
  if (hasTestImages) {
    const testImages = decode("testImages");
    if (testImages.shape.slice(1).join() !== trainImages.shape.slice(1).join())
      throw new Error(
        `${fn}: ${name("testImages")} samples have shape [${testImages.shape.slice(1).join(", ")}], ${name("trainImages")} samples [${trainImages.shape.slice(1).join(", ")}]`,
      );
    train = trainFiles;
    test = idxDataset(testImages, decode("testLabels"), {
      classes,
      imagesName: name("testImages"),
      labelsName: name("testLabels"),
    });
    split = { kind: "files" };
  } else {
    const held = Math.floor(testFraction * trainFiles.count);
    if (held === 0 || held === trainFiles.count)
      throw new Error(
        `${fn}: testFraction ${testFraction} of ${trainFiles.count} samples leaves ${held} for testing and ${trainFiles.count - held} for training; both need at least one`,
      );
    const order = rng.permutation(trainFiles.count);
    train = gather(trainFiles, order.slice(0, trainFiles.count - held));
    test = gather(trainFiles, order.slice(trainFiles.count - held));
    split = { kind: "held-out", testFraction, seed };
  }
  if (options.trainCount !== undefined && options.trainCount < train.count)
    train = gather(train, rng.permutation(train.count).slice(0, options.trainCount));
  if (options.testCount !== undefined && options.testCount < test.count)
    test = gather(test, rng.permutation(test.count).slice(0, options.testCount));

  const statistics = inputStatistics(train);
  if (!(statistics.std > 0))
    throw new Error(
      `${fn}: every training input value is ${statistics.mean}; a constant input cannot be standardised`,
    );
  const finish = (ds: Dataset): IdxDataset => ({
    ...standardize(
      { inputs: ds.inputs, sampleShape: ds.sampleShape, labels: ds.labels, count: ds.count },
      statistics.mean,
      statistics.std,
    ),
    classes,
    classCounts: countClasses(ds, classes),
  });
  return {
    train: finish(train),
    test: finish(test),
    classes,
    sampleShape: trainFiles.sampleShape,
    statistics,
    split,
  };
}

function countClasses(ds: Dataset, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < ds.count; i++) counts[ds.labels[i]!]!++;
  return counts;
}
