import { accessSync, closeSync, constants, fstatSync, openSync, type Stats, statSync } from "node:fs";
import { dirname, sep } from "node:path";
import { UsageError } from "./args.js";

/**
 * Output paths are checked before any training starts: a path that cannot be written would otherwise be
 * found only when the result is saved, after minutes of work, with a message about a rename or a mkdir.
 * Nothing is created here; missing parent directories are created when the file is written.
 * `option` names the flag the path came from, for the message.
 */

/** A file will be written at `path`: it is not a directory, and its nearest existing ancestor is one. */
export function checkOutFile(option: string, path: string): void {
  checkNotBlank(option, path, "a file path");
  if (path.endsWith("/") || path.endsWith(sep))
    throw new UsageError(`${option}: '${path}' ends with '${sep}'; give a file path, not a directory`);
  if (kindOf(option, path) === "directory")
    throw new UsageError(`${option}: '${path}' is a directory; give a file path`);
  checkAncestors(option, path);
}

/** Files will be written inside `dir`: it is a directory or does not exist yet, and can be created. */
export function checkOutDir(option: string, dir: string): void {
  checkNotBlank(option, dir, "a directory");
  const kind = kindOf(option, dir);
  if (kind === "file") throw new UsageError(`${option}: '${dir}' is a file, not a directory`);
  if (kind === "directory") checkWritable(option, dir);
  else checkAncestors(option, dir);
}

/** A blank path would name a file or directory called " " that nobody meant to create. */
function checkNotBlank(option: string, path: string, what: string): void {
  if (path.trim() === "")
    throw new UsageError(`${option}: the path is ${path === "" ? "empty" : "blank"}; give ${what}`);
}

/**
 * A file will be read from `path`: it must be a regular file. A FIFO would block the read until some
 * writer appears, and a device such as /dev/zero never ends; both are refused before anything is read.
 * It is opened without blocking (a FIFO swapped in after the check cannot hang the open) and checked
 * on the open descriptor. Returns its size in bytes.
 */
export function checkInputFile(option: string, path: string): number {
  checkNotBlank(option, path, "a file path");
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UsageError(`${option}: '${path}' does not exist`);
    if (code === "EACCES") throw new UsageError(`${option}: cannot read '${path}' (permission denied)`);
    throw new UsageError(`${option}: cannot read '${path}': ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`${option}: '${path}' is ${kindName(st)}, not a regular file`);
    return st.size;
  } finally {
    closeSync(fd);
  }
}

function kindName(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "a special file";
}

/** The nearest existing ancestor of `path` must be a directory we may write in. */
function checkAncestors(option: string, path: string): void {
  let d = path;
  for (;;) {
    const up = dirname(d);
    if (up === d) return;
    d = up;
    const kind = kindOf(option, d);
    if (kind === "file")
      throw new UsageError(`${option}: cannot create '${path}': '${d}' is a file, not a directory`);
    if (kind === "directory") {
      checkWritable(option, d);
      return;
    }
  }
}

function checkWritable(option: string, dir: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${option}: cannot write in directory '${dir}' (permission denied)`);
  }
}

/**
 * The directories that writing inside `dir` would create: `dir` and its missing ancestors, deepest first
 * (empty when `dir` exists). A command that fails part-way removes those it created and left empty.
 */
export function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; kindOf("--out", d) === null; d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  return missing;
}

function kindOf(option: string, path: string): "file" | "directory" | null {
  try {
    return statSync(path).isDirectory() ? "directory" : "file";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOTDIR: an ancestor is a file; checkAncestors finds and names it.
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new UsageError(`${option}: cannot use '${path}': ${(e as Error).message}`);
  }
}
