import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { constants, hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { UsageError } from "./args.js";
import type { Io } from "./output.js";

/**
 * A run that writes results into a directory, made safe against being stopped half-way. Files are
 * written under staged names (`<path>.partial-<pid>`) and renamed into place only by `commit()`, once
 * everything succeeded; `dispose()` removes what is still staged, the lock and the directories the run
 * created. A lock file keeps two runs from interleaving their files in one directory, a directory that
 * already holds results is refused unless `force`, and files a killed process left behind are removed
 * by the next run in that directory.
 *
 * Ctrl-C: while a guard is active, SIGINT and SIGTERM dispose every active guard and exit with
 * `EXIT_INTERRUPTED` (130, what a shell reports after Ctrl-C) for either signal: scripts test one code
 * for "the user stopped it", and the message names the signal. Node runs those handlers only when the event loop is free,
 * so a run that computes synchronously is not interrupted by them; `main.ts` therefore runs `train` and
 * `experiment` in a child process whose guards report here (`reportGuardEvents`), and cleans up after
 * the child itself when a signal stops it (`cleanUpAfterChild`).
 */
export interface RunGuard {
  /** The temporary `<path>.partial-<pid>` to write instead of `path`. */
  stage(path: string): string;
  /** Renames every staged file into place (call it after everything succeeded). */
  commit(): void;
  /** Removes staged files, the lock and the directories this run created; idempotent. */
  dispose(): void;
}

export interface GuardOptions {
  outDir: string;
  io: Io;
  /** Overwrite results already in `outDir` instead of refusing the directory. */
  force: boolean;
  /**
   * The directories that writing in `outDir` creates, deepest first (`missingDirs(outDir)`, taken
   * before anything was written): `dispose` removes those left empty.
   */
  createdDirs: string[];
  /**
   * The paths whose existence means `outDir` already holds results. Default: `results.json` and every
   * `.safetensors` file in `outDir`. `train` passes just its checkpoint.
   */
  results?: readonly string[];
  /** The lock's file name in `outDir` (default `.quant-trim.lock`); runs with the same lock exclude each other. */
  lockName?: string;
  /** The option that named the directory, for messages (default `--out`). */
  option?: string;
}

/** One line a supervised child writes to its parent about its guards (see `reportGuardEvents`). */
export type GuardEvent =
  | { guard: number; pid: number; outDir: string; lock: string; createdDirs: string[] }
  | { guard: number; stage: string }
  | { guard: number; end: true };

const DEFAULT_LOCK = ".quant-trim.lock";

/**
 * How long an unreadable lock counts as being written by a live run: the holder creates the file and
 * writes its pid in the same instant, so an empty lock older than this belongs to a run that died there.
 */
const UNREADABLE_LOCK_GRACE_MS = 10_000;

interface ActiveGuard {
  id: number;
  io: Io;
  lock: string;
  outDir: string;
  createdDirs: readonly string[];
  /** final path → staged path, in staging order, until committed or disposed. */
  staged: Map<string, string>;
}

const active = new Map<number, ActiveGuard>();
/** Ids of the active guards that created their lock file. */
const locked = new Set<number>();
let nextId = 1;
let taken = 0;
let reportFd: number | null = null;

/** How many guards this process has taken so far: the CLI reads it to tell input errors from run failures. */
export function guardsTaken(): number {
  return taken;
}

/**
 * Report guard events as JSON lines on file descriptor `fd` (a pipe to the supervising parent) instead
 * of installing signal handlers: the parent stops this process with SIGKILL on a signal and then removes
 * what the events name. Writes are synchronous so that a report is out before the work it announces.
 */
export function reportGuardEvents(fd: number | null): void {
  reportFd = fd;
}

function report(event: GuardEvent): void {
  if (reportFd === null) return;
  try {
    writeSync(reportFd, `${JSON.stringify(event)}\n`);
  } catch {
    // A parent that has gone away cannot clean up anyway; the run itself goes on.
  }
}

export function guardRun(opts: GuardOptions): RunGuard {
  const option = opts.option ?? "--out";
  const { outDir, io } = opts;
  if (outDir.trim() === "") throw new UsageError(`${option}: the path is blank; give a directory`);
  const lock = join(outDir, opts.lockName ?? DEFAULT_LOCK);
  const g: ActiveGuard = {
    id: nextId++,
    io,
    lock,
    outDir,
    createdDirs: [...opts.createdDirs],
    staged: new Map(),
  };
  // Announced before anything is created, so that a parent can clean up even if this process dies
  // between creating the directory and the next report.
  report({ guard: g.id, pid: process.pid, outDir, lock, createdDirs: g.createdDirs.slice() });
  activate(g);
  try {
    try {
      mkdirSync(outDir, { recursive: true });
    } catch (e) {
      throw new UsageError(`${option}: cannot create '${outDir}': ${(e as Error).message}`);
    }
    acquireLock(g, option);
    // This pid on a file no active guard staged is a former process's (a restarted container reuses pids).
    removeLeftovers(outDir, io, (pid, path) => (pid === process.pid ? !isStagedHere(path) : !isRunning(pid)));
    if (!opts.force) {
      const existing = (opts.results ?? defaultResults(outDir)).filter((p) => existsSync(p));
      if (existing.length > 0) {
        const names = existing.map((p) => basename(p));
        const listed =
          names.length > 3
            ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`
            : names.join(", ");
        throw new UsageError(
          `${option}: '${outDir}' already holds results (${listed}); choose another ${option} or pass --force to overwrite them`,
        );
      }
    }
  } catch (e) {
    dispose(g);
    throw e;
  }
  taken++;
  return {
    stage(path: string): string {
      if (!active.has(g.id)) throw new Error(`RunGuard.stage: the guard of '${outDir}' is already disposed`);
      const existing = g.staged.get(path);
      if (existing !== undefined) return existing;
      const staged = `${path}.partial-${process.pid}`;
      g.staged.set(path, staged);
      report({ guard: g.id, stage: staged });
      return staged;
    },
    commit(): void {
      if (!active.has(g.id)) throw new Error(`RunGuard.commit: the guard of '${outDir}' is already disposed`);
      for (const [path, staged] of g.staged) {
        try {
          renameSync(staged, path);
        } catch (e) {
          throw new Error(`cannot move '${staged}' into place as '${path}': ${(e as Error).message}`, {
            cause: e,
          });
        }
        g.staged.delete(path);
      }
    },
    dispose(): void {
      dispose(g);
    },
  };
}

/** Is `path` a file an active guard of this process staged, or the temporary of its atomic write? */
function isStagedHere(path: string): boolean {
  for (const g of active.values())
    for (const staged of g.staged.values())
      if (path === staged || path.startsWith(`${staged}.tmp-`)) return true;
  return false;
}

function defaultResults(outDir: string): string[] {
  return readdirSync(outDir)
    .filter((n) => n === "results.json" || n.endsWith(".safetensors"))
    .sort()
    .map((n) => join(outDir, n));
}

interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

function acquireLock(g: ActiveGuard, option: string): void {
  const { lock, outDir, io } = g;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST")
        throw new UsageError(`${option}: cannot create the lock file '${lock}': ${(e as Error).message}`);
      const holder = readLock(lock);
      if (holder === "gone") continue;
      if (holder === "unreadable") {
        if (ageMs(lock) < UNREADABLE_LOCK_GRACE_MS)
          throw new UsageError(
            `${option}: '${outDir}' is in use by another quant-trim run (lock file '${lock}')`,
          );
        io.stderr.write(`note: taking over the lock '${lock}', unreadable and left by a run that ended\n`);
      } else if (holderIsLive(holder, lock)) {
        throw new UsageError(
          `${option}: '${outDir}' is in use by another quant-trim run (process ${holder.pid}${holder.host === hostname() ? "" : ` on ${holder.host}`}, started ${holder.started}); wait for it to finish, or remove '${lock}' if that process is not a quant-trim run`,
        );
      } else {
        io.stderr.write(
          `note: taking over the lock '${lock}' of process ${holder.pid}, which is no longer running\n`,
        );
      }
      rmSync(lock, { force: true });
      continue;
    }
    locked.add(g.id); // ours from creation on: dispose removes it even if writing the pid fails
    try {
      const holder: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
      writeSync(fd, `${JSON.stringify(holder)}\n`);
    } finally {
      closeSync(fd);
    }
    return;
  }
  throw new UsageError(`${option}: could not take the lock '${lock}': other runs keep taking it`);
}

function readLock(lock: string): LockHolder | "gone" | "unreadable" {
  let text: string;
  try {
    text = readFileSync(lock, "utf8");
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? "gone" : "unreadable";
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isSafeInteger(h.pid) && (h.pid as number) > 0 && typeof h.host === "string")
      return { pid: h.pid as number, host: h.host, started: String(h.started ?? "at an unknown time") };
  } catch {
    // falls through: a lock being written, or garbage
  }
  return "unreadable";
}

function holderIsLive(holder: LockHolder, lock: string): boolean {
  // A process on another machine (a shared file system) cannot be checked from here.
  if (holder.host !== hostname()) return true;
  // This pid in a lock no guard of this process holds is a former process's (a restarted container
  // reuses pids): stale.
  if (holder.pid === process.pid) return [...active.values()].some((g) => g.lock === lock && hasLock(g));
  return isRunning(holder.pid);
}

function hasLock(g: ActiveGuard): boolean {
  return locked.has(g.id);
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The pid in the name of a file a run leaves while writing, or null for any other name: a staged file
 * `<name>.partial-<pid>`, the temporary file of a staged file's atomic write
 * `<name>.partial-<pid>.tmp-<pid>[-<hex>]`, and the temporary file of an atomic write of a result
 * (`.json`, `.html`, `.safetensors`, `.onnx`) `<name>.tmp-<pid>[-<hex>]`. Other names are the user's.
 */
export function leftoverPid(name: string): number | null {
  const partial = /\.partial-(\d+)(?:\.tmp-\d+(?:-[0-9a-f]+)?)?$/.exec(name);
  if (partial) return Number(partial[1]);
  const tmp = /\.(?:json|html|safetensors|onnx)\.tmp-(\d+)(?:-[0-9a-f]+)?$/.exec(name);
  return tmp ? Number(tmp[1]) : null;
}

/**
 * Remove the leftover files (see `leftoverPid`) in `dir` whose process `isStale` says has ended, naming
 * each on stderr. Returns how many were removed. Directories are never removed, whatever their name.
 */
export function removeLeftovers(
  dir: string,
  io: Io,
  isStale: (pid: number, path: string) => boolean,
): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names.sort()) {
    const pid = leftoverPid(name);
    const path = join(dir, name);
    if (pid === null || !isStale(pid, path)) continue;
    try {
      if (!lstatSync(path).isFile()) continue;
      rmSync(path);
      removed++;
      io.stderr.write(
        `note: removed '${path}', left unfinished by process ${pid}, which is no longer running\n`,
      );
    } catch {
      // vanished meanwhile, or not ours to remove: leave it
    }
  }
  return removed;
}

function activate(g: ActiveGuard): void {
  if (active.size === 0) installHandlers();
  active.set(g.id, g);
}

/** Removes g's staged files (and their atomic-write temporaries), its lock and its empty created dirs. */
function dispose(g: ActiveGuard): { files: number; dirs: number } {
  if (!active.has(g.id)) return { files: 0, dirs: 0 };
  active.delete(g.id);
  if (active.size === 0) removeHandlers();
  let files = 0;
  for (const staged of g.staged.values()) files += removeWithTemporaries(staged);
  g.staged.clear();
  if (locked.has(g.id)) {
    locked.delete(g.id);
    rmSync(g.lock, { force: true });
  }
  const dirs = removeEmptyDirs(g.createdDirs);
  report({ guard: g.id, end: true });
  return { files, dirs };
}

/** `path` and the temporaries of atomic writes to it (`<path>.tmp-…`). */
function removeWithTemporaries(path: string): number {
  let removed = 0;
  const dir = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  const candidates = [path];
  try {
    for (const n of readdirSync(dir)) if (n.startsWith(prefix)) candidates.push(join(dir, n));
  } catch {
    // the directory is gone: so are the files
  }
  for (const p of candidates) {
    try {
      if (lstatSync(p).isFile()) {
        rmSync(p);
        removed++;
      }
    } catch {
      // already gone
    }
  }
  return removed;
}

/** Removes the directories (deepest first) that are empty; stops at the first that is not. */
function removeEmptyDirs(dirs: readonly string[]): number {
  let removed = 0;
  for (const d of dirs) {
    try {
      rmdirSync(d);
      removed++;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") break;
    }
  }
  return removed;
}

/**
 * After a supervised child has ended: undo what its unfinished guards (those without an `end` event)
 * left — staged files, any leftover of the child's pid in their directories, the lock if still the
 * child's, and the directories they created once empty. Returns the counts, for the closing line.
 */
export function cleanUpAfterChild(events: readonly GuardEvent[], io: Io): { files: number; dirs: number } {
  const guards = new Map<
    number,
    { pid: number; outDir: string; lock: string; createdDirs: string[]; staged: string[] }
  >();
  for (const e of events) {
    if ("lock" in e) guards.set(e.guard, { ...e, staged: [] });
    else if ("stage" in e) guards.get(e.guard)?.staged.push(e.stage);
    else guards.delete(e.guard);
  }
  let files = 0;
  let dirs = 0;
  const quiet: Io = { stdout: io.stdout, stderr: { write: () => true } };
  for (const g of guards.values()) {
    for (const s of g.staged) files += removeWithTemporaries(s);
    files += removeLeftovers(g.outDir, quiet, (pid) => pid === g.pid);
    const holder = readLock(g.lock);
    if (typeof holder === "object" && holder.pid === g.pid) rmSync(g.lock, { force: true });
    dirs += removeEmptyDirs(g.createdDirs);
  }
  return { files, dirs };
}

/** The line a run stopped by a signal leaves on stderr. */
export function interruptedLine(signal: NodeJS.Signals, removed: { files: number; dirs: number }): string {
  const parts = [
    ...(removed.files > 0 ? [`${removed.files} unfinished file${removed.files === 1 ? "" : "s"}`] : []),
    ...(removed.dirs > 0
      ? [`${removed.dirs} director${removed.dirs === 1 ? "y" : "ies"} the run had created`]
      : []),
  ];
  return `quant-trim: interrupted by ${signal}${parts.length > 0 ? `; removed ${parts.join(" and ")}` : ""}\n`;
}

/** The exit status of a run stopped by SIGINT or SIGTERM: 128 + SIGINT, as after Ctrl-C in a shell. */
export const EXIT_INTERRUPTED = 128 + constants.signals.SIGINT;

function onSignal(signal: NodeJS.Signals): void {
  const guards = [...active.values()];
  const removed = { files: 0, dirs: 0 };
  for (const g of guards) {
    const r = dispose(g);
    removed.files += r.files;
    removed.dirs += r.dirs;
  }
  const io = guards[guards.length - 1]?.io;
  io?.stderr.write(`${io.stderr.isTTY ? "\n" : ""}${interruptedLine(signal, removed)}`);
  process.exit(EXIT_INTERRUPTED);
}

/** A process.exit() anywhere (a broken pipe, an uncaught error) must not leave staged files behind. */
function onExit(): void {
  for (const g of [...active.values()]) dispose(g);
}

function installHandlers(): void {
  process.on("exit", onExit);
  if (reportFd !== null) return; // the supervising parent handles signals
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

function removeHandlers(): void {
  process.off("exit", onExit);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}
