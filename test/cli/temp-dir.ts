import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";

/**
 * A fresh directory under the system's temporary directory, removed with everything in it when the
 * current test finishes (passed or failed): a test run must not leave files behind. Call it inside a test.
 */
export function tempDir(prefix = "qt-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
