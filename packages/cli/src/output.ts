import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

/**
 * Write a file atomically (temporary file + rename), creating its directory. On any failure the temporary
 * file is removed, so a failed write leaves neither the target nor a stray `<path>.tmp-<pid>` behind.
 */
export function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the cleanup must not hide the reason the write failed
    }
    throw new Error(`cannot write '${path}': ${(e as Error).message}`, { cause: e });
  }
}

/** A progress bar on stderr when it is a terminal (nothing otherwise, so logs stay clean). */
export function progress(io: Io, label: string): (done: number, total: number) => void {
  if (!io.stderr.isTTY) return () => {};
  return (done, total) => {
    const w = 30;
    const k = Math.round((done / total) * w);
    io.stderr.write(
      `\r${label} [${"#".repeat(k)}${" ".repeat(w - k)}] ${done}/${total}${done === total ? "\n" : ""}`,
    );
  };
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}
