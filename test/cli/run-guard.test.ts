import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  cleanUpAfterChild,
  type GuardEvent,
  guardRun,
  guardsTaken,
  leftoverPid,
  missingDirs,
  reportGuardEvents,
  UsageError,
} from "quant-trim/internal";
import { describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDir } from "./temp-dir.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The pid of a process that has already ended (spawnSync returns after it exits). */
const deadPid = () => spawnSync("true").pid;
/** A process that is certainly running and is not this one. */
const livePid = process.ppid;

const ls = (dir: string) => readdirSync(dir).sort();
const guard = (outDir: string, extra: { force?: boolean; results?: string[]; lockName?: string } = {}) => {
  const c = capture();
  const g = guardRun({ outDir, io: c.io, force: false, createdDirs: missingDirs(outDir), ...extra });
  return { g, err: c.err };
};

describe("guardRun: stage, commit, dispose", () => {
  it("stages under <path>.partial-<pid>; commit renames every staged file into place; dispose then removes only the lock", () => {
    const outDir = join(tempDir(), "a", "b");
    const { g, err } = guard(outDir);
    expect(ls(outDir)).toEqual([".quant-trim.lock"]);
    const holder = JSON.parse(readFileSync(join(outDir, ".quant-trim.lock"), "utf8"));
    expect(holder).toMatchObject({ pid: process.pid, host: hostname() });
    const results = join(outDir, "results.json");
    const staged = g.stage(results);
    expect(staged).toBe(`${results}.partial-${process.pid}`);
    expect(g.stage(results)).toBe(staged);
    writeFileSync(staged, "{}\n");
    writeFileSync(g.stage(join(outDir, "m.safetensors")), "weights");
    expect(ls(outDir)).toEqual([
      ".quant-trim.lock",
      `m.safetensors.partial-${process.pid}`,
      `results.json.partial-${process.pid}`,
    ]);
    g.commit();
    expect(ls(outDir)).toEqual([".quant-trim.lock", "m.safetensors", "results.json"]);
    g.dispose();
    g.dispose();
    expect(ls(outDir)).toEqual(["m.safetensors", "results.json"]);
    expect(readFileSync(join(outDir, "m.safetensors"), "utf8")).toBe("weights");
    expect(err()).toBe("");
  });

  it("dispose without commit removes staged files, their half-written temporaries, the lock and the directories the run created", () => {
    const root = tempDir();
    writeFileSync(join(root, "keep.txt"), "the user's");
    const outDir = join(root, "new", "run");
    const { g } = guard(outDir);
    writeFileSync(g.stage(join(outDir, "results.json")), "{}\n");
    writeFileSync(`${g.stage(join(outDir, "m.safetensors"))}.tmp-${process.pid}-c0ffee`, "half");
    expect(ls(outDir)).toHaveLength(3);
    g.dispose();
    expect(ls(root)).toEqual(["keep.txt"]);
    expect(() => g.stage(join(outDir, "x"))).toThrow("RunGuard.stage: the guard of");
    expect(() => g.commit()).toThrow("RunGuard.commit: the guard of");
  });

  it("a directory that existed before stays, with the user's files in it", () => {
    const outDir = tempDir();
    writeFileSync(join(outDir, "notes.txt"), "mine");
    const { g } = guard(outDir);
    writeFileSync(g.stage(join(outDir, "results.json")), "{}\n");
    g.dispose();
    expect(ls(outDir)).toEqual(["notes.txt"]);
  });

  it("commit names a staged file it cannot move; dispose still cleans up", () => {
    const outDir = join(tempDir(), "run");
    const { g } = guard(outDir);
    const never = g.stage(join(outDir, "results.json"));
    expect(() => g.commit()).toThrow(
      `cannot move '${never}' into place as '${join(outDir, "results.json")}'`,
    );
    g.dispose();
    expect(() => readdirSync(outDir)).toThrow(/ENOENT/);
  });

  it("SIGINT/SIGTERM (and exit) handlers are installed while any guard is active, once, and removed after", () => {
    const before = ["SIGINT", "SIGTERM", "exit"].map((e) => process.listenerCount(e));
    const count = () => ["SIGINT", "SIGTERM", "exit"].map((e) => process.listenerCount(e));
    const a = guard(join(tempDir(), "a")).g;
    const b = guard(join(tempDir(), "b")).g;
    expect(count()).toEqual(before.map((n) => n + 1));
    a.dispose();
    expect(count()).toEqual(before.map((n) => n + 1));
    b.dispose();
    expect(count()).toEqual(before);
  });
});

describe("an output directory that already holds results", () => {
  it("is refused while results.json or a checkpoint is there, creating and removing nothing", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "results.json"), "{}");
    const taken = guardsTaken();
    expect(() => guard(dir)).toThrow(UsageError);
    expect(() => guard(dir)).toThrow(
      `--out: '${dir}' already holds results (results.json); choose another --out or pass --force to overwrite them`,
    );
    expect(ls(dir)).toEqual(["results.json"]);
    expect(guardsTaken()).toBe(taken);
    const ckpts = tempDir();
    for (const n of ["a", "b", "c", "d", "e"]) writeFileSync(join(ckpts, `${n}.safetensors`), "");
    expect(() => guard(ckpts)).toThrow(
      "already holds results (a.safetensors, b.safetensors, c.safetensors and 2 more)",
    );
    expect(ls(ckpts)).toHaveLength(5);
  });

  it("is accepted with force; a staged (unfinished) checkpoint is not a result; `results` narrows what counts", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "results.json"), "old");
    const forced = guard(dir, { force: true }).g;
    writeFileSync(forced.stage(join(dir, "results.json")), "new");
    forced.commit();
    forced.dispose();
    expect(readFileSync(join(dir, "results.json"), "utf8")).toBe("new");
    const other = tempDir();
    writeFileSync(join(other, `m.safetensors.partial-${livePid}`), "someone else's, unfinished");
    guard(other).g.dispose();
    writeFileSync(join(other, "a.safetensors"), "");
    guard(other, { results: [join(other, "b.safetensors")] }).g.dispose();
    expect(() => guard(other, { results: [join(other, "a.safetensors")] })).toThrow("(a.safetensors)");
  });

  it("counts a guard as taken only when it was granted", () => {
    const before = guardsTaken();
    guard(join(tempDir(), "x")).g.dispose();
    expect(guardsTaken()).toBe(before + 1);
  });
});

describe("the lock", () => {
  const lockOf = (dir: string) => join(dir, ".quant-trim.lock");
  const writeLock = (dir: string, holder: object | string) =>
    writeFileSync(lockOf(dir), typeof holder === "string" ? holder : JSON.stringify(holder));

  it("a second run on the same directory is refused while the first holds it, and starts once it is done", () => {
    const dir = join(tempDir(), "run");
    const first = guard(dir).g;
    expect(() => guard(dir)).toThrow(
      new RegExp(`^--out: '${dir}' is in use by another quant-trim run \\(process ${process.pid}, started `),
    );
    first.dispose();
    guard(dir).g.dispose();
  });

  it("a lock of another live process is refused, naming it, and left alone", () => {
    const dir = tempDir();
    writeLock(dir, { pid: livePid, host: hostname(), started: "2026-01-01T00:00:00.000Z" });
    expect(() => guard(dir)).toThrow(
      `--out: '${dir}' is in use by another quant-trim run (process ${livePid}, started 2026-01-01T00:00:00.000Z); wait for it to finish, or remove '${lockOf(dir)}' if that process is not a quant-trim run`,
    );
    expect(JSON.parse(readFileSync(lockOf(dir), "utf8")).pid).toBe(livePid);
  });

  it("a lock from another machine is never taken over", () => {
    const dir = tempDir();
    writeLock(dir, { pid: deadPid(), host: `not-${hostname()}`, started: "then" });
    expect(() => guard(dir)).toThrow(` on not-${hostname()}, started then)`);
  });

  it("the lock of a process that has ended is taken over with a note", () => {
    const dir = tempDir();
    const pid = deadPid();
    writeLock(dir, { pid, host: hostname(), started: "then" });
    const { g, err } = guard(dir);
    expect(err()).toBe(
      `note: taking over the lock '${lockOf(dir)}' of process ${pid}, which is no longer running\n`,
    );
    expect(JSON.parse(readFileSync(lockOf(dir), "utf8")).pid).toBe(process.pid);
    g.dispose();
  });

  it("a lock with this process's pid that no guard here holds is a former process's (a restarted container): stale", () => {
    const dir = tempDir();
    writeLock(dir, { pid: process.pid, host: hostname(), started: "before the restart" });
    const { g, err } = guard(dir);
    expect(err()).toContain(`of process ${process.pid}, which is no longer running`);
    g.dispose();
  });

  it("an unreadable lock is taken as being written while fresh, and as stale once old", () => {
    const dir = tempDir();
    writeLock(dir, "");
    expect(() => guard(dir)).toThrow(`is in use by another quant-trim run (lock file '${lockOf(dir)}')`);
    const aMinuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lockOf(dir), aMinuteAgo, aMinuteAgo);
    const { g, err } = guard(dir);
    expect(err()).toBe(
      `note: taking over the lock '${lockOf(dir)}', unreadable and left by a run that ended\n`,
    );
    g.dispose();
    expect(ls(dir)).toEqual([]);
  });

  it("runs with different lock names share a directory (train locks per checkpoint)", () => {
    const dir = tempDir();
    const a = guard(dir, { lockName: ".a.safetensors.lock", results: [join(dir, "a.safetensors")] }).g;
    const b = guard(dir, { lockName: ".b.safetensors.lock", results: [join(dir, "b.safetensors")] }).g;
    expect(ls(dir)).toEqual([".a.safetensors.lock", ".b.safetensors.lock"]);
    a.dispose();
    b.dispose();
  });
});

describe("files a killed run left behind", () => {
  it("are removed, each named on stderr, when their process has ended; a live process's, directories and other files stay", () => {
    const dir = tempDir();
    const dead = deadPid();
    const stale = [
      `m.safetensors.partial-${dead}`,
      `m.safetensors.partial-${dead}.tmp-${dead}-9f3a`,
      `results.json.tmp-${dead}`,
      `report.html.tmp-${dead}-77`,
      // This pid, but staged by no guard of this process: a former process's.
      `old.safetensors.partial-${process.pid}`,
    ];
    const kept = [
      `x.safetensors.partial-${livePid}`,
      "notes.partial-draft",
      `data.tmp-${dead}`,
      "m.safetensors.partial",
    ];
    for (const n of [...stale, ...kept]) writeFileSync(join(dir, n), "");
    mkdirSync(join(dir, `d.safetensors.partial-${dead}`));
    const { g, err } = guard(dir);
    expect(ls(dir)).toEqual([".quant-trim.lock", `d.safetensors.partial-${dead}`, ...kept].sort());
    expect(err()).toBe(
      stale
        .sort()
        .map(
          (n) =>
            `note: removed '${join(dir, n)}', left unfinished by process ${n.match(/-(\d+)/)![1]}, which is no longer running\n`,
        )
        .join(""),
    );
    g.dispose();
  });

  it("leftoverPid reads the pid of every name a run writes under, and nothing else", () => {
    const base = fc.stringMatching(/^[A-Za-z0-9_ -]{1,20}$/);
    const pid = fc.integer({ min: 1, max: 4_194_304 });
    const hex = fc.stringMatching(/^[0-9a-f]{1,12}$/);
    fc.assert(
      fc.property(
        base,
        pid,
        hex,
        fc.constantFrom(".safetensors", ".json", ".html", ".onnx"),
        (b, p, h, ext) => {
          expect(leftoverPid(`${b}${ext}.partial-${p}`)).toBe(p);
          expect(leftoverPid(`${b}${ext}.partial-${p}.tmp-${p}-${h}`)).toBe(p);
          expect(leftoverPid(`${b}${ext}.tmp-${p}`)).toBe(p);
          expect(leftoverPid(`${b}${ext}.tmp-${p}-${h}`)).toBe(p);
          expect(leftoverPid(`${b}${ext}`)).toBeNull();
          expect(leftoverPid(`${b}.txt.tmp-${p}`)).toBeNull();
          expect(leftoverPid(`${b}${ext}.partial-${p}x`)).toBeNull();
        },
      ),
    );
  });
});

/** Start the fixture that holds a guard, wait until it has staged its files, send `signal`. */
async function holdAndSignal(outDir: string, signal: NodeJS.Signals) {
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "test/cli/fixtures/hold-guard.ts", outDir],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("ready\n")) resolve();
    });
    child.on("close", () => reject(new Error(`the fixture ended early:\n${err}`)));
  });
  const staged = ls(outDir);
  child.kill(signal);
  return { code: await exited, err, staged };
}

describe("a signal while a guard is active (in this process, event loop free)", () => {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 130],
  ] as const) {
    it(`${signal}: staged files, temporaries, the lock and the created directories go; exit ${code}`, async () => {
      const root = tempDir();
      const r = await holdAndSignal(join(root, "new", "run"), signal);
      expect(r.staged).toHaveLength(3); // the lock and two staged files: the signal came mid-run
      expect(r.code).toBe(code);
      expect(r.err).toBe(
        `quant-trim: interrupted by ${signal}; removed 2 unfinished files and 2 directories the run had created\n`,
      );
      expect(ls(root)).toEqual([]);
    });
  }
});

describe("cleanUpAfterChild (what main.ts does when a signal stopped its child)", () => {
  it("undoes the reported guards that did not end, and only those", () => {
    const root = tempDir();
    const reports = join(root, "reports.jsonl");
    const fd = openSync(reports, "w");
    const open = join(root, "work", "open");
    const done = join(root, "done");
    let unfinished: ReturnType<typeof guard>["g"] | undefined;
    try {
      reportGuardEvents(fd);
      unfinished = guard(open).g;
      writeFileSync(unfinished.stage(join(open, "results.json")), "{}");
      writeFileSync(join(open, `m.safetensors.partial-${process.pid}.tmp-${process.pid}-1`), "half");
      writeFileSync(join(open, `x.safetensors.partial-${livePid}`), "another live run's");
      const finished = guard(done).g;
      writeFileSync(finished.stage(join(done, "results.json")), "{}");
      finished.commit();
      finished.dispose();
    } finally {
      reportGuardEvents(null);
      closeSync(fd);
    }
    const events = readFileSync(reports, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as GuardEvent);
    expect(events.map((e) => Object.keys(e).filter((k) => k !== "guard")[0])).toEqual([
      "pid",
      "stage",
      "pid",
      "stage",
      "end",
    ]);
    const c = capture();
    // This process plays the dead child here: its pid is the one in the reports.
    expect(cleanUpAfterChild(events, c.io)).toEqual({ files: 2, dirs: 0 });
    expect(ls(open)).toEqual([`x.safetensors.partial-${livePid}`]);
    expect(ls(done)).toEqual(["results.json"]);
    expect(c.err()).toBe("");
    // Once the other run's file is gone, the directories the run created are empty and go too.
    rmSync(join(open, `x.safetensors.partial-${livePid}`));
    expect(cleanUpAfterChild(events, c.io)).toEqual({ files: 0, dirs: 2 });
    expect(ls(root)).toEqual(["done", "reports.jsonl"]);
    unfinished?.dispose();
  });
});
