/**
 * Integer kernels of npu-sim against onnxruntime-node (CPU, one intra-op thread) in the same process:
 *
 * - GEMM 512³, uint8 activations × int8 weights, int32 accumulation: `gemmIntRequantized` (GEMM plus
 *   per-channel float32 requantization to uint8) against ORT's QLinearMatMul (the same work, per-column
 *   weight scales) and MatMulInteger (int32 out, no requantization: less work than ours); `gemmInt`
 *   alone (int32 out) against MatMulInteger as the like-for-like pair.
 * - `conv2dIntRequantized` on the MNIST CNN's two convolutions (conv 1→8 on 28×28 and 8→16 on 14×14,
 *   3×3, padding 1, batch 64; per-channel symmetric int8 weights, int32 bias, uint8 out) against
 *   QLinearConv.
 *
 * Every npu-sim call runs on the active tensor backend (`QT_BACKEND`, default `wasm` where SIMD runs,
 * where the GEMM's sums come from the WebAssembly int8 GEMM); the `gemmInt` 512³ case is also timed
 * with the backend forced to `js` (npu-sim's TypeScript GEMM), with and without x86 int16 pair
 * saturation (ORT has no pair-saturating op; MatMulInteger is the reference time there).
 *
 * Weights are initializers (ORT prepacks them when the session is built), activations are fed per
 * call. ORT's time includes its JavaScript binding (tensor wrapping, the async call, output copy).
 * Each pair of implementations is called alternately; the line reports each side's median, GOP/s
 * (2·M·N·K, or 2·N·M·Hout·Wout·Cg·kH·kW), the ratio of medians and the median of per-pair ratios
 * (steadier when other work shares the machine), and the same from process CPU time per call (user +
 * system; steadier still under load, though not immune to shared caches). Both sides' outputs are
 * compared once before timing: they must be equal integers.
 *
 * Target (issue "npu-sim, part 1"): GEMM 512³ with per-channel requantization ≥ 3 GOP/s.
 *
 * Run: `npx tsx --conditions=source bench/npu-sim.bench.ts` (or `npm run bench -- npu-sim`). One JSON
 * line on stdout; the samples in bench/results/npu-sim.samples.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import {
  conv2dIntOutputShape,
  conv2dIntRequantized,
  gemmInt,
  gemmIntRequantized,
  type IntActivations,
  type IntWeights,
  intWeights,
  type PreparedOutputStage,
  prepareOutputStage,
} from "@quant-trim/npu-sim";
import { encodeModel, graph } from "@quant-trim/onnx";
import { getBackend, Rng, withBackend } from "@quant-trim/tensor";
import * as ort from "onnxruntime-node";
import { emit, round } from "./harness.js";

const rng = new Rng(11);
const randomInts = (n: number, lo: number, hi: number): number[] =>
  Array.from({ length: n }, () => lo + Math.floor(rng.nextFloat32() * (hi - lo + 1)));

async function session(model: ReturnType<ReturnType<typeof graph>["model"]>): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(model), {
    executionProviders: ["cpu"],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
}

async function runOrt(
  s: ort.InferenceSession,
  name: string,
  data: Uint8Array,
  dims: number[],
): Promise<ArrayLike<number>> {
  const out = await s.run({ [name]: new ort.Tensor("uint8", data, dims) });
  const first = Object.values(out)[0]!;
  const values = first.data as ArrayLike<number>;
  first.dispose();
  return values;
}

interface Timing {
  oursMs: number;
  ortMs: number;
  /** Median of t(ours)/t(ort) over alternating pairs. */
  pairedRatio: number;
  /** Medians of process CPU time (user + system) per call: less sensitive than wall time to other load. */
  oursCpuMs: number;
  ortCpuMs: number;
  samples: { ours: number[]; ort: number[]; oursCpu: number[]; ortCpu: number[] };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

/** Warm both up for `warmupMs`, then time `pairs` alternating calls (ours first, then ORT's). */
async function interleaved(
  ours: () => unknown,
  peer: () => Promise<unknown>,
  pairs: number,
  warmupMs: number,
): Promise<Timing> {
  const start = performance.now();
  do {
    ours();
    await peer();
  } while (performance.now() - start < warmupMs);
  const samples: Timing["samples"] = { ours: [], ort: [], oursCpu: [], ortCpu: [] };
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    ours();
    const t1 = performance.now();
    samples.oursCpu.push(cpuMs(c0));
    const c1 = process.cpuUsage();
    await peer();
    const t2 = performance.now();
    samples.ortCpu.push(cpuMs(c1));
    samples.ours.push(t1 - t0);
    samples.ort.push(t2 - t1);
    ratios.push((t1 - t0) / (t2 - t1));
  }
  return {
    oursMs: median(samples.ours),
    ortMs: median(samples.ort),
    pairedRatio: median(ratios),
    oursCpuMs: median(samples.oursCpu),
    ortCpuMs: median(samples.ortCpu),
    samples,
  };
}

function assertSame(what: string, ours: ArrayLike<number>, theirs: ArrayLike<number>): void {
  if (ours.length !== theirs.length)
    throw new Error(`npu-sim.bench: ${what}: ${ours.length} vs ${theirs.length} elements`);
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== theirs[i])
      throw new Error(`npu-sim.bench: ${what}: element ${i} is ${ours[i]} here, ${theirs[i]} in ORT`);
  }
}

const gops = (ops: number, ms: number): number => round(ops / (ms * 1e-3) / 1e9);

function report(t: Timing, ops: number) {
  return {
    oursMs: round(t.oursMs),
    ortMs: round(t.ortMs),
    oursGops: gops(ops, t.oursMs),
    ortGops: gops(ops, t.ortMs),
    ratioOfMedians: round(t.oursMs / t.ortMs),
    pairedRatio: round(t.pairedRatio),
    oursCpuGops: gops(ops, t.oursCpuMs),
    ortCpuGops: gops(ops, t.ortCpuMs),
    cpuRatio: round(t.oursCpuMs / t.ortCpuMs),
  };
}

/* --- GEMM 512³ ------------------------------------------------------------------------------------ */

const M = 512;
const K = 512;
const N = 512;
const aCodes = Uint8Array.from(randomInts(M * K, 0, 255));
const aZeroPoint = 119;
const bCodes = Int8Array.from(randomInts(K * N, -127, 127));
const aScale = 0.021;
const bScales = Float32Array.from({ length: N }, () => 0.001 + 0.004 * rng.nextFloat32());
const yScale = 0.9;
const yZeroPoint = 7;

const a: IntActivations = { data: aCodes, shape: [M, K], zeroPoint: aZeroPoint };
const b: IntWeights = intWeights({ type: "int8", data: bCodes, shape: [K, N], zeroPoint: 0 });
// onnxruntime's per-column requantization scale, a_scale · b_scale[j] / y_scale in float32.
const gemmStage: PreparedOutputStage = prepareOutputStage({
  mode: "float32",
  effectiveScale: Array.from(bScales, (s) => Math.fround(Math.fround(aScale * s) / yScale)),
  outZeroPoint: yZeroPoint,
  qmin: 0,
  qmax: 255,
});
const gemmOut = new Uint8Array(M * N);
const accOut = new Int32Array(M * N);
const oursGemmRequant = () => gemmIntRequantized(a, b, gemmStage, gemmOut);
const oursGemm = () => gemmInt(a, b, { out: accOut });

const matMulInteger = await session(
  graph("matmulinteger")
    .input("a", "uint8", [M, K])
    .initializer("b", bCodes, [K, N])
    .initializer("az", new Uint8Array([aZeroPoint]), [])
    .initializer("bz", new Int8Array([0]), [])
    .node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])
    .output("y", "int32", [M, N])
    .model({ opset: 13 }),
);
const qLinearMatMul = await session(
  graph("qlinearmatmul")
    .input("a", "uint8", [M, K])
    .initializer("as", new Float32Array([aScale]), [])
    .initializer("az", new Uint8Array([aZeroPoint]), [])
    .initializer("b", bCodes, [K, N])
    .initializer("bs", bScales, [N])
    .initializer("bz", new Int8Array(N), [N])
    .initializer("ys", new Float32Array([yScale]), [])
    .initializer("yz", new Uint8Array([yZeroPoint]), [])
    .node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
    .output("y", "uint8", [M, N])
    .model({ opset: 13 }),
);
const ortMatMulInteger = () => runOrt(matMulInteger, "a", aCodes, [M, K]);
const ortQLinearMatMul = () => runOrt(qLinearMatMul, "a", aCodes, [M, K]);

assertSame("gemmInt vs MatMulInteger", oursGemm(), await ortMatMulInteger());
assertSame("gemmIntRequantized vs QLinearMatMul", oursGemmRequant(), await ortQLinearMatMul());

const gemmOps = 2 * M * N * K;
const requantVsQLinear = await interleaved(oursGemmRequant, ortQLinearMatMul, 15, 1500);
const requantVsInteger = await interleaved(oursGemmRequant, ortMatMulInteger, 15, 500);
const plainVsInteger = await interleaved(oursGemm, ortMatMulInteger, 15, 500);
// The same call with the tensor backend forced to `js`: npu-sim's TypeScript GEMM (on `wasm`, the default
// where SIMD runs, the sums come from the WebAssembly int8 GEMM), and that GEMM with x86 pair saturation.
const plainJsVsInteger = await interleaved(() => withBackend("js", oursGemm), ortMatMulInteger, 9, 500);
const oursGemmPairs = () => gemmInt(a, b, { out: accOut, pairSaturation: true });
const pairsVsInteger = await interleaved(oursGemmPairs, ortMatMulInteger, 15, 500);
const pairsJsVsInteger = await interleaved(() => withBackend("js", oursGemmPairs), ortMatMulInteger, 9, 500);

/* --- MNIST CNN convolutions --------------------------------------------------------------------- */

interface ConvShape {
  name: string;
  batch: number;
  cin: number;
  cout: number;
  size: number;
}
const CONVS: ConvShape[] = [
  { name: "cnn conv1 1→8 28×28", batch: 64, cin: 1, cout: 8, size: 28 },
  { name: "cnn conv2 8→16 14×14", batch: 64, cin: 8, cout: 16, size: 14 },
];

const convResults: Record<string, unknown> = {};
const convSamples: Record<string, Timing["samples"]> = {};
for (const c of CONVS) {
  const xDims = [c.batch, c.cin, c.size, c.size];
  const wDims = [c.cout, c.cin, 3, 3];
  const xCodes = Uint8Array.from(
    randomInts(
      xDims.reduce((p, d) => p * d, 1),
      0,
      255,
    ),
  );
  const wCodes = Int8Array.from(
    randomInts(
      wDims.reduce((p, d) => p * d, 1),
      -127,
      127,
    ),
  );
  const bias = Int32Array.from(randomInts(c.cout, -5000, 5000));
  const xScale = 0.0078;
  const xZeroPoint = 33;
  const wScales = Float32Array.from({ length: c.cout }, () => 0.002 + 0.01 * rng.nextFloat32());
  const outScale = 0.05 * Math.sqrt(c.cin * 9);
  const outZeroPoint = 0;
  const x: IntActivations = { data: xCodes, shape: xDims, zeroPoint: xZeroPoint };
  const w = intWeights({ type: "int8", data: wCodes, shape: wDims, zeroPoint: 0 });
  const stage = prepareOutputStage({
    mode: "float32",
    effectiveScale: Array.from(wScales, (s) => Math.fround(Math.fround(xScale * s) / outScale)),
    outZeroPoint,
    qmin: 0,
    qmax: 255,
  });
  const options = { padding: 1, bias } as const;
  const outShape = conv2dIntOutputShape(xDims, wDims, options);
  const out = new Uint8Array(outShape.reduce((p, d) => p * d, 1));
  const ours = () => conv2dIntRequantized(x, w, stage, out, options);
  const s = await session(
    graph("qlinearconv")
      .input("x", "uint8", xDims)
      .initializer("xs", new Float32Array([xScale]), [])
      .initializer("xz", new Uint8Array([xZeroPoint]), [])
      .initializer("w", wCodes, wDims)
      .initializer("ws", wScales, [c.cout])
      .initializer("wz", new Int8Array(c.cout), [c.cout])
      .initializer("ys", new Float32Array([outScale]), [])
      .initializer("yz", new Uint8Array([outZeroPoint]), [])
      .initializer("B", bias, [c.cout])
      .node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "B"], ["y"], {
        kernel_shape: [3, 3],
        pads: [1, 1, 1, 1],
      })
      .output("y", "uint8", outShape)
      .model({ opset: 13 }),
  );
  const peer = () => runOrt(s, "x", xCodes, xDims);
  assertSame(`${c.name}: conv2dIntRequantized vs QLinearConv`, ours(), await peer());
  const t = await interleaved(ours, peer, 20, 500);
  const ops = 2 * outShape.reduce((p, d) => p * d, 1) * c.cin * 9;
  convResults[c.name] = report(t, ops);
  convSamples[c.name] = t.samples;
  await s.release();
}

await matMulInteger.release();
await qLinearMatMul.release();

const samplesDir = new URL("./results/", import.meta.url);
mkdirSync(samplesDir, { recursive: true });
writeFileSync(
  new URL("npu-sim.samples.json", samplesDir),
  `${JSON.stringify(
    {
      gemm512: {
        requantVsQLinearMatMul: requantVsQLinear.samples,
        requantVsMatMulInteger: requantVsInteger.samples,
        int32VsMatMulInteger: plainVsInteger.samples,
        int32JsVsMatMulInteger: plainJsVsInteger.samples,
        pairsVsMatMulInteger: pairsVsInteger.samples,
        pairsJsVsMatMulInteger: pairsJsVsInteger.samples,
      },
      conv: convSamples,
    },
    null,
    2,
  )}\n`,
);

const headline = report(requantVsQLinear, gemmOps);
emit("npu-sim", {
  threads: 1,
  backend: getBackend(),
  onnxruntime: ort.env.versions.node,
  gemm512: {
    "gemmIntRequantized (per-channel u8) vs QLinearMatMul": headline,
    "gemmIntRequantized (per-channel u8) vs MatMulInteger (int32, no requant)": report(
      requantVsInteger,
      gemmOps,
    ),
    "gemmInt (int32) vs MatMulInteger": report(plainVsInteger, gemmOps),
    "gemmInt (int32), js backend vs MatMulInteger": report(plainJsVsInteger, gemmOps),
    "gemmInt (int32, x86 int16 pair saturation) vs MatMulInteger": report(pairsVsInteger, gemmOps),
    "gemmInt (int32, x86 int16 pair saturation), js backend vs MatMulInteger": report(
      pairsJsVsInteger,
      gemmOps,
    ),
  },
  conv: convResults,
  target: "GEMM 512³ u8×s8, int32 accumulation, per-channel requantization: >= 3 GOP/s",
  targetMet: headline.oursGops >= 3,
  targetMetByCpuTime: headline.oursCpuGops >= 3,
});
