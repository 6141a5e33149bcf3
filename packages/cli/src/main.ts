#!/usr/bin/env -S npx tsx --conditions=source
import { spawn } from "node:child_process";
import { constants } from "node:os";

/**
 * The command-line entry. `train` and `experiment` compute synchronously for minutes, and Node runs a
 * signal handler only when the event loop is free: a handler in the same process would hold Ctrl-C back
 * until training ended. So this process runs them in a child and stays idle to supervise it: on
 * SIGINT/SIGTERM it kills the child at once, removes what the child's run guards reported as unfinished
 * (staged files, the lock, the directories the run created) and exits with 130 for either signal (as
 * the run guard does in-process). A child that dies of a signal nobody sent it (an out-of-memory kill)
 * exits with 128 + that signal's number, as a shell would report it.
 * Everything else runs here directly.
 */

/** The environment variable that tells a child which file descriptor its run guards report on. */
const GUARD_FD_ENV = "QUANT_TRIM_GUARD_FD";
const SUPERVISED = new Set(["train", "experiment"]);

const argv = process.argv.slice(2);
quietOnBrokenPipe();
const entry = process.argv[1];
const supervise =
  process.env[GUARD_FD_ENV] === undefined &&
  entry !== undefined &&
  SUPERVISED.has(argv[0] ?? "") &&
  !argv.some((a) => a === "--help" || a === "-h");
process.exitCode = supervise ? await runSupervised(entry, argv) : await runHere(argv);

async function runHere(args: string[]): Promise<number> {
  const fd = process.env[GUARD_FD_ENV];
  delete process.env[GUARD_FD_ENV]; // not for the processes this one may start
  // Before any tensor operation assembles the wasm kernels: the fp32 GEMM then uses relaxed SIMD's
  // fused multiply-add, which Node 20 keeps behind a V8 flag.
  const { enableRelaxedSimd } = await import("@quant-trim/tensor/node");
  enableRelaxedSimd();
  const { runCli } = await import("./cli.js");
  if (fd !== undefined) {
    const { reportGuardEvents } = await import("./run-guard.js");
    reportGuardEvents(Number(fd));
  }
  return runCli(args, { stdout: process.stdout, stderr: process.stderr });
}

async function runSupervised(script: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: ["inherit", "inherit", "inherit", "pipe"],
    env: { ...process.env, [GUARD_FD_ENV]: "3" },
  });
  let reports = "";
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  pipe.setEncoding("utf8");
  pipe.on("data", (chunk: string) => {
    reports += chunk;
  });
  let stoppedBy: NodeJS.Signals | null = null;
  const stop = (signal: NodeJS.Signals) => {
    stoppedBy ??= signal;
    // SIGKILL: the child may be inside a synchronous loop where no handler of its own could run.
    child.kill("SIGKILL");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>(
    (resolve) => {
      child.on("error", resolve);
      // 'close', not 'exit': the report pipe has been read to its end.
      child.on("close", (code, signal) => resolve({ code, signal }));
    },
  );
  if (ended instanceof Error) {
    process.stderr.write(`quant-trim: cannot start ${process.execPath}: ${ended.message}\n`);
    return 1;
  }
  const events = reports.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line)];
    } catch {
      return []; // the empty tail after the last newline
    }
  });
  const signal = stoppedBy ?? ended.signal;
  if (events.length > 0 && (ended.code !== 0 || signal !== null)) {
    const { cleanUpAfterChild, interruptedLine } = await import("./run-guard.js");
    const removed = cleanUpAfterChild(events, { stdout: process.stdout, stderr: process.stderr });
    if (signal !== null)
      process.stderr.write(`${process.stderr.isTTY ? "\n" : ""}${interruptedLine(signal, removed)}`);
  }
  if (stoppedBy !== null) return 128 + constants.signals.SIGINT; // interrupted: 130 for SIGINT and SIGTERM
  if (ended.signal !== null) return 128 + (constants.signals[ended.signal] ?? 0);
  return ended.code ?? 1;
}

/**
 * A reader that closes early (`quant-trim --help | head -1`) makes the next write fail with EPIPE. That
 * is the reader's choice, not an error of this program: exit at once, with no stack trace, and with the
 * status of a process ended by SIGPIPE (141), as other command-line tools do. Staged files of a run in
 * progress are removed by the run guard's exit handler.
 */
function quietOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(128 + constants.signals.SIGPIPE);
      throw e;
    });
  }
}
