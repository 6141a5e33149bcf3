import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { type IdxSplit, type IdxSplitOptions, idxSplit } from "./idx-split.js";

/*
 * IDX datasets on disk, found by the MNIST family's standard file names:
 *
 *   [<prefix>-](train|t10k|test)-(images|labels)(-|.)idx<d>-ubyte[.gz]
 *
 * e.g. train-images-idx3-ubyte.gz (MNIST, Fashion-MNIST), train-images.idx3-ubyte (common unpacked
 * copies), emnist-balanced-test-labels-idx1-ubyte.gz (EMNIST). Node only: the browser-safe decoding is in
 * idx.ts and idx-split.ts.
 */

export type IdxRole = "trainImages" | "trainLabels" | "testImages" | "testLabels";

/** The files of one IDX dataset (test files may be absent: then the training files are split). */
export interface IdxFileSet {
  readonly dir: string;
  readonly trainImages: string;
  readonly trainLabels: string;
  readonly testImages: string | null;
  readonly testLabels: string | null;
}

export interface FindIdxFilesOptions {
  /** Only files whose name starts with `<prefix>-` (e.g. "emnist-balanced"); needed when several sets share a folder. */
  prefix?: string;
}

const NAME = /^(?:(.+)-)?(train|t10k|test)-(images|labels)[-.]idx\d+-ubyte(\.gz)?$/;

/**
 * Finds the train/test files of an IDX dataset in `dir`. When a file exists both plain and gzipped, the
 * plain one is used (an unpacked copy next to its archive). Throws, naming the folder, when the training
 * pair is missing, when only half of the test pair is there, or when a role matches several files.
 */
export function findIdxFiles(dir: string, options: FindIdxFilesOptions = {}): IdxFileSet {
  const fn = "findIdxFiles";
  if (typeof dir !== "string" || dir.trim() === "") throw new Error(`${fn}: dir must be a non-blank path`);
  if (typeof options !== "object" || options === null) throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options))
    if (key !== "prefix") throw new Error(`${fn}: unknown option '${key}' (expected prefix)`);
  const prefix = options.prefix;
  if (prefix !== undefined && (typeof prefix !== "string" || prefix === ""))
    throw new Error(`${fn}: prefix must be a non-empty string, got ${JSON.stringify(prefix)}`);
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    entries = readdirSync(dir).sort();
  } catch (e) {
    throw new Error(`${fn}: cannot read the folder '${dir}': ${(e as Error).message}`, { cause: e });
  }
  // Base name (without .gz) → the names found for it, per role.
  const found: Record<IdxRole, Map<string, string[]>> = {
    trainImages: new Map(),
    trainLabels: new Map(),
    testImages: new Map(),
    testLabels: new Map(),
  };
  for (const entry of entries) {
    const m = NAME.exec(entry);
    if (!m) continue;
    if (prefix !== undefined && m[1] !== prefix) continue;
    const role =
      `${m[2] === "train" ? "train" : "test"}${m[3] === "images" ? "Images" : "Labels"}` as IdxRole;
    const base = m[4] ? entry.slice(0, -3) : entry;
    found[role].set(base, [...(found[role].get(base) ?? []), entry]);
  }
  const pick = (role: IdxRole): string | null => {
    const bases = [...found[role].keys()];
    if (bases.length === 0) return null;
    if (bases.length > 1) {
      const all = bases.flatMap((b) => found[role].get(b)!);
      throw new Error(
        `${fn}: '${dir}' holds several ${role} files (${all.join(", ")}); ${prefix === undefined ? "pick one set with the prefix option" : "keep one"}`,
      );
    }
    // Plain before .gz: names sort so that the plain name comes first.
    return join(dir, found[role].get(bases[0]!)!.sort()[0]!);
  };
  const trainImages = pick("trainImages");
  const trainLabels = pick("trainLabels");
  if (trainImages === null || trainLabels === null) {
    const missing = trainImages === null ? "train-images-idx3-ubyte[.gz]" : "train-labels-idx1-ubyte[.gz]";
    const idxLike = entries.filter((e) => /idx\d/.test(e));
    throw new Error(
      `${fn}: '${dir}' has no ${missing}${prefix === undefined ? "" : ` with prefix '${prefix}-'`}${idxLike.length > 0 ? ` (IDX-like files there: ${idxLike.join(", ")})` : ""}`,
    );
  }
  const testImages = pick("testImages");
  const testLabels = pick("testLabels");
  if ((testImages === null) !== (testLabels === null))
    throw new Error(
      `${fn}: '${dir}' has ${testImages ?? testLabels} but not its ${testImages === null ? "images" : "labels"} file (t10k-${testImages === null ? "images-idx3" : "labels-idx1"}-ubyte[.gz])`,
    );
  return { dir, trainImages, trainLabels, testImages, testLabels };
}

export interface ReadIdxFileOptions {
  /** Refuse files (and gunzipped contents) larger than this many bytes (default 1 GiB). */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 2 ** 30;

/**
 * The bytes of one IDX file, gunzipped when its name ends in `.gz`. Only regular files are read: the
 * file is opened without blocking and checked before reading, so a FIFO cannot hang the process and a
 * device cannot stream forever. Every error names the file.
 */
export function readIdxFile(path: string, options: ReadIdxFileOptions = {}): Uint8Array {
  return readIdxBytes(path, options).data;
}

/** The file's bytes as stored (`raw`) and as IDX (`data`, gunzipped for .gz; the same bytes otherwise). */
function readIdxBytes(path: string, options: ReadIdxFileOptions): { raw: Uint8Array; data: Uint8Array } {
  const fn = "readIdxFile";
  if (typeof path !== "string" || path.trim() === "") throw new Error(`${fn}: path must be a non-blank path`);
  if (typeof options !== "object" || options === null) throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options))
    if (key !== "maxBytes") throw new Error(`${fn}: unknown option '${key}' (expected maxBytes)`);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!(Number.isInteger(maxBytes) && maxBytes > 0))
    throw new Error(`${fn}: maxBytes must be a positive integer, got ${String(maxBytes)}`);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new Error(`${fn}: cannot open '${path}': ${(e as Error).message}`, { cause: e });
  }
  let raw: Buffer;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${fn}: '${path}' is ${kindOf(st)}, not a regular file`);
    if (st.size > maxBytes)
      throw new Error(`${fn}: '${path}' has ${st.size} bytes, more than the limit of ${maxBytes}`);
    raw = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  // Plain Uint8Array views: callers get the type the browser-safe decoder takes, not a Node Buffer.
  const plain = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (!path.endsWith(".gz")) return { raw: plain(raw), data: plain(raw) };
  if (raw[0] !== 0x1f || raw[1] !== 0x8b)
    throw new Error(`${fn}: '${path}' is named .gz but is not gzip data`);
  try {
    return { raw: plain(raw), data: plain(gunzipSync(raw, { maxOutputLength: maxBytes })) };
  } catch (e) {
    throw new Error(`${fn}: cannot gunzip '${path}': ${(e as Error).message}`, { cause: e });
  }
}

function kindOf(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/** What identifies one file of a dataset in results.json. */
export interface IdxFileIdentity {
  readonly role: IdxRole;
  readonly path: string;
  /** Size on disk (compressed, for .gz). */
  readonly bytes: number;
  /** SHA-256 of the bytes on disk, hex. */
  readonly sha256: string;
}

export interface LoadIdxDirectoryOptions extends IdxSplitOptions, FindIdxFilesOptions, ReadIdxFileOptions {}

/** A split read from a folder, with the identity of every file it came from. */
export interface IdxDirectoryDataset extends IdxSplit {
  readonly files: readonly IdxFileIdentity[];
}

/**
 * `findIdxFiles` + `readIdxFile` + `idxSplit`: the dataset in `dir`, checked, split and standardised
 * with the training images' statistics; `files` records what was read (path, size, SHA-256). Error
 * messages from decoding name the file.
 */
export function loadIdxDirectory(dir: string, options: LoadIdxDirectoryOptions = {}): IdxDirectoryDataset {
  if (typeof options !== "object" || options === null)
    throw new Error("loadIdxDirectory: options must be an object");
  const { prefix, maxBytes, ...splitOptions } = options;
  const set = findIdxFiles(dir, prefix === undefined ? {} : { prefix });
  const readOptions = maxBytes === undefined ? {} : { maxBytes };
  const roles: IdxRole[] = ["trainImages", "trainLabels", "testImages", "testLabels"];
  const bytes: Partial<Record<IdxRole, Uint8Array>> = {};
  const files: IdxFileIdentity[] = [];
  for (const role of roles) {
    const path = set[role];
    if (path === null) continue;
    const { raw, data } = readIdxBytes(path, readOptions);
    bytes[role] = data;
    // Hash what is on disk, so the identity matches `sha256sum` of the file as distributed.
    files.push({ role, path, bytes: raw.length, sha256: createHash("sha256").update(raw).digest("hex") });
  }
  const split = idxSplit(
    {
      trainImages: bytes.trainImages!,
      trainLabels: bytes.trainLabels!,
      testImages: bytes.testImages ?? null,
      testLabels: bytes.testLabels ?? null,
      names: Object.fromEntries(roles.filter((r) => set[r] !== null).map((r) => [r, `'${set[r]}'`])),
    },
    splitOptions,
  );
  return { ...split, files };
}
