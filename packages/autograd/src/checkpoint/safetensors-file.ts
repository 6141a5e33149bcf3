import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { quote } from "./quote.js";
import {
  CheckpointError,
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsEntry,
} from "./safetensors.js";

/** safetensors files on disk (Node only): atomic writes and validated reads over `safetensors.ts`. */

/**
 * Write a safetensors file atomically: encode (all validation happens here, before the disk is touched),
 * write `<path>.tmp-<pid>-<random>`, fsync it, rename it over `path`, then fsync the directory (best
 * effort: not every platform can). On any failure the temporary file is removed and an existing `path`
 * is left as it was.
 */
export function writeSafetensorsFile(
  path: string,
  tensors: Readonly<Record<string, SafetensorsEntry>>,
  metadata?: Readonly<Record<string, string>>,
): void {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx");
    let written = 0;
    while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) ignoreErrors(() => closeSync(fd!));
    ignoreErrors(() => unlinkSync(tmp));
    throw new CheckpointError(`cannot write ${quote(path)}: ${errorText(err)}`, { cause: err });
  }
  fsyncDirectory(dirname(path));
}

/** Read and validate a safetensors file; errors name the path and the problem. */
export function readSafetensorsFile(path: string): DecodedSafetensors {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new CheckpointError(`cannot read ${quote(path)}: ${errorText(err)}`, { cause: err });
  }
  try {
    return decodeSafetensors(bytes);
  } catch (err) {
    if (err instanceof CheckpointError)
      throw new CheckpointError(`${quote(path)}: ${err.reason}`, { cause: err });
    throw err;
  }
}

/** Makes the rename itself durable; directories cannot be opened for fsync everywhere (e.g. Windows). */
function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) ignoreErrors(() => closeSync(fd!));
  }
}

function ignoreErrors(f: () => void): void {
  try {
    f();
  } catch {
    // cleanup after a failure must not hide the original error
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
