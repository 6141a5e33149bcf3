/**
 * Broadcasting `add` against a hand-written loop over the same Float32Arrays (and ndarray-ops for the
 * same-shape case), 1M float32 elements. Target: `add` within 1.2× of the hand loop.
 *
 * Fairness: every case allocates its own 1M-element output, because `add` must return a fresh tensor;
 * the hand loops do exactly `new Float32Array(n)` plus one pass. Inputs are built once, outside timing.
 * The hand loops read module-level constants, which V8 may constant-fold (no per-element map/bounds
 * re-checks), so they are the strictest baseline a kernel taking arrays as arguments can be held to.
 *
 * Run: `npx tsx bench/add.bench.ts`. Prints one JSON line (median seconds per case and the ratios) and
 * saves benny's full JSON to bench/results/add.json.
 */
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { add, Rng, rand, Tensor } from "@quant-trim/tensor";
import { add as benchCase, complete, configure, cycle, save, suite } from "benny";
import ndarray from "ndarray";
import ops from "ndarray-ops";

const ROWS = 1000;
const COLS = 1000;
const N = ROWS * COLS;

const rng = new Rng(1);
const a = rand([ROWS, COLS], rng, -1, 1);
const b = rand([ROWS, COLS], rng, -1, 1);
const row = rand([COLS], rng, -1, 1);
const ad = a.data as Float32Array;
const bd = b.data as Float32Array;
const rd = row.data as Float32Array;

function handSameShape(): Float32Array {
  const out = new Float32Array(N);
  for (let i = 0; i < N; i++) out[i] = ad[i]! + bd[i]!;
  return out;
}

function handRowBroadcast(): Float32Array {
  const out = new Float32Array(N);
  for (let r = 0; r < ROWS; r++) {
    const base = r * COLS;
    for (let c = 0; c < COLS; c++) out[base + c] = ad[base + c]! + rd[c]!;
  }
  return out;
}

const ndA = ndarray(ad, [ROWS, COLS]);
const ndB = ndarray(bd, [ROWS, COLS]);
function ndarrayOpsSameShape(): Float32Array {
  const out = new Float32Array(N);
  ops.add(ndarray(out, [ROWS, COLS]), ndA, ndB);
  return out;
}

// Sanity: the cases compute the same thing (exact: same float32 additions).
function sameValues(x: Tensor | Float32Array, y: Float32Array): boolean {
  const xs = x instanceof Tensor ? x.values() : x;
  return xs.length === y.length && xs.every((v, i) => v === y[i]);
}
if (!sameValues(add(a, b), handSameShape()) || !sameValues(add(a, row), handRowBroadcast())) {
  throw new Error("add.bench: add() disagrees with the hand-written loop");
}
if (!sameValues(ndarrayOpsSameShape(), handSameShape())) throw new Error("add.bench: ndarray-ops disagrees");

// Keep results alive so the work cannot be optimised away.
let sink = 0;
const keep = (x: { length: number }) => {
  sink += x.length;
};

const CASES = {
  addSameShape: "add [1000,1000] + [1000,1000]",
  handSameShape: "hand loop [1000,1000] + [1000,1000]",
  ndarrayOpsSameShape: "ndarray-ops add [1000,1000] + [1000,1000]",
  addBroadcast: "add [1000,1000] + [1000]",
  handBroadcast: "hand loop [1000,1000] + [1000]",
} as const;

// benny announces itself with console.log; stdout must carry only the JSON line, so send that to stderr.
const log = console.log;
console.log = console.error;
const summary = await suite(
  "add",
  benchCase(CASES.addSameShape, () => keep(add(a, b).data)),
  benchCase(CASES.handSameShape, () => keep(handSameShape())),
  benchCase(CASES.ndarrayOpsSameShape, () => keep(ndarrayOpsSameShape())),
  benchCase(CASES.addBroadcast, () => keep(add(a, row).data)),
  benchCase(CASES.handBroadcast, () => keep(handRowBroadcast())),
  configure({ cases: { minSamples: 20, maxTime: 1 } }),
  cycle(() => undefined),
  complete(() => undefined),
  save({
    file: "add",
    folder: fileURLToPath(new URL("./results", import.meta.url)),
    format: "json",
    details: true,
  }),
);
console.log = log;

// benny runs the cases one after another, so load from other processes between cases skews its ratios.
// Paired runs (add, then the hand loop, alternating) give a drift-resistant ratio: the median of the
// per-pair time ratios.
function pairedRatio(x: () => unknown, y: () => unknown, pairs = 60): number {
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const t0 = performance.now();
    x();
    const t1 = performance.now();
    y();
    const t2 = performance.now();
    ratios.push((t1 - t0) / (t2 - t1));
  }
  ratios.sort((p, q) => p - q);
  return Number(ratios[ratios.length >> 1]!.toFixed(3));
}
const paired = {
  addVsHandSameShape: pairedRatio(
    () => keep(add(a, b).data),
    () => keep(handSameShape()),
  ),
  addVsHandBroadcast: pairedRatio(
    () => keep(add(a, row).data),
    () => keep(handRowBroadcast()),
  ),
};

const median: Record<string, number> = {};
for (const r of summary.results) median[r.name] = r.details.median;
const ratio = (x: string, y: string) => Number((median[x]! / median[y]!).toFixed(3));
console.log(
  JSON.stringify({
    suite: "add",
    elements: N,
    dtype: "float32",
    outputs: "every case allocates its output",
    machine: `${cpus()[0]?.model ?? "unknown"} ×${cpus().length}`,
    node: process.version,
    medianSeconds: median,
    ratios: {
      addVsHandSameShape: ratio(CASES.addSameShape, CASES.handSameShape),
      addVsHandBroadcast: ratio(CASES.addBroadcast, CASES.handBroadcast),
      ndarrayOpsVsHandSameShape: ratio(CASES.ndarrayOpsSameShape, CASES.handSameShape),
    },
    pairedRatios: paired,
    target: "add within 1.2x of the hand loop",
    sink: sink > 0,
  }),
);
