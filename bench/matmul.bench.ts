/**
 * Float32 matrix multiply: `matmul` against tfjs's pure-JS CPU backend (`tf.matMul`) on square
 * 256/512/1024 problems in the same process, plus `gemm` alone on the GEMM shapes that training the
 * MNIST models at batch 64 really runs (MLP 784-256-10, the CNN's im2col products and their gradients).
 *
 * Targets: 512³ at ≥ 2.0 GFLOP/s (median) and ≥ 4× tfjs-cpu.
 * GFLOP/s = 2·M·N·K / median seconds. Both sides return a fresh output; tfjs results are read back with
 * dataSync() so that the work is really done, and disposed.
 *
 * Run: `npx tsx bench/matmul.bench.ts` (or `npm run bench -- matmul`). One JSON line on stdout; benny's
 * full results in bench/results/matmul.json.
 */
import { gemm, matmul, Rng, randn, type Tensor } from "@quant-trim/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { type BenchCase, emit, gflops, pairedRatio, quietly, round, runSuite } from "./harness.js";

await quietly(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
});

const rng = new Rng(7);
const SIZES = [256, 512, 1024] as const;

interface Square {
  n: number;
  a: Tensor;
  b: Tensor;
  ta: tf.Tensor2D;
  tb: tf.Tensor2D;
}
const squares: Square[] = await quietly(() =>
  SIZES.map((n) => {
    const a = randn([n, n], rng);
    const b = randn([n, n], rng);
    return {
      n,
      a,
      b,
      ta: tf.tensor2d(a.data as Float32Array, [n, n]),
      tb: tf.tensor2d(b.data as Float32Array, [n, n]),
    };
  }),
);

const ours = (s: Square) => () => matmul(s.a, s.b);
const peer = (s: Square) => () => {
  const r = tf.matMul(s.ta, s.tb);
  const v = r.dataSync();
  r.dispose();
  return v;
};

// Same answer from both (up to float32 rounding) before anything is timed.
{
  const s = squares[0]!;
  const mine = ours(s)().data;
  const theirs = peer(s)();
  let worst = 0;
  for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - theirs[i]!));
  if (!(worst < 1e-3)) throw new Error(`matmul.bench: matmul and tf.matMul differ by ${worst}`);
}

/** A GEMM shape from MNIST training at batch 64; op(A) is M×K, op(B) is K×N, row-major storage. */
interface Shape {
  name: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
}
const TRAINING: Shape[] = [
  { name: "mlp fc1 fwd x[64×784]·W[784×256]", transA: false, transB: false, M: 64, N: 256, K: 784 },
  { name: "mlp fc1 dx dy[64×256]·W[784×256]ᵀ", transA: false, transB: true, M: 64, N: 784, K: 256 },
  { name: "mlp fc1 dW x[64×784]ᵀ·dy[64×256]", transA: true, transB: false, M: 784, N: 256, K: 64 },
  { name: "linear 784→10 x[64×784]·W[10×784]ᵀ", transA: false, transB: true, M: 64, N: 10, K: 784 },
  { name: "cnn conv1 W[8×9]·cols[9×50176]", transA: false, transB: false, M: 8, N: 50176, K: 9 },
  { name: "cnn conv2 W[16×72]·cols[72×12544]", transA: false, transB: false, M: 16, N: 12544, K: 72 },
  { name: "cnn conv1 dW dy[8×50176]·cols[9×50176]ᵀ", transA: false, transB: true, M: 8, N: 9, K: 50176 },
  { name: "cnn conv2 dW dy[16×12544]·cols[72×12544]ᵀ", transA: false, transB: true, M: 16, N: 72, K: 12544 },
  { name: "cnn conv1 dcols W[8×9]ᵀ·dy[8×50176]", transA: true, transB: false, M: 9, N: 50176, K: 8 },
  { name: "cnn conv2 dcols W[16×72]ᵀ·dy[16×12544]", transA: true, transB: false, M: 72, N: 12544, K: 16 },
];

function gemmCase(s: Shape): BenchCase {
  const A = randn([s.M * s.K], rng).data;
  const B = randn([s.K * s.N], rng).data;
  const C = new Float32Array(s.M * s.N);
  const lda = s.transA ? s.M : s.K;
  const ldb = s.transB ? s.K : s.N;
  return {
    name: s.name,
    maxTime: 0.5,
    fn: () => {
      gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, s.N);
      return C;
    },
  };
}

const squareCases: BenchCase[] = squares.flatMap((s) => [
  { name: `ours matmul ${s.n}`, fn: ours(s), ...(s.n === 1024 ? { minSamples: 5 } : {}) },
  { name: `tfjs matMul ${s.n}`, fn: peer(s), ...(s.n === 1024 ? { minSamples: 3 } : {}) },
]);
const trainingCases = TRAINING.map(gemmCase);

const medians = await runSuite("matmul", [...squareCases, ...trainingCases], {
  minSamples: 10,
  maxTime: 1,
  warmupMs: 400,
});

const square: Record<string, unknown> = {};
for (const s of squares) {
  const flops = 2 * s.n ** 3;
  const mine = medians[`ours matmul ${s.n}`]!;
  const theirs = medians[`tfjs matMul ${s.n}`]!;
  square[s.n] = {
    oursMs: round(mine * 1e3),
    tfjsMs: round(theirs * 1e3),
    oursGflops: round(gflops(flops, mine)),
    tfjsGflops: round(gflops(flops, theirs)),
    speedupVsTfjs: round(theirs / mine),
  };
}
// Drift-resistant cross-check of the headline ratio: alternate the two, take the median per-pair ratio.
const pairedSpeedup512 = round(pairedRatio(peer(squares[1]!), ours(squares[1]!), 5));

const training: Record<string, unknown> = {};
for (const s of TRAINING) {
  const t = medians[s.name]!;
  training[s.name] = { ms: round(t * 1e3), gflops: round(gflops(2 * s.M * s.N * s.K, t)) };
}

const g512 = square[512] as { oursGflops: number; speedupVsTfjs: number };
emit("matmul", {
  dtype: "float32",
  threads: 1,
  square,
  pairedSpeedupVsTfjs512: pairedSpeedup512,
  training,
  target: "512: >= 2.0 GFLOP/s and >= 4x tfjs-cpu",
  targetMet: g512.oursGflops >= 2.0 && g512.speedupVsTfjs >= 4,
  // The same check with the drift-resistant paired ratio (differs from the above only on a busy machine).
  targetMetPaired: g512.oursGflops >= 2.0 && pairedSpeedup512 >= 4,
});
