import type { Dataset, LabelArray } from "./dataset.js";

/*
 * The IDX format (the distribution format of MNIST and its family: Fashion-MNIST, KMNIST, EMNIST):
 *
 *   bytes 0–1   zero
 *   byte  2     data type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
 *   byte  3     number of dimensions d
 *   then        d sizes, each a big-endian uint32
 *   then        the values in row-major order, each big-endian
 *
 * The file carries no checksum, so everything that can be checked against the byte length is.
 * Works on bytes only (no file access), so it runs in browsers too.
 */

export type IdxDataType = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

export type IdxValues = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** One decoded IDX array. */
export interface IdxArray {
  readonly dataType: IdxDataType;
  readonly shape: readonly number[];
  /** The values, row-major, in host order (a fresh copy, independent of the input bytes). */
  readonly data: IdxValues;
}

const TYPES: Readonly<Record<number, { type: IdxDataType; bytes: number }>> = {
  8: { type: "uint8", bytes: 1 },
  9: { type: "int8", bytes: 1 },
  11: { type: "int16", bytes: 2 },
  12: { type: "int32", bytes: 4 },
  13: { type: "float32", bytes: 4 },
  14: { type: "float64", bytes: 8 },
};

const hex = (b: number) => `0x${b.toString(16).padStart(2, "0")}`;

/**
 * Decodes IDX bytes. `name` (a file name, say) is used in error messages. Throws on anything that does
 * not add up: a wrong magic number, an unknown type byte, no dimensions, a zero dimension, or a byte
 * length other than the header plus exactly the values the dimensions promise (a truncated download and
 * trailing bytes are both refused).
 */
export function parseIdx(bytes: Uint8Array, name = "bytes"): IdxArray {
  const fn = `parseIdx: ${name}`;
  if (!(bytes instanceof Uint8Array)) throw new Error(`${fn} must be a Uint8Array`);
  if (bytes.length < 4)
    throw new Error(`${fn} has ${bytes.length} bytes, too short for the 4-byte IDX magic number`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    // A gzip stream starts 1f 8b; the likeliest cause is a compressed file without its .gz suffix.
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b ? " (it looks gzip-compressed: gunzip it first)" : "";
    throw new Error(
      `${fn} is not IDX data: the magic number must start with two zero bytes, got ${hex(bytes[0]!)} ${hex(bytes[1]!)}${gzip}`,
    );
  }
  const kind = TYPES[bytes[2]!];
  if (!kind)
    throw new Error(
      `${fn} has an unknown data type byte ${hex(bytes[2]!)} (expected 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)`,
    );
  const rank = bytes[3]!;
  if (rank === 0) throw new Error(`${fn} declares 0 dimensions`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes)
    throw new Error(
      `${fn} is truncated: ${rank} dimensions need a ${headerBytes}-byte header, the data has ${bytes.length} bytes`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  const available = (bytes.length - headerBytes) / kind.bytes;
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0) throw new Error(`${fn}: dimension ${i} is 0 (shape [${readShape(view, rank).join(", ")}])`);
    shape.push(d);
    // Stop multiplying once past what the bytes can hold, before the product loses integer precision.
    count = count > available ? count : count * d;
  }
  const dataBytes = bytes.length - headerBytes;
  if (count * kind.bytes !== dataBytes) {
    const need = shape.reduce((a, d) => a * d, 1) * kind.bytes;
    throw new Error(
      `${fn}: shape [${shape.join(", ")}] of ${kind.type} needs ${need} bytes of values after the ${headerBytes}-byte header, the data has ${dataBytes}${dataBytes < need ? " (truncated?)" : " (trailing bytes)"}`,
    );
  }
  return { dataType: kind.type, shape, data: decodeValues(view, headerBytes, count, kind.type) };
}

function readShape(view: DataView, rank: number): number[] {
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  return shape;
}

function decodeValues(view: DataView, at: number, count: number, type: IdxDataType): IdxValues {
  switch (type) {
    case "uint8":
      return new Uint8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + count));
    case "int8":
      return new Int8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + count));
    case "int16": {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(at + 2 * i, false);
      return out;
    }
    case "int32": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(at + 4 * i, false);
      return out;
    }
    case "float32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, false);
      return out;
    }
    case "float64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, false);
      return out;
    }
  }
}

/** A dataset read from an IDX image file and its label file. */
export interface IdxDataset extends Dataset {
  /** Number of classes: `options.classes` when given, otherwise the largest label + 1. */
  readonly classes: number;
  /** Samples per class, `classCounts[c]` for c in 0..classes-1 (a zero shows a class with no sample). */
  readonly classCounts: readonly number[];
}

export interface IdxDatasetOptions {
  /**
   * The number of classes the labels must fall in (e.g. the training set's, when reading the test set).
   * Default: taken from the labels themselves, largest + 1.
   */
  classes?: number;
  /** Names of the two sources, for error messages (default "images" and "labels"). */
  imagesName?: string;
  labelsName?: string;
}

const DATASET_OPTION_KEYS = new Set(["classes", "imagesName", "labelsName"]);

/**
 * Pairs decoded IDX images with their labels. Images of shape [count, height, width] become samples of
 * shape [1, height, width] (one channel, as the zoo's conv models expect); [count, features] stays flat.
 * uint8 pixels are scaled to [0, 1] (÷ 255, the MNIST family's convention); every other type keeps its
 * stored values, which must be finite. Labels must be a one-dimensional integer array of the same count,
 * each an integer in [0, classes).
 */
export function idxDataset(images: IdxArray, labels: IdxArray, options: IdxDatasetOptions = {}): IdxDataset {
  const fn = "idxDataset";
  if (typeof options !== "object" || options === null) throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options))
    if (!DATASET_OPTION_KEYS.has(key))
      throw new Error(`${fn}: unknown option '${key}' (expected ${[...DATASET_OPTION_KEYS].join(", ")})`);
  const imagesName = options.imagesName ?? "images";
  const labelsName = options.labelsName ?? "labels";
  checkIdxArray(fn, images, imagesName);
  checkIdxArray(fn, labels, labelsName);
  if (images.shape.length !== 2 && images.shape.length !== 3)
    throw new Error(
      `${fn}: ${imagesName} must have 2 dimensions [count, features] or 3 [count, height, width], got shape [${images.shape.join(", ")}]`,
    );
  if (labels.shape.length !== 1)
    throw new Error(
      `${fn}: ${labelsName} must have 1 dimension [count], got shape [${labels.shape.join(", ")}]`,
    );
  if (labels.dataType === "float32" || labels.dataType === "float64")
    throw new Error(`${fn}: ${labelsName} must hold integers, got ${labels.dataType}`);
  const count = images.shape[0]!;
  if (labels.shape[0] !== count)
    throw new Error(
      `${fn}: ${imagesName} holds ${count} samples but ${labelsName} holds ${labels.shape[0]} labels`,
    );
  if (options.classes !== undefined && !(Number.isInteger(options.classes) && options.classes >= 1))
    throw new Error(`${fn}: classes must be an integer ≥ 1, got ${String(options.classes)}`);

  let maxLabel = -1;
  for (let i = 0; i < count; i++) {
    const y = labels.data[i]!;
    if (y < 0) throw new Error(`${fn}: ${labelsName}[${i}] is ${y}; labels must be ≥ 0`);
    if (options.classes !== undefined && y >= options.classes)
      throw new Error(
        `${fn}: ${labelsName}[${i}] is ${y}, outside the ${options.classes} classes [0, ${options.classes - 1}]`,
      );
    if (y > maxLabel) maxLabel = y;
  }
  const classes = options.classes ?? maxLabel + 1;
  const labelArray: LabelArray =
    classes <= 0x100
      ? new Uint8Array(count)
      : classes <= 0x10000
        ? new Uint16Array(count)
        : new Int32Array(count);
  const classCounts = new Array<number>(classes).fill(0);
  for (let i = 0; i < count; i++) {
    const y = labels.data[i]!;
    labelArray[i] = y;
    classCounts[y]!++;
  }

  const inputs = new Float32Array(images.data.length);
  if (images.dataType === "uint8") {
    // A table of the 256 possible values: one load per pixel instead of a division, same float32 results.
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = v / 255;
    const pixels = images.data as Uint8Array;
    for (let i = 0; i < inputs.length; i++) inputs[i] = table[pixels[i]!]!;
  } else {
    const values = images.data;
    const perSample = inputs.length / count;
    for (let i = 0; i < inputs.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v))
        throw new Error(`${fn}: ${imagesName} value ${i} (sample ${Math.floor(i / perSample)}) is ${v}`);
      inputs[i] = v;
    }
  }
  const sampleShape =
    images.shape.length === 3 ? [1, images.shape[1]!, images.shape[2]!] : [images.shape[1]!];
  return { inputs, sampleShape, labels: labelArray, count, classes, classCounts };
}

function checkIdxArray(fn: string, a: IdxArray, name: string): void {
  if (typeof a !== "object" || a === null || !Array.isArray(a.shape) || !ArrayBuffer.isView(a.data))
    throw new Error(`${fn}: ${name} must be a decoded IDX array (see parseIdx)`);
  const size = a.shape.reduce((p, d) => p * d, 1);
  if (a.shape.some((d) => !Number.isInteger(d) || d <= 0) || (a.data as IdxValues).length !== size)
    throw new Error(
      `${fn}: ${name} has shape [${a.shape.join(", ")}] but ${(a.data as IdxValues).length} values`,
    );
}
