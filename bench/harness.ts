/**
 * Shared benchmark plumbing: run a benny suite without its console chatter, get each case's median
 * seconds per call, print one JSON line, and keep the full results in bench/results/.
 *
 * Typical use in a `*.bench.ts` file:
 *
 *     const medians = await runSuite("matmul", [{ name: "ours 512", fn: () => matmul(a, b) }, …]);
 *     emit("matmul", { medianSeconds: medians, ratios: { … } });
 *
 * Why medians: benny's `ops` figure is rounded for display and can be off by several percent (or 0 for a
 * slow case); `details.median` is the unrounded time per call. Why warm-up: V8 runs a function ~10×
 * slower until TurboFan has optimised it, and benchmark.js's own calibration is too short for that when
 * one call takes seconds.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { enableRelaxedSimd } from "@quant-trim/tensor/node";
import { add, complete, configure, cycle, suite } from "benny";

// As the CLI does: the wasm fp32 GEMM with relaxed SIMD's multiply-add (Node 20 keeps it behind a flag).
const relaxedSimd = enableRelaxedSimd();

export interface BenchCase {
  name: string;
  /** The timed call. Build inputs outside it; return the result so the work cannot be elided. */
  fn: () => unknown;
  /** Per-case overrides, e.g. fewer samples for a case that takes seconds per call. */
  minSamples?: number;
  maxTime?: number;
}

export interface SuiteOptions {
  /** Samples per case (benchmark.js keeps sampling until both minSamples and maxTime are reached). */
  minSamples?: number;
  /** Seconds of sampling per case. */
  maxTime?: number;
  /** Milliseconds of untimed calls per case before the suite starts (at least one call). */
  warmupMs?: number;
}

const RESULTS_DIR = fileURLToPath(new URL("./results", import.meta.url));

/** Values written here are never read; they only keep results alive so no call is optimised away. */
let sink: unknown;

/** Run `fn` with console.log/info/warn silenced (benny and tfjs print banners we do not want). */
export async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const saved = { log: console.log, info: console.info, warn: console.warn };
  const mute = () => undefined;
  console.log = mute;
  console.info = mute;
  console.warn = mute;
  try {
    return await fn();
  } finally {
    console.log = saved.log;
    console.info = saved.info;
    console.warn = saved.warn;
  }
}

/**
 * Call each case repeatedly for `ms` milliseconds so that it is optimised (a single call that already
 * takes longer is enough: its hot loops get optimised on stack while it runs).
 */
export function warmUp(cases: readonly BenchCase[], ms: number): void {
  for (const c of cases) {
    const start = performance.now();
    let calls = 0;
    while (calls < 1 || performance.now() - start < ms) {
      sink = c.fn();
      calls++;
    }
  }
}

/**
 * Warm up, run the cases as one benny suite, save benny's full summary (with every sample) to
 * bench/results/<suite>.json, and return the median seconds per call of each case, by name.
 */
export async function runSuite(
  suiteName: string,
  cases: readonly BenchCase[],
  options: SuiteOptions = {},
): Promise<Record<string, number>> {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`runSuite(${suiteName}): duplicate case name '${c.name}'`);
    names.add(c.name);
  }
  warmUp(cases, options.warmupMs ?? 300);
  const summary = await quietly(() =>
    suite(
      suiteName,
      ...cases.map((c) =>
        add(
          c.name,
          () => {
            sink = c.fn();
          },
          {
            ...(c.minSamples === undefined ? {} : { minSamples: c.minSamples }),
            ...(c.maxTime === undefined ? {} : { maxTime: c.maxTime }),
          },
        ),
      ),
      configure({ cases: { minSamples: options.minSamples ?? 10, maxTime: options.maxTime ?? 1 } }),
      cycle(() => undefined),
      complete(() => undefined),
    ),
  );
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}/${suiteName}.json`, `${JSON.stringify(summary, null, 2)}\n`);
  const medians: Record<string, number> = {};
  for (const r of summary.results) medians[r.name] = r.details.median;
  return medians;
}

/**
 * Median of per-pair time ratios t(x)/t(y), running x then y alternately. Load from other processes
 * shifts both members of a pair alike, so this ratio is steadier than a ratio of two medians taken
 * seconds apart.
 */
export function pairedRatio(x: () => unknown, y: () => unknown, pairs: number): number {
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const t0 = performance.now();
    sink = x();
    const t1 = performance.now();
    sink = y();
    const t2 = performance.now();
    ratios.push((t1 - t0) / (t2 - t1));
  }
  ratios.sort((p, q) => p - q);
  return ratios[ratios.length >> 1]!;
}

/** GFLOP/s for `flops` floating-point operations taking `seconds`. */
export function gflops(flops: number, seconds: number): number {
  return flops / seconds / 1e9;
}

/** Round for reporting (keeps JSON lines short without losing meaningful digits). */
export function round(x: number, digits = 3): number {
  return Number(x.toPrecision(digits + 1));
}

/** The machine a result was measured on. */
export function machine(): { cpu: string; cores: number; node: string; wasmRelaxedSimd: boolean } {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    node: process.version,
    wasmRelaxedSimd: relaxedSimd,
  };
}

/**
 * Print the suite's result as one JSON line on stdout and save it to bench/results/<suite>.summary.json.
 * The suite name, the machine and the time are added.
 */
export function emit(suiteName: string, payload: Record<string, unknown>): void {
  const line = { suite: suiteName, ...payload, machine: machine(), date: new Date().toISOString() };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}/${suiteName}.summary.json`, `${JSON.stringify(line, null, 2)}\n`);
  console.log(JSON.stringify(line));
  if (sink === Symbol.for("never")) console.log("");
}
