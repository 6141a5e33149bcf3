/**
 * fp32 matmul on the two backends against tfjs: our `js` and `wasm` backends, tfjs-backend-wasm (SIMD,
 * XNNPACK, one thread) and tfjs-backend-cpu (pure JS), square 256/512/1024, interleaved in one process
 * (see interleave.ts); plus `gemm` on the GEMM shapes of MNIST training at batch 64 on both backends.
 *
 * Targets (issue 14): wasm matmul 512³ single thread ≥ 25 GFLOP/s, and its ratio to tfjs-wasm stated
 * (goal: at or above it). GFLOP/s = 2·n³ / median seconds. tfjs results are read back with dataSync()
 * and disposed; ours return a fresh tensor. Answers are checked against each other before timing.
 *
 * Run: `npx tsx --conditions=source bench/backend-matmul.bench.ts`. One JSON line on stdout.
 */
import { loadavg } from "node:os";
import { gemm, matmul, Rng, randn, setBackend, type Tensor } from "@quant-trim/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { emit, gflops, quietly, round } from "./harness.js";
import { interleaved, roundRatio } from "./interleave.js";

await quietly(async () => {
  setThreadsCount(1);
  await tf.setBackend("wasm");
  await tf.ready();
});
const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
const threads = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");

const rng = new Rng(7);
const SIZES = [256, 512, 1024] as const;

function tfMatMul(backend: "wasm" | "cpu", ta: tf.Tensor2D, tb: tf.Tensor2D): () => Float32Array {
  return () => {
    tf.setBackend(backend);
    const r = tf.matMul(ta, tb);
    const v = r.dataSync() as Float32Array;
    r.dispose();
    return v;
  };
}

const square: Record<string, unknown> = {};
for (const n of SIZES) {
  const a = randn([n, n], rng);
  const b = randn([n, n], rng);
  const ours = (backend: "js" | "wasm") => () => {
    setBackend(backend);
    return matmul(a, b);
  };
  const [taW, tbW] = await quietly(() => {
    tf.setBackend("wasm");
    return [tf.tensor2d(a.data as Float32Array, [n, n]), tf.tensor2d(b.data as Float32Array, [n, n])];
  });
  const [taC, tbC] = await quietly(() => {
    tf.setBackend("cpu");
    return [tf.tensor2d(a.data as Float32Array, [n, n]), tf.tensor2d(b.data as Float32Array, [n, n])];
  });
  // Same answer (up to float32 rounding) from all four before timing.
  const ref = (ours("js")() as Tensor).values();
  for (const [name, v] of [
    ["wasm", (ours("wasm")() as Tensor).values()],
    ["tfjs-wasm", tfMatMul("wasm", taW, tbW)()],
  ] as const) {
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i]! - v[i]!));
    if (!(worst < 1e-2))
      throw new Error(`backend-matmul.bench: ${name} differs from js by ${worst} at n = ${n}`);
  }
  const slow = n === 1024;
  const cases = [
    { name: "wasm", fn: ours("wasm"), calls: slow ? 1 : 3 },
    { name: "tfjs-wasm", fn: tfMatMul("wasm", taW, tbW), calls: slow ? 1 : 3 },
    { name: "js", fn: ours("js") },
    ...(n <= 512 ? [{ name: "tfjs-cpu", fn: tfMatMul("cpu", taC, tbC) }] : []),
  ];
  const r = interleaved(cases, { rounds: slow ? 5 : 9, warmupMs: 400 });
  const flops = 2 * n ** 3;
  square[n] = {
    medianMs: Object.fromEntries(Object.entries(r.wall).map(([k, v]) => [k, round(v * 1e3)])),
    gflops: Object.fromEntries(Object.entries(r.wall).map(([k, v]) => [k, round(gflops(flops, v))])),
    gflopsFromCpuTime: Object.fromEntries(
      Object.entries(r.cpu).map(([k, v]) => [k, round(gflops(flops, v))]),
    ),
    wasmSpeedupOverTfjsWasm: round(roundRatio(r, "tfjs-wasm", "wasm")),
    wasmSpeedupOverTfjsWasmCpuTime: round(roundRatio(r, "tfjs-wasm", "wasm", "cpu")),
    wasmSpeedupOverJs: round(roundRatio(r, "js", "wasm")),
  };
  tf.setBackend("wasm");
  tf.dispose([taW, tbW]);
  tf.setBackend("cpu");
  tf.dispose([taC, tbC]);
}

/** The GEMM shapes of MNIST training at batch 64: op(A) is M×K, op(B) is K×N. */
const TRAINING = [
  { name: "mlp fc1 fwd x[64×784]·W[784×256]", transA: false, transB: false, M: 64, N: 256, K: 784 },
  { name: "mlp fc1 dx dy[64×256]·W[784×256]ᵀ", transA: false, transB: true, M: 64, N: 784, K: 256 },
  { name: "mlp fc1 dW x[64×784]ᵀ·dy[64×256]", transA: true, transB: false, M: 784, N: 256, K: 64 },
  { name: "linear 784→10 x[64×784]·W[10×784]ᵀ", transA: false, transB: true, M: 64, N: 10, K: 784 },
  {
    name: "cnn conv2 as one GEMM W[16×72]·cols[72×12544]",
    transA: false,
    transB: false,
    M: 16,
    N: 12544,
    K: 72,
  },
] as const;
const training: Record<string, unknown> = {};
for (const s of TRAINING) {
  const A = randn([s.M * s.K], rng).data;
  const B = randn([s.K * s.N], rng).data;
  const C = new Float32Array(s.M * s.N);
  const lda = s.transA ? s.M : s.K;
  const ldb = s.transB ? s.K : s.N;
  const call = (backend: "js" | "wasm") => () => {
    setBackend(backend);
    gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, s.N);
    return C;
  };
  const r = interleaved(
    [
      { name: "wasm", fn: call("wasm"), calls: 5 },
      { name: "js", fn: call("js"), calls: 2 },
    ],
    { rounds: 7, warmupMs: 200 },
  );
  const flops = 2 * s.M * s.N * s.K;
  training[s.name] = {
    wasmMs: round(r.wall.wasm! * 1e3),
    jsMs: round(r.wall.js! * 1e3),
    wasmGflops: round(gflops(flops, r.wall.wasm!)),
    speedup: round(roundRatio(r, "js", "wasm")),
  };
}
setBackend("wasm");

const at512 = square[512] as { gflops: Record<string, number>; wasmSpeedupOverTfjsWasm: number };
emit("backend-matmul", {
  dtype: "float32",
  threads: 1,
  tfjsWasm: { simd, multithread: threads, threadsCount: 1 },
  square,
  training,
  target: "wasm 512³ >= 25 GFLOP/s; ratio to tfjs-wasm stated",
  targetMet: at512.gflops.wasm! >= 25,
  loadAverage: loadavg().map((x) => round(x, 2)),
});
