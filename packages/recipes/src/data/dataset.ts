import { type Rng, Tensor } from "@quant-trim/tensor";

/** Class labels, one per sample. */
export type LabelArray = Uint8Array | Uint16Array | Int32Array;

/**
 * Labelled samples of one shape, stored back to back: `inputs` holds `count × size(sampleShape)` float32
 * values in row-major order, `labels[i]` is the class of sample i. The trainer takes the number of
 * classes from the model's logits, so nothing here knows how many there are.
 */
export interface Dataset {
  readonly inputs: Float32Array;
  /** One sample's shape without the batch axis, e.g. [1, 28, 28] for MNIST. */
  readonly sampleShape: readonly number[];
  readonly labels: LabelArray;
  readonly count: number;
}

/** One minibatch: `x` is [size, ...sampleShape], `y` the labels; both freshly allocated. */
export interface Batch {
  readonly x: Tensor;
  readonly y: LabelArray;
  readonly size: number;
}

export interface BatchOptions {
  /** Skip a last batch smaller than `batchSize` (default false). */
  readonly dropLast?: boolean;
}

/** Values per sample. */
export function sampleSize(ds: Dataset): number {
  let n = 1;
  for (const d of ds.sampleShape) n *= d;
  return n;
}

/**
 * Throws, naming `fn`, unless `ds` is internally consistent: a shape of positive integers, and exactly
 * `count` samples' worth of inputs and labels. (Typed-array `subarray` clamps out-of-range bounds, so an
 * inconsistent dataset would otherwise yield blank samples labelled 0.)
 */
export function checkDataset(fn: string, ds: Dataset, what = "dataset"): void {
  if (typeof ds !== "object" || ds === null) throw new Error(`${fn}: ${what} must be an object`);
  if (!(ds.inputs instanceof Float32Array))
    throw new Error(`${fn}: ${what}.inputs must be a Float32Array, got ${describe(ds.inputs)}`);
  if (
    !(ds.labels instanceof Uint8Array || ds.labels instanceof Uint16Array || ds.labels instanceof Int32Array)
  )
    throw new Error(`${fn}: ${what}.labels must be a Uint8Array, Uint16Array or Int32Array`);
  const shape = ds.sampleShape;
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d <= 0))
    throw new Error(`${fn}: ${what}.sampleShape must list positive integers, got ${JSON.stringify(shape)}`);
  if (!Number.isInteger(ds.count) || ds.count < 0)
    throw new Error(`${fn}: ${what} count must be a non-negative integer, got ${ds.count}`);
  const size = sampleSize(ds);
  if (ds.inputs.length !== ds.count * size || ds.labels.length !== ds.count)
    throw new Error(
      `${fn}: a ${what} of ${ds.count} samples of shape [${shape.join(", ")}] needs ${ds.count * size} input values and ${ds.count} labels, got ${ds.inputs.length} and ${ds.labels.length}`,
    );
}

function describe(x: unknown): string {
  return x === null ? "null" : typeof x === "object" ? (x.constructor?.name ?? "object") : typeof x;
}

function newLabels(like: LabelArray, n: number): LabelArray {
  if (like instanceof Uint8Array) return new Uint8Array(n);
  if (like instanceof Uint16Array) return new Uint16Array(n);
  return new Int32Array(n);
}

/** A dataset over existing arrays, checked. */
export function dataset(inputs: Float32Array, sampleShape: readonly number[], labels: LabelArray): Dataset {
  const ds = {
    inputs,
    sampleShape: Array.isArray(sampleShape) ? [...sampleShape] : sampleShape,
    labels,
    count: labels?.length,
  };
  checkDataset("dataset", ds);
  return ds;
}

/** The samples at `indices`, copied into a new dataset (in that order). */
export function gather(source: Dataset, indices: Int32Array): Dataset & { readonly indices: Int32Array } {
  checkDataset("gather", source, "source");
  const size = sampleSize(source);
  const count = indices.length;
  const inputs = new Float32Array(count * size);
  const labels = newLabels(source.labels, count);
  for (let i = 0; i < count; i++) {
    const j = indices[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= source.count) {
      throw new Error(`gather: indices[${i}] = ${j} is outside the dataset's ${source.count} samples`);
    }
    inputs.set(source.inputs.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = source.labels[j]!;
  }
  return { inputs, sampleShape: source.sampleShape, labels, count, indices };
}

/** The first `n` samples (views on the same arrays, no copy). */
export function head(ds: Dataset, n: number): Dataset {
  checkDataset("head", ds);
  if (!Number.isInteger(n) || n < 0) throw new Error(`head: n must be a non-negative integer, got ${n}`);
  const count = Math.min(n, ds.count);
  const size = sampleSize(ds);
  return {
    inputs: ds.inputs.subarray(0, count * size),
    sampleShape: ds.sampleShape,
    labels: ds.labels.subarray(0, count),
    count,
  };
}

/** `n` samples drawn without replacement by a seeded permutation (all of them when n ≥ count). */
export function sample(ds: Dataset, n: number, rng: Rng): Dataset {
  if (!Number.isInteger(n) || n < 0) throw new Error(`sample: n must be a non-negative integer, got ${n}`);
  return gather(ds, rng.permutation(ds.count).subarray(0, Math.min(n, ds.count)));
}

/**
 * A validation split: the last ⌊fraction·count⌋ samples become the validation set, the rest stay for
 * training (views, no copy). The split is taken before any shuffling, as Keras's `validation_split`
 * does, so it is the same for every seed; shuffle the dataset first if its order is meaningful.
 */
export function splitValidation(ds: Dataset, fraction: number): { train: Dataset; validation: Dataset } {
  checkDataset("splitValidation", ds);
  if (typeof fraction !== "number" || !(fraction > 0 && fraction < 1))
    throw new Error(`splitValidation: fraction must be a number in (0, 1), got ${String(fraction)}`);
  const held = Math.floor(fraction * ds.count);
  const kept = ds.count - held;
  if (held === 0 || kept === 0)
    throw new Error(
      `splitValidation: fraction ${fraction} of ${ds.count} samples leaves ${held} for validation and ${kept} for training; both need at least one`,
    );
  const size = sampleSize(ds);
  const part = (from: number, to: number): Dataset => ({
    inputs: ds.inputs.subarray(from * size, to * size),
    sampleShape: ds.sampleShape,
    labels: ds.labels.subarray(from, to),
    count: to - from,
  });
  return { train: part(0, kept), validation: part(kept, ds.count) };
}

/**
 * A new dataset with every input value standardised, (x − mean) / std (labels are shared). Both
 * statistics are the caller's, usually measured on the training data.
 */
export function standardize<D extends Dataset>(ds: D, mean: number, std: number): D {
  if (!Number.isFinite(mean)) throw new Error(`standardize: mean must be finite, got ${mean}`);
  if (!(std > 0 && Number.isFinite(std)))
    throw new Error(`standardize: std must be a finite number > 0, got ${std}`);
  const inputs = new Float32Array(ds.inputs.length);
  for (let i = 0; i < inputs.length; i++) inputs[i] = (ds.inputs[i]! - mean) / std;
  return { ...ds, inputs };
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
  checkDataset("batches", ds);
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
  const size = sampleSize(ds);
  for (let start = 0; start < end; start += batchSize) {
    const n = Math.min(batchSize, end - start);
    // Fresh arrays per batch: callers (and autograd graphs) may hold on to earlier batches.
    const x = new Float32Array(n * size);
    const y = newLabels(ds.labels, n);
    for (let i = 0; i < n; i++) {
      const j = order ? order[start + i]! : start + i;
      x.set(ds.inputs.subarray(j * size, (j + 1) * size), i * size);
      y[i] = ds.labels[j]!;
    }
    yield { x: new Tensor(x, [n, ...ds.sampleShape]), y, size: n };
  }
}
