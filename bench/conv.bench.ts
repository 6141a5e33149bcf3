/**
 * 3×3 convolution, batch 32, 16→32 channels, 14×14, padding 1: `conv2d` (NCHW, im2col + GEMM) against
 * tfjs's pure-JS CPU backend `tf.conv2d` in the same process. Layouts differ: tfjs works in NHWC with
 * HWIO filters, its native layout; each side gets its inputs in its own layout (built once, not timed), so
 * both do the same arithmetic, 2·N·Cout·Hout·Wout·Cin·kH·kW flops, and return a fresh output. No bias on
 * either side. Target: ≥ 1.5 GFLOP/s effective; the ratio to tfjs is reported.
 *
 * Also timed (ours only): the convolution and pooling calls of one MNIST CNN training step at batch 64
 * (conv 1→8 on 28×28, conv 8→16 on 14×14, 3×3, padding 1, and their gradients; 2×2 max pooling).
 *
 * Run: `npx tsx bench/conv.bench.ts` (or `npm run bench -- conv`). One JSON line on stdout; benny's full
 * results in bench/results/conv.json.
 */
import {
  type Conv2dOptions,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dOutputShape,
  maxPool2d,
  maxPool2dBackward,
  permute,
  Rng,
  randn,
} from "@quant-trim/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { type BenchCase, emit, gflops, pairedRatio, quietly, round, runSuite } from "./harness.js";

await quietly(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
});

const rng = new Rng(3);

/** Flops of one convolution, counting a multiply-add as two. */
function convFlops(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions): number {
  const [N, Cout, Hout, Wout] = conv2dOutputShape(xShape, wShape, opts) as [number, number, number, number];
  const [, cinPerGroup, kH, kW] = wShape as [number, number, number, number];
  return 2 * N * Cout * Hout * Wout * cinPerGroup * kH * kW;
}

// The headline problem, in both layouts (same values).
const x = randn([32, 16, 14, 14], rng);
const w = randn([32, 16, 3, 3], rng, 0, 0.1);
const pad1: Conv2dOptions = { padding: 1 };
const headlineFlops = convFlops(x.shape, w.shape, pad1);
const { tx, tw } = await quietly(() => ({
  tx: tf.tensor4d(permute(x, [0, 2, 3, 1]).toFloat32Array(), [32, 14, 14, 16]),
  tw: tf.tensor4d(permute(w, [2, 3, 1, 0]).toFloat32Array(), [3, 3, 16, 32]),
}));

const ours = () => conv2d(x, w, null, pad1);
const peer = () => {
  const r = tf.conv2d(tx, tw, 1, "same");
  const v = r.dataSync();
  r.dispose();
  return v;
};

// Same answer from both before timing: tfjs's NHWC output transposed back to NCHW.
{
  const mine = permute(ours(), [0, 2, 3, 1]).toFloat32Array();
  const theirs = peer();
  let worst = 0;
  for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - theirs[i]!));
  if (!(worst < 1e-3)) throw new Error(`conv.bench: conv2d and tf.conv2d differ by ${worst}`);
}

// One MNIST CNN training step's convolution work at batch 64.
const B = 64;
const x1 = randn([B, 1, 28, 28], rng);
const w1 = randn([8, 1, 3, 3], rng, 0, 0.3);
const y1 = conv2d(x1, w1, null, pad1);
const dy1 = randn(y1.shape, rng);
const x2 = randn([B, 8, 14, 14], rng);
const w2 = randn([16, 8, 3, 3], rng, 0, 0.1);
const y2 = conv2d(x2, w2, null, pad1);
const dy2 = randn(y2.shape, rng);
const pooled = maxPool2d(y1, { kernel: 2 });
const dPooled = randn(pooled.out.shape, rng);

interface Timed {
  name: string;
  fn: () => unknown;
  flops?: number;
}
const training: Timed[] = [
  {
    name: "cnn conv1 fwd x[64,1,28,28] w[8,1,3,3]",
    fn: () => conv2d(x1, w1, null, pad1),
    flops: convFlops(x1.shape, w1.shape, pad1),
  },
  {
    name: "cnn conv1 dW",
    fn: () => conv2dBackwardWeight(dy1, x1, w1.shape, pad1),
    flops: convFlops(x1.shape, w1.shape, pad1),
  },
  {
    name: "cnn conv2 fwd x[64,8,14,14] w[16,8,3,3]",
    fn: () => conv2d(x2, w2, null, pad1),
    flops: convFlops(x2.shape, w2.shape, pad1),
  },
  {
    name: "cnn conv2 dx",
    fn: () => conv2dBackwardInput(dy2, w2, x2.shape, pad1),
    flops: convFlops(x2.shape, w2.shape, pad1),
  },
  {
    name: "cnn conv2 dW",
    fn: () => conv2dBackwardWeight(dy2, x2, w2.shape, pad1),
    flops: convFlops(x2.shape, w2.shape, pad1),
  },
  { name: "maxPool2d 2×2 [64,8,28,28]", fn: () => maxPool2d(y1, { kernel: 2 }) },
  {
    name: "maxPool2d backward [64,8,28,28]",
    fn: () => maxPool2dBackward(dPooled, pooled.indices, y1.shape),
  },
];

const cases: BenchCase[] = [
  { name: "ours conv2d", fn: ours },
  { name: "tfjs conv2d", fn: peer },
  ...training.map((t) => ({ name: t.name, fn: t.fn })),
];
const medians = await runSuite("conv", cases, { minSamples: 10, maxTime: 1, warmupMs: 400 });

const mine = medians["ours conv2d"]!;
const theirs = medians["tfjs conv2d"]!;
const pairedSpeedup = round(pairedRatio(peer, ours, 15));
const trainingOut: Record<string, unknown> = {};
for (const t of training) {
  const s = medians[t.name]!;
  trainingOut[t.name] =
    t.flops === undefined
      ? { ms: round(s * 1e3) }
      : { ms: round(s * 1e3), gflops: round(gflops(t.flops, s)) };
}
const oursGflops = round(gflops(headlineFlops, mine));

emit("conv", {
  problem: "x[32,16,14,14] (NCHW; tfjs NHWC) w[32,16,3,3] padding 1 stride 1, float32",
  flops: headlineFlops,
  oursMs: round(mine * 1e3),
  tfjsMs: round(theirs * 1e3),
  oursGflops,
  tfjsGflops: round(gflops(headlineFlops, theirs)),
  speedupVsTfjs: round(theirs / mine),
  pairedSpeedupVsTfjs: pairedSpeedup,
  training: trainingOut,
  target: "conv2d >= 1.5 GFLOP/s effective",
  targetMet: oursGflops >= 1.5,
});
