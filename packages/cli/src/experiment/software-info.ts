import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { SoftwareInfo } from "../report/results-schema.js";

/** The CLI package's version, from its package.json (two folders up from src/ and dist/ alike). */
export function packageVersion(): string {
  const path = fileURLToPath(new URL("../../package.json", import.meta.url));
  const json = JSON.parse(readFileSync(path, "utf8")) as { version?: unknown };
  if (typeof json.version !== "string") throw new Error(`packageVersion: '${path}' has no version`);
  return json.version;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function readText(path: string, maxBytes = 1 << 20): string | null {
  try {
    // Only small regular files: a FIFO or device named like a git file must not hang or flood us.
    const st = statSync(path);
    if (!st.isFile() || st.size > maxBytes) return null;
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/**
 * The checkout containing `start`: its top folder and its git directory (following the `.git` file of
 * a worktree or submodule), or null outside one.
 */
export function findGitDir(start: string): { root: string; gitDir: string } | null {
  for (let d = resolve(start); ; d = dirname(d)) {
    const dotGit = join(d, ".git");
    if (existsSync(dotGit)) {
      try {
        if (statSync(dotGit).isDirectory()) return { root: d, gitDir: dotGit };
      } catch {
        return null;
      }
      const m = /^gitdir: (.+)$/m.exec(readText(dotGit) ?? "");
      if (!m) return null;
      const target = m[1]!.trim();
      return { root: d, gitDir: isAbsolute(target) ? target : resolve(d, target) };
    }
    if (dirname(d) === d) return null;
  }
}

/**
 * The commit HEAD points at, read from the files of `gitDir` without running git: a detached HEAD holds
 * the hash itself; a symbolic one names a ref, found as a loose file or in packed-refs (in the common
 * directory for a worktree). Null when anything is missing or malformed.
 */
export function readHeadCommit(gitDir: string): string | null {
  const head = readText(join(gitDir, "HEAD"))?.trim();
  if (!head) return null;
  if (SHA.test(head)) return head;
  const m = /^ref: (refs\/[^\s]+)$/.exec(head);
  if (!m || m[1]!.split("/").includes("..")) return null;
  const ref = m[1]!;
  const common = readText(join(gitDir, "commondir"))?.trim();
  const dirs = [gitDir, ...(common ? [isAbsolute(common) ? common : resolve(gitDir, common)] : [])];
  for (const dir of dirs) {
    const loose = readText(join(dir, ref))?.trim();
    if (loose && SHA.test(loose)) return loose;
  }
  for (const dir of dirs) {
    for (const line of (readText(join(dir, "packed-refs"), 64 << 20) ?? "").split("\n")) {
      const [sha, name] = line.trim().split(" ");
      if (name === ref && sha && SHA.test(sha)) return sha;
    }
  }
  return null;
}

/**
 * Whether tracked files differ from HEAD, asked of git itself without taking its index lock (other
 * processes may be committing); null when git is not available or says nothing usable.
 */
function workTreeDirty(root: string): boolean | null {
  try {
    const out = execFileSync(
      "git",
      ["--no-optional-locks", "-C", root, "status", "--porcelain", "--untracked-files=no"],
      { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"], maxBuffer: 16 << 20 },
    );
    return out.trim() !== "";
  } catch {
    return null;
  }
}

/** What wrote a results file: versions, commit, machine. */
export function softwareInfo(): SoftwareInfo {
  const here = dirname(fileURLToPath(import.meta.url));
  const checkout = findGitDir(here);
  const gitCommit = checkout === null ? null : readHeadCommit(checkout.gitDir);
  const list = cpus();
  const model = list[0]?.model?.trim();
  return {
    packageVersion: packageVersion(),
    gitCommit,
    gitDirty: gitCommit === null || checkout === null ? null : workTreeDirty(checkout.root),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: model ? `${model} × ${list.length}` : null,
  };
}
