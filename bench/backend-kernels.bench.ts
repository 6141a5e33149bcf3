/**
 * The wasm backend's kernels other than the GEMM against the js backend, interleaved in one process:
 * - `fakeQuantizeInto` INT8 on 1M float32 values ([256, 4096]): per-channel, per-channel with the
 *   in-range mask, asymmetric per-tensor (target, issue 14: ≥ 800 M elements/s per-tensor and
 *   per-channel);
 * - the convolution and pooling calls of one MNIST CNN training step at batch 64 (conv 1→8 on 28×28,
 *   conv 8→16 on 14×14, 3×3, padding 1, their gradients; 2×2 max pooling and its gradient), and ReLU
 *   with its gradient's `greater(x, 0)` on the first convolution's output;
 * - the CNN's two conv → ReLU → max-pool blocks at batch 64, fused (`conv2dReluMaxPool` and its
 *   backward: one masked scatter, then the conv gradients) against the unfused calls autograd makes
 *   (conv2d, relu, maxPool2d; maxPool2dBackward, greater, mul, conv gradients, the bias sum), forward
 *   and forward + backward (block 1 needs no dx: its input is the image), on both backends.
 * The weight-gradient cases run after a forward pass of the same x, as autograd calls them, so the
 * wasm backend reuses the forward pass's columns (the js backend rebuilds them either way).
 *
 * Run: `npx tsx --conditions=source bench/backend-kernels.bench.ts`. One JSON line on stdout.
 */
import { loadavg } from "node:os";
import {
  computeQParams,
  fakeQuantizeInto,
  int8AsymmetricPerTensor,
  int8SymmetricPerChannel,
  minMax,
} from "@quant-trim/quant";
import {
  type BackendName,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dReluMaxPool,
  conv2dReluMaxPoolBackward,
  greater,
  maxPool2d,
  maxPool2dBackward,
  mul,
  Rng,
  randn,
  relu,
  setBackend,
  sum,
  type Tensor,
} from "@quant-trim/tensor";
import { emit, round } from "./harness.js";
import { type InterleavedResult, interleaved, roundRatio } from "./interleave.js";

const rng = new Rng(5);
const on = (backend: BackendName, fn: () => unknown) => () => {
  setBackend(backend);
  return fn();
};

/* --- fake quantization --------------------------------------------------------------------------- */
const CHANNELS = 256;
const PER_CHANNEL = 4096;
const N = CHANNELS * PER_CHANNEL;
const SHAPE = [CHANNELS, PER_CHANNEL];
const x = Float32Array.from({ length: N }, () => rng.normal());
const out = new Float32Array(N);
const mask = new Uint8Array(N);
const rc = minMax(x, int8SymmetricPerChannel, SHAPE);
const qpChannel = computeQParams(rc.min, rc.max, int8SymmetricPerChannel);
const rt = minMax(x, int8AsymmetricPerTensor);
const qpTensor = computeQParams(rt.min, rt.max, int8AsymmetricPerTensor);
const fq = {
  "per-channel": () => fakeQuantizeInto(out, x, qpChannel, int8SymmetricPerChannel, SHAPE),
  "per-channel + mask": () => fakeQuantizeInto(out, x, qpChannel, int8SymmetricPerChannel, SHAPE, { mask }),
  "per-tensor": () => fakeQuantizeInto(out, x, qpTensor, int8AsymmetricPerTensor),
};
const fqCases = Object.entries(fq).flatMap(([name, fn]) => [
  { name: `${name} wasm`, fn: on("wasm", fn), calls: 4 },
  { name: `${name} js`, fn: on("js", fn), calls: 2 },
]);
const fqr = interleaved(fqCases, { rounds: 9, warmupMs: 300 });
const fakeQuantize: Record<string, unknown> = {};
for (const name of Object.keys(fq)) {
  fakeQuantize[name] = {
    wasmMElementsPerSecond: round(N / fqr.wall[`${name} wasm`]! / 1e6),
    jsMElementsPerSecond: round(N / fqr.wall[`${name} js`]! / 1e6),
    wasmMElementsPerSecondFromCpuTime: round(N / fqr.cpu[`${name} wasm`]! / 1e6),
    speedup: round(roundRatio(fqr, `${name} js`, `${name} wasm`)),
  };
}

/* --- one CNN step's convolution, pooling and ReLU calls ------------------------------------------ */
const B = 64;
const pad1 = { padding: 1 };
const x1 = randn([B, 1, 28, 28], rng);
const w1 = randn([8, 1, 3, 3], rng, 0, 0.3);
const b1 = randn([8], rng);
const y1 = conv2d(x1, w1, b1, pad1);
const dy1 = randn(y1.shape, rng);
const x2 = randn([B, 8, 14, 14], rng);
const w2 = randn([16, 8, 3, 3], rng, 0, 0.1);
const dy2 = randn([B, 16, 14, 14], rng);
const pooled = maxPool2d(y1, { kernel: 2 });
const dPooled = randn(pooled.out.shape, rng);
const layer = {
  "conv1 fwd": () => conv2d(x1, w1, b1, pad1),
  "conv1 fwd + dW": () => {
    conv2d(x1, w1, b1, pad1);
    return conv2dBackwardWeight(dy1, x1, w1.shape, pad1);
  },
  "conv2 fwd": () => conv2d(x2, w2, null, pad1),
  "conv2 dx": () => conv2dBackwardInput(dy2, w2, x2.shape, pad1),
  "conv2 fwd + dW": () => {
    conv2d(x2, w2, null, pad1);
    return conv2dBackwardWeight(dy2, x2, w2.shape, pad1);
  },
  "maxPool2d 2×2 [64,8,28,28]": () => maxPool2d(y1, { kernel: 2 }),
  "maxPool2d backward": () => maxPool2dBackward(dPooled, pooled.indices, y1.shape),
  "relu [64,8,28,28]": () => relu(y1),
  "greater(x, 0) [64,8,28,28]": () => greater(y1, 0),
};
const layerCases = Object.entries(layer).flatMap(([name, fn]) => [
  { name: `${name} wasm`, fn: on("wasm", fn), calls: 4 },
  { name: `${name} js`, fn: on("js", fn), calls: 2 },
]);
const lr = interleaved(layerCases, { rounds: 7, warmupMs: 200 });
const cnnStep: Record<string, unknown> = {};
for (const name of Object.keys(layer)) {
  cnnStep[name] = {
    wasmMs: round(lr.wall[`${name} wasm`]! * 1e3),
    jsMs: round(lr.wall[`${name} js`]! * 1e3),
    speedup: round(roundRatio(lr, `${name} js`, `${name} wasm`)),
  };
}

/* --- the CNN's conv → ReLU → max-pool blocks, fused against unfused ------------------------------ */
const pool2 = { kernel: 2 };
const b2 = randn([16], rng);
const blocks = [
  { name: "block1 [64,1,28,28]→8", x: x1, w: w1, b: b1, dx: false },
  { name: "block2 [64,8,14,14]→16", x: x2, w: w2, b: b2, dx: true },
];
const unfusedForward = (x: Tensor, w: Tensor, b: Tensor) => {
  const c = conv2d(x, w, b, pad1);
  return { c, p: maxPool2d(relu(c), pool2) };
};
const fusion: Record<string, () => unknown> = {};
for (const k of blocks) {
  const dp = randn(conv2dReluMaxPool(k.x, k.w, k.b, pad1, pool2).out.shape, rng);
  fusion[`${k.name} fwd fused`] = () => conv2dReluMaxPool(k.x, k.w, k.b, pad1, pool2);
  fusion[`${k.name} fwd unfused`] = () => unfusedForward(k.x, k.w, k.b);
  fusion[`${k.name} fwd+bwd fused`] = () => {
    const f = conv2dReluMaxPool(k.x, k.w, k.b, pad1, pool2);
    return conv2dReluMaxPoolBackward(dp, f, k.x, k.w, pad1, { x: k.dx, w: true, bias: true });
  };
  fusion[`${k.name} fwd+bwd unfused`] = () => {
    const { c, p } = unfusedForward(k.x, k.w, k.b);
    const dc = mul(maxPool2dBackward(dp, p.indices, c.shape), greater(c, 0));
    return [
      k.dx ? conv2dBackwardInput(dc, k.w, k.x.shape, pad1) : null,
      conv2dBackwardWeight(dc, k.x, k.w.shape, pad1),
      sum(dc, [0, 2, 3]),
    ];
  };
}
// One interleaved run per fused/unfused pair. Interleaving only rotates the order, so in a longer list
// each case keeps its predecessor, and a case placed after a garbage-heavy one pays for its collection
// (measured: the wasm block-2 forward after the js unfused block-1 step ran 2× slower than alone, in
// samples of 2–16 ms). With two cases and an even number of rounds, each follows itself and the other
// equally often.
const fr: InterleavedResult = { wall: {}, cpu: {}, samples: {} };
for (const backend of ["wasm", "js"] as const) {
  for (const k of blocks) {
    for (const pass of ["fwd", "fwd+bwd"]) {
      const cases = ["fused", "unfused"].map((kind) => {
        const name = `${k.name} ${pass} ${kind}`;
        return {
          name: `${name} ${backend}`,
          fn: on(backend, fusion[name]!),
          calls: backend === "wasm" ? 4 : 2,
        };
      });
      const r = interleaved(cases, { rounds: 10, warmupMs: 200 });
      Object.assign(fr.wall, r.wall);
      Object.assign(fr.cpu, r.cpu);
      Object.assign(fr.samples, r.samples);
    }
  }
}
const cnnBlocks: Record<string, unknown> = {};
for (const k of blocks) {
  for (const pass of ["fwd", "fwd+bwd"]) {
    const entry: Record<string, unknown> = {};
    for (const backend of ["wasm", "js"]) {
      const fused = `${k.name} ${pass} fused ${backend}`;
      const unfused = `${k.name} ${pass} unfused ${backend}`;
      entry[backend] = {
        fusedMs: round(fr.wall[fused]! * 1e3),
        unfusedMs: round(fr.wall[unfused]! * 1e3),
        // Median over rounds of unfused / fused (> 1: fusion is faster).
        speedup: round(roundRatio(fr, unfused, fused)),
        speedupCpuTime: round(roundRatio(fr, unfused, fused, "cpu")),
      };
    }
    cnnBlocks[`${k.name} ${pass}`] = entry;
  }
}
setBackend("wasm");

const met = (k: string) =>
  (fakeQuantize[k] as { wasmMElementsPerSecond: number }).wasmMElementsPerSecond >= 800;
emit("backend-kernels", {
  fakeQuantize,
  cnnStep,
  cnnBlocks,
  targets: {
    "fakeQuantizeInto INT8 per-tensor and per-channel >= 800 M elements/s":
      met("per-channel") && met("per-tensor"),
  },
  loadAverage: loadavg().map((v) => round(v, 2)),
});
