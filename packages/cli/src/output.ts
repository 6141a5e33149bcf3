import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

/** Write a file atomically (temporary file + rename), creating its directory. */
export function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
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
