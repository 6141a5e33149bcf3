import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { missingDirs } from "../out-path.js";

/**
 * Files an experiment writes appear together or not at all: each is written to `<path>.partial-<pid>`
 * and renamed into place by `commit` once everything has been written; `dispose` removes what was
 * staged and the directories the run created (those that existed before stay). A process killed by a
 * signal can leave `.partial-<pid>` files, named as unfinished.
 */
export class StagedOutputs {
  private readonly staged: string[] = [];
  private readonly createdDirs: string[];
  private committed = false;

  constructor(outDir: string) {
    this.createdDirs = missingDirs(outDir);
  }

  /** The temporary path to write instead of `path`. */
  stage(path: string): string {
    this.staged.push(path);
    return `${path}.partial-${process.pid}`;
  }

  /** Renames every staged file into place. */
  commit(): void {
    for (const path of this.staged) renameSync(`${path}.partial-${process.pid}`, path);
    this.committed = true;
  }

  /** Removes staged files and the directories this run created and left empty; idempotent. */
  dispose(): void {
    if (this.committed) return;
    for (const path of this.staged) rmSync(`${path}.partial-${process.pid}`, { force: true });
    for (const d of this.createdDirs) if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
  }
}
