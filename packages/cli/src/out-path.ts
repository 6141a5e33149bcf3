import { accessSync, constants, statSync } from "node:fs";
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
  if (path === "") throw new UsageError(`${option}: the path is empty; give a file path`);
  if (path.endsWith("/") || path.endsWith(sep))
    throw new UsageError(`${option}: '${path}' ends with '${sep}'; give a file path, not a directory`);
  if (kindOf(option, path) === "directory")
    throw new UsageError(`${option}: '${path}' is a directory; give a file path`);
  checkAncestors(option, path);
}

/** Files will be written inside `dir`: it is a directory or does not exist yet, and can be created. */
export function checkOutDir(option: string, dir: string): void {
  if (dir === "") throw new UsageError(`${option}: the path is empty; give a directory`);
  const kind = kindOf(option, dir);
  if (kind === "file") throw new UsageError(`${option}: '${dir}' is a file, not a directory`);
  if (kind === "directory") checkWritable(option, dir);
  else checkAncestors(option, dir);
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
