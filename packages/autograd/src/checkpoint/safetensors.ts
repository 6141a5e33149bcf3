import { fmtShape, Tensor } from "@quant-trim/tensor";
import { quote } from "./quote.js";

/**
 * The safetensors container (the Hugging Face format), read and written without any model knowledge.
 *
 * Layout of a file:
 *   bytes [0, 8)        N, the header length, an unsigned 64-bit little-endian integer;
 *   bytes [8, 8+N)      the header: UTF-8 JSON object, starting with '{', possibly padded with trailing
 *                       spaces. Each key except `__metadata__` names a tensor and maps to
 *                       `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`; `__metadata__`
 *                       (optional) maps strings to strings;
 *   bytes [8+N, end)    the data section: raw little-endian tensor bytes, row-major. `data_offsets` are
 *                       relative to the start of the data section, and the tensors tile it exactly
 *                       (no gap, no overlap, no trailing byte).
 *
 * The writer pads the header with spaces to a multiple of 8 bytes and lays the tensors out by element size
 * (largest first) then by name, so every tensor starts at an offset aligned to its element size. The reader
 * accepts any order and any trailing JSON whitespace, as the reference reader does.
 *
 * Limits (documented deviations are marked):
 *   - the header may hold at most SAFETENSORS_MAX_HEADER_BYTES (100,000,000) bytes, the reference cap;
 *   - a shape may have at most SAFETENSORS_MAX_RANK (32) dimensions (the reference has no cap; this one keeps
 *     a hostile file from making the tensor core build views of absurd rank);
 *   - duplicate JSON keys are rejected at every level (JSON.parse would silently keep the last one);
 *   - tensor entries may hold only `dtype`, `shape` and `data_offsets` (unknown fields are rejected);
 *   - sub-byte dtypes of newer safetensors versions (F4, F6_*) and complex types are rejected as unknown.
 *
 * This module only turns bytes into tensors and back, so it runs wherever typed arrays do; reading and
 * writing files (atomically) is `safetensors-file.ts`.
 */

export class CheckpointError extends Error {
  /** The problem without the `checkpoint: ` prefix, for callers that add their own context. */
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`checkpoint: ${reason}`, options);
    this.name = "CheckpointError";
    this.reason = reason;
  }
}

/** The reference implementation's cap on the JSON header, in bytes. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;
/** Highest tensor rank this reader accepts (see the module comment). */
export const SAFETENSORS_MAX_RANK = 32;

const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type SafetensorsDType = keyof typeof DTYPE_BYTES;

export function isSafetensorsDType(name: unknown): name is SafetensorsDType {
  return typeof name === "string" && Object.hasOwn(DTYPE_BYTES, name);
}

/** Bytes per element of a safetensors dtype. */
export function dtypeByteSize(dtype: SafetensorsDType): number {
  return DTYPE_BYTES[dtype];
}

/** Any tensor as stored: its dtype, its shape and its row-major little-endian bytes. */
export interface RawTensor {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export type IntTypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** An integer tensor to write: a row-major typed array and its shape. The dtype follows the array type. */
export interface IntTensorLike {
  readonly shape: readonly number[];
  readonly data: IntTypedArray;
}

/** What the writer accepts: float tensors, integer arrays, or raw bytes (e.g. F16/BF16 passed through). */
export type SafetensorsEntry = Tensor | IntTensorLike | RawTensor;

export interface DecodedSafetensors {
  /** The F32 and F64 tensors, as contiguous tensors of the matching dtype. */
  tensors: Record<string, Tensor>;
  /** Every tensor (F32/F64 included) as dtype, shape and bytes; a float tensor shares its buffer with these bytes. */
  raw: Record<string, RawTensor>;
  metadata: Record<string, string>;
}

const METADATA_KEY = "__metadata__";
const LENGTH_PREFIX_BYTES = 8;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8Encoder = new TextEncoder();
// fatal: reject invalid UTF-8 instead of substituting U+FFFD; ignoreBOM: keep a BOM so that the '{' check sees it.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------------------
// Writing

interface PreparedTensor {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Row-major element bytes in host order (swapped to little-endian once copied into the file). */
  readonly hostBytes: Uint8Array;
}

/**
 * Serialise tensors and string metadata into safetensors bytes. Validates everything before allocating
 * the output; throws CheckpointError naming the offending tensor or metadata key.
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, SafetensorsEntry>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  if (typeof tensors !== "object" || tensors === null) {
    throw new CheckpointError(
      `encodeSafetensors: tensors must be a record of named tensors, got ${typeof tensors}`,
    );
  }
  const prepared: PreparedTensor[] = [];
  for (const name of Object.keys(tensors)) prepared.push(prepareTensor(name, tensors[name]));
  prepared.sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || compareCodePoints(a.name, b.name));

  const headerParts: string[] = [];
  const metadataJson = encodeMetadata(metadata);
  if (metadataJson !== undefined) headerParts.push(`${JSON.stringify(METADATA_KEY)}:${metadataJson}`);
  let dataBytes = 0;
  for (const t of prepared) {
    const begin = dataBytes;
    dataBytes += t.hostBytes.byteLength;
    headerParts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(",")}],"data_offsets":[${begin},${dataBytes}]}`,
    );
  }
  const headerJson = utf8Encoder.encode(`{${headerParts.join(",")}}`);
  const headerBytes = Math.ceil(headerJson.byteLength / 8) * 8;
  if (headerBytes > SAFETENSORS_MAX_HEADER_BYTES) {
    throw new CheckpointError(
      `encodeSafetensors: the header would take ${headerBytes} bytes, over the limit of ${SAFETENSORS_MAX_HEADER_BYTES}`,
    );
  }
  const dataStart = LENGTH_PREFIX_BYTES + headerBytes;
  let out: Uint8Array;
  try {
    out = new Uint8Array(dataStart + dataBytes);
  } catch (err) {
    throw new CheckpointError(`encodeSafetensors: cannot allocate ${dataStart + dataBytes} bytes`, {
      cause: err,
    });
  }
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes, true);
  view.setUint32(4, 0, true);
  out.set(headerJson, LENGTH_PREFIX_BYTES);
  out.fill(0x20, LENGTH_PREFIX_BYTES + headerJson.byteLength, dataStart);
  let at = dataStart;
  for (const t of prepared) {
    out.set(t.hostBytes, at);
    toLittleEndian(out.subarray(at, at + t.hostBytes.byteLength), DTYPE_BYTES[t.dtype]);
    at += t.hostBytes.byteLength;
  }
  return out;
}

function prepareTensor(name: string, entry: SafetensorsEntry | undefined): PreparedTensor {
  if (name === METADATA_KEY) {
    throw new CheckpointError(`encodeSafetensors: '${METADATA_KEY}' is reserved and cannot name a tensor`);
  }
  if (!isWellFormed(name)) {
    throw new CheckpointError(
      `encodeSafetensors: tensor name ${JSON.stringify(name)} contains a lone surrogate`,
    );
  }
  if (entry instanceof Tensor) {
    const shape = checkShapeToWrite(name, entry.shape);
    return { name, dtype: entry.dtype === "float64" ? "F64" : "F32", shape, hostBytes: tensorBytes(entry) };
  }
  if (typeof entry !== "object" || entry === null) {
    throw new CheckpointError(
      `encodeSafetensors: tensor ${quote(name)} must be a Tensor, {shape, data} or {dtype, shape, bytes}, got ${entry === null ? "null" : typeof entry}`,
    );
  }
  const shape = checkShapeToWrite(name, entry.shape);
  const count = elementCount(shape);
  if ("bytes" in entry && "dtype" in entry) {
    if (!isSafetensorsDType(entry.dtype)) {
      throw new CheckpointError(
        `encodeSafetensors: tensor ${quote(name)} has unknown dtype ${quote(String(entry.dtype))}`,
      );
    }
    if (!(entry.bytes instanceof Uint8Array)) {
      throw new CheckpointError(`encodeSafetensors: tensor ${quote(name)} bytes must be a Uint8Array`);
    }
    const expected = count * DTYPE_BYTES[entry.dtype];
    if (entry.bytes.byteLength !== expected) {
      throw new CheckpointError(
        `encodeSafetensors: tensor ${quote(name)} of dtype ${entry.dtype} and shape ${fmtShape(shape)} needs ${expected} bytes, got ${entry.bytes.byteLength}`,
      );
    }
    // Raw bytes are already little-endian; undo the host-order swap the writer applies after copying.
    const hostBytes = HOST_IS_LITTLE_ENDIAN ? entry.bytes : swapped(entry.bytes, DTYPE_BYTES[entry.dtype]);
    return { name, dtype: entry.dtype, shape, hostBytes };
  }
  if ("data" in entry) {
    const dtype = intDtypeOf(entry.data);
    if (dtype === undefined) {
      throw new CheckpointError(
        `encodeSafetensors: tensor ${quote(name)} data must be an integer typed array (Int8Array … BigUint64Array), got ${describe(entry.data)}; pass float data as a Tensor`,
      );
    }
    if (entry.data.length !== count) {
      throw new CheckpointError(
        `encodeSafetensors: tensor ${quote(name)} has shape ${fmtShape(shape)} (${count} elements) but its data holds ${entry.data.length}`,
      );
    }
    const d = entry.data;
    return { name, dtype, shape, hostBytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
  }
  throw new CheckpointError(
    `encodeSafetensors: tensor ${quote(name)} must be a Tensor, {shape, data} or {dtype, shape, bytes}`,
  );
}

function checkShapeToWrite(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) {
    throw new CheckpointError(
      `encodeSafetensors: tensor ${quote(name)} shape must be an array, got ${describe(shape)}`,
    );
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new CheckpointError(
        `encodeSafetensors: tensor ${quote(name)} shape [${shape.map(String).join(", ")}] must hold non-negative integers`,
      );
    }
  }
  if (shape.length > SAFETENSORS_MAX_RANK) {
    throw new CheckpointError(
      `encodeSafetensors: tensor ${quote(name)} has ${shape.length} dimensions; at most ${SAFETENSORS_MAX_RANK} are supported`,
    );
  }
  return [...shape];
}

function intDtypeOf(data: unknown): SafetensorsDType | undefined {
  if (data instanceof Int8Array) return "I8";
  if (data instanceof Uint8Array) return "U8";
  if (data instanceof Int16Array) return "I16";
  if (data instanceof Uint16Array) return "U16";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof Uint32Array) return "U32";
  if (data instanceof BigInt64Array) return "I64";
  if (data instanceof BigUint64Array) return "U64";
  return undefined;
}

/**
 * A tensor's elements as row-major bytes in host order. Copies 32-bit words, never numbers, so that NaN
 * payloads (including signalling NaNs, which a float load would quieten) survive bit for bit.
 */
function tensorBytes(t: Tensor): Uint8Array {
  const data = t.data;
  const wordsPerElement = data.BYTES_PER_ELEMENT / 4;
  const n = t.size;
  if (t.isContiguous()) {
    return new Uint8Array(
      data.buffer,
      data.byteOffset + t.offset * data.BYTES_PER_ELEMENT,
      n * data.BYTES_PER_ELEMENT,
    );
  }
  const src = new Uint32Array(data.buffer, data.byteOffset, data.length * wordsPerElement);
  const dst = new Uint32Array(n * wordsPerElement);
  const shape = t.shape;
  const strides = t.strides;
  const last = shape.length - 1; // non-contiguous implies rank >= 2 and n > 0
  const len = shape[last]!;
  const step = strides[last]! * wordsPerElement;
  const idx = new Array<number>(shape.length).fill(0);
  let base = t.offset * wordsPerElement;
  let k = 0;
  for (let row = 0, rows = n / len; row < rows; row++) {
    let p = base;
    if (wordsPerElement === 1) {
      for (let j = 0; j < len; j++, p += step) dst[k++] = src[p]!;
    } else {
      for (let j = 0; j < len; j++, p += step) {
        dst[k++] = src[p]!;
        dst[k++] = src[p + 1]!;
      }
    }
    for (let ax = last - 1; ax >= 0; ax--) {
      idx[ax]!++;
      base += strides[ax]! * wordsPerElement;
      if (idx[ax]! < shape[ax]!) break;
      base -= idx[ax]! * strides[ax]! * wordsPerElement;
      idx[ax] = 0;
    }
  }
  return new Uint8Array(dst.buffer);
}

function encodeMetadata(metadata: Readonly<Record<string, string>> | undefined): string | undefined {
  if (metadata === undefined) return undefined;
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    throw new CheckpointError(
      `encodeSafetensors: metadata must be a record of strings, got ${describe(metadata)}`,
    );
  }
  const keys = Object.keys(metadata).sort(compareCodePoints);
  if (keys.length === 0) return undefined;
  const parts: string[] = [];
  for (const key of keys) {
    const value: unknown = metadata[key];
    if (typeof value !== "string") {
      throw new CheckpointError(
        `encodeSafetensors: metadata ${quote(key)} must be a string (safetensors metadata is a string map), got ${describe(value)}`,
      );
    }
    if (!isWellFormed(key) || !isWellFormed(value)) {
      throw new CheckpointError(`encodeSafetensors: metadata ${quote(key)} contains a lone surrogate`);
    }
    parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
  }
  return `{${parts.join(",")}}`;
}

// ---------------------------------------------------------------------------------------------------------
// Reading

interface CheckedEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Parse and validate safetensors bytes. Every way a file can be malformed ends in a CheckpointError that
 * names the problem; nothing is allocated from a length the file does not back with real bytes.
 * The returned tensors own fresh buffers (they never alias `bytes`).
 */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new CheckpointError(`decodeSafetensors: expected a Uint8Array, got ${describe(bytes)}`);
  }
  // A plain view: Node Buffers are Uint8Arrays whose slice() aliases memory.
  const file = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (file.byteLength < LENGTH_PREFIX_BYTES) {
    throw new CheckpointError(
      `the file holds ${file.byteLength} bytes, fewer than the ${LENGTH_PREFIX_BYTES}-byte header length`,
    );
  }
  const headerLength = new DataView(file.buffer, file.byteOffset, LENGTH_PREFIX_BYTES).getBigUint64(0, true);
  if (headerLength > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    throw new CheckpointError(
      `header length ${headerLength} bytes exceeds the limit of ${SAFETENSORS_MAX_HEADER_BYTES} bytes`,
    );
  }
  const n = Number(headerLength);
  const available = file.byteLength - LENGTH_PREFIX_BYTES;
  if (n > available) {
    throw new CheckpointError(
      `header length ${n} bytes exceeds the file: only ${available} bytes follow the length prefix`,
    );
  }
  if (n < 2) throw new CheckpointError(`header length ${n} bytes is too short for a JSON object`);

  const headerText = decodeHeaderText(file.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + n));
  const header = parseHeaderJson(headerText);
  const dataStart = LENGTH_PREFIX_BYTES + n;
  const dataLength = file.byteLength - dataStart;

  let metadata: Record<string, string> = Object.create(null);
  const entries: CheckedEntry[] = [];
  for (const name of Object.keys(header)) {
    if (name === METADATA_KEY) metadata = checkMetadata(header[name]);
    else entries.push(checkEntry(name, header[name], dataLength));
  }
  checkTiling(entries, dataLength);

  const tensors: Record<string, Tensor> = Object.create(null);
  const raw: Record<string, RawTensor> = Object.create(null);
  for (const e of entries) {
    // A fresh buffer per tensor: aligned for typed-array views and independent of the input.
    const own = new Uint8Array(e.end - e.begin);
    own.set(file.subarray(dataStart + e.begin, dataStart + e.end));
    raw[e.name] = { dtype: e.dtype, shape: e.shape, bytes: own };
    if (e.dtype === "F32" || e.dtype === "F64") {
      const host = HOST_IS_LITTLE_ENDIAN ? own : swapped(own, DTYPE_BYTES[e.dtype]);
      const data =
        e.dtype === "F32"
          ? new Float32Array(host.buffer, 0, host.byteLength / 4)
          : new Float64Array(host.buffer, 0, host.byteLength / 8);
      tensors[e.name] = new Tensor(data, e.shape);
    }
  }
  return { tensors, raw, metadata };
}

function decodeHeaderText(headerBytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8Decoder.decode(headerBytes);
  } catch (err) {
    throw new CheckpointError("the header is not valid UTF-8", { cause: err });
  }
  if (text.charCodeAt(0) !== 0x7b) {
    throw new CheckpointError(`the header must start with '{', found ${JSON.stringify(text.slice(0, 8))}`);
  }
  return text;
}

function parseHeaderJson(text: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new CheckpointError(`the header is not valid JSON (${detail})`, { cause: err });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new CheckpointError(`the header must be a JSON object, got ${describe(header)}`);
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) {
    throw new CheckpointError(`the header repeats the key ${JSON.stringify(duplicate)}`);
  }
  return header as Record<string, unknown>;
}

/**
 * The first key that appears twice in one JSON object of `json` (which must already be valid JSON), or
 * undefined. JSON.parse silently keeps the last duplicate, which would let two tensors claim one name.
 * A linear scan: strings are skipped with their escapes, a string followed by ':' is a key of the
 * innermost open object.
 */
function findDuplicateKey(json: string): string | undefined {
  const open: (Set<string> | null)[] = []; // one entry per open container; null for arrays
  const n = json.length;
  let i = 0;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      const start = i++;
      let escaped = false;
      for (;;) {
        const d = json.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i += 2;
        } else if (d === 0x22) break;
        else i++;
      }
      i++;
      let j = i;
      while (j < n && isJsonWhitespace(json.charCodeAt(j))) j++;
      const keys = open[open.length - 1];
      if (json.charCodeAt(j) === 0x3a && keys) {
        const key = escaped ? (JSON.parse(json.slice(start, i)) as string) : json.slice(start + 1, i - 1);
        if (keys.has(key)) return key;
        keys.add(key);
      }
      continue;
    }
    if (c === 0x7b) open.push(new Set());
    else if (c === 0x5b) open.push(null);
    else if (c === 0x7d || c === 0x5d) open.pop();
    i++;
  }
  return undefined;
}

function isJsonWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function checkMetadata(value: unknown): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (value === null) return out; // the reference reader treats null as "no metadata"
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new CheckpointError(`'${METADATA_KEY}' must be an object of strings, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const v = record[key];
    if (typeof v !== "string") {
      throw new CheckpointError(
        `'${METADATA_KEY}' value for ${quote(key)} must be a string, got ${describe(v)}`,
      );
    }
    if (!isWellFormed(key) || !isWellFormed(v)) {
      throw new CheckpointError(`'${METADATA_KEY}' entry ${JSON.stringify(key)} contains a lone surrogate`);
    }
    out[key] = v;
  }
  return out;
}

const ENTRY_FIELDS = new Set(["dtype", "shape", "data_offsets"]);

function checkEntry(name: string, info: unknown, dataLength: number): CheckedEntry {
  const label = `tensor ${quote(name)}`;
  if (!isWellFormed(name)) throw new CheckpointError(`${label} has a name with a lone surrogate`);
  if (typeof info !== "object" || info === null || Array.isArray(info)) {
    throw new CheckpointError(`${label} must map to {dtype, shape, data_offsets}, got ${describe(info)}`);
  }
  const fields = info as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!ENTRY_FIELDS.has(key)) throw new CheckpointError(`${label} has an unknown field ${quote(key)}`);
  }
  const dtype = fields.dtype;
  if (dtype === undefined) throw new CheckpointError(`${label} has no dtype`);
  if (typeof dtype !== "string")
    throw new CheckpointError(`${label} dtype must be a string, got ${describe(dtype)}`);
  if (!isSafetensorsDType(dtype)) throw new CheckpointError(`${label} has unknown dtype ${quote(dtype)}`);

  const shape = fields.shape;
  if (shape === undefined) throw new CheckpointError(`${label} has no shape`);
  if (!Array.isArray(shape))
    throw new CheckpointError(`${label} shape must be an array, got ${describe(shape)}`);
  if (shape.length > SAFETENSORS_MAX_RANK) {
    throw new CheckpointError(
      `${label} has ${shape.length} dimensions; at most ${SAFETENSORS_MAX_RANK} are supported`,
    );
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) {
      throw new CheckpointError(`${label} shape ${fmtList(shape)} must hold non-negative integers`);
    }
  }

  const offsets = fields.data_offsets;
  if (offsets === undefined) throw new CheckpointError(`${label} has no data_offsets`);
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new CheckpointError(`${label} data_offsets must be [begin, end], got ${fmtValue(offsets)}`);
  }
  const [begin, end] = offsets as unknown[];
  if (
    !Number.isSafeInteger(begin) ||
    !Number.isSafeInteger(end) ||
    (begin as number) < 0 ||
    (end as number) < 0
  ) {
    throw new CheckpointError(`${label} data_offsets ${fmtList(offsets)} must be non-negative integers`);
  }
  const b = begin as number;
  const e = end as number;
  if (e < b) throw new CheckpointError(`${label} data_offsets [${b}, ${e}] end before they begin`);
  if (e > dataLength) {
    throw new CheckpointError(
      `${label} data_offsets [${b}, ${e}] exceed the data section of ${dataLength} bytes`,
    );
  }
  const dims = shape as number[];
  const span = e - b;
  const elementBytes = DTYPE_BYTES[dtype];
  // Multiply with an early exit so a shape like [2^52, 2^52] never loses precision: once the element count
  // passes what the span could hold, the mismatch is certain.
  let count = dims.includes(0) ? 0 : 1;
  for (let i = 0; i < dims.length && count > 0 && count <= span; i++) count *= dims[i]!;
  if (count * elementBytes !== span) {
    const needs = count <= span ? `${count * elementBytes} bytes` : `more than the ${span} bytes available`;
    throw new CheckpointError(
      `${label} of dtype ${dtype} and shape ${fmtShape(dims)} needs ${needs}, but data_offsets [${b}, ${e}] span ${span} bytes`,
    );
  }
  return { name, dtype, shape: [...dims], begin: b, end: e };
}

/** The reference rule: sorted by offsets, the tensors tile the data section from 0 to its end exactly. */
function checkTiling(entries: CheckedEntry[], dataLength: number): void {
  const sorted = [...entries].sort((x, y) => x.begin - y.begin || x.end - y.end);
  let cursor = 0;
  let previous: CheckedEntry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor && previous) {
      throw new CheckpointError(
        `tensor ${quote(e.name)} data_offsets [${e.begin}, ${e.end}] overlap tensor ${quote(previous.name)} data_offsets [${previous.begin}, ${previous.end}]`,
      );
    }
    if (e.begin > cursor) {
      throw new CheckpointError(
        `the data section has a gap: bytes [${cursor}, ${e.begin}) before tensor ${quote(e.name)} belong to no tensor`,
      );
    }
    cursor = e.end;
    previous = e;
  }
  if (cursor !== dataLength) {
    throw new CheckpointError(
      `the tensors cover ${cursor} bytes but the data section holds ${dataLength}: bytes [${cursor}, ${dataLength}) belong to no tensor`,
    );
  }
}

/**
 * A raw tensor's elements as the matching typed array (a copy, so alignment never matters): integers as
 * themselves, F32/F64 as floats, and F16/BF16/F8/BOOL as their unsigned bit patterns.
 */
export function rawTensorArray(raw: RawTensor): IntTypedArray | Float32Array | Float64Array {
  if (!isSafetensorsDType(raw.dtype)) {
    throw new CheckpointError(`rawTensorArray: unknown dtype ${quote(String(raw.dtype))}`);
  }
  const width = DTYPE_BYTES[raw.dtype];
  if (raw.bytes.byteLength % width !== 0) {
    throw new CheckpointError(
      `rawTensorArray: ${raw.bytes.byteLength} bytes is not a whole number of ${raw.dtype} elements`,
    );
  }
  const own = HOST_IS_LITTLE_ENDIAN ? raw.bytes.slice() : swapped(raw.bytes, width);
  const buf = own.buffer;
  const n = own.byteLength / width;
  switch (raw.dtype) {
    case "I8":
      return new Int8Array(buf, 0, n);
    case "I16":
      return new Int16Array(buf, 0, n);
    case "U16":
    case "F16":
    case "BF16":
      return new Uint16Array(buf, 0, n);
    case "I32":
      return new Int32Array(buf, 0, n);
    case "U32":
      return new Uint32Array(buf, 0, n);
    case "F32":
      return new Float32Array(buf, 0, n);
    case "I64":
      return new BigInt64Array(buf, 0, n);
    case "U64":
      return new BigUint64Array(buf, 0, n);
    case "F64":
      return new Float64Array(buf, 0, n);
    default:
      return new Uint8Array(buf, 0, n);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** Byte-swap a copy of little-endian bytes into host order (and back: the swap is its own inverse). */
function swapped(bytes: Uint8Array, width: number): Uint8Array {
  const out = bytes.slice();
  toLittleEndian(out, width);
  return out;
}

/** Host order → little-endian in place; a no-op on little-endian hosts (every platform Node ships for today). */
function toLittleEndian(bytes: Uint8Array, width: number): void {
  if (HOST_IS_LITTLE_ENDIAN || width === 1) return;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Unicode code point order (= UTF-8 byte order) for well-formed strings; JS `<` compares UTF-16 units. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Surrogates stand for code points above U+FFFF, so they must sort after U+E000..U+FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

// In a /u regex a valid surrogate pair is one code point, so only lone surrogates match.
const LONE_SURROGATE = /\p{Surrogate}/u;
function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

function fmtValue(v: unknown): string {
  if (Array.isArray(v)) return fmtList(v);
  return describe(v);
}

/** A JSON array from the header for an error message, cut short when a hostile file makes it huge. */
function fmtList(values: readonly unknown[]): string {
  const shown = values
    .slice(0, 8)
    .map((x) => (typeof x === "number" || typeof x === "boolean" ? String(x) : describe(x)));
  return `[${shown.join(", ")}${values.length > 8 ? `, … (${values.length} items)` : ""}]`;
}
