/**
 * The int8 GEMM in WebAssembly SIMD (`gemmInt8Wasm`) on 512³ — uint8 activations (zero point 128) ×
 * int8 weights, int32 out — against onnxruntime-node's MatMulInteger (CPU, one intra-op thread; weights
 * are an initializer, so ORT prepacks them once) and npu-sim's JavaScript `gemmInt`, interleaved in one
 * process (each round: one call of each, order rotating). Also the x86 pair-saturation mode (no peer:
 * ORT does not model it; npu-sim's `gemmInt` with `pairSaturation` is the reference). Outputs are checked
 * equal (exact integers) before timing. GOP/s = 2·M·N·K / median seconds; ORT's time includes its
 * JavaScript binding (tensor wrapping, the async call, the output copy); ours includes copying operands
 * into WebAssembly memory and packing them on every call.
 *
 * Target (issue 14): int8 GEMM 512³ ≥ 15 GOP/s, ratio to onnxruntime MatMulInteger stated.
 *
 * Run: `npx tsx --conditions=source bench/backend-int8.bench.ts`. One JSON line on stdout.
 */
import { loadavg } from "node:os";
import { gemmInt, intWeights } from "@quant-trim/npu-sim";
import { encodeModel, graph } from "@quant-trim/onnx";
import { gemmInt8Wasm, Rng } from "@quant-trim/tensor";
import * as ort from "onnxruntime-node";
import { emit, round } from "./harness.js";
import { median } from "./interleave.js";

const M = 512;
const N = 512;
const K = 512;
const A_ZERO_POINT = 128;
const rng = new Rng(12);
const aCodes = Uint8Array.from({ length: M * K }, () => rng.int(256));
const bCodes = Int8Array.from({ length: K * N }, () => rng.int(255) - 127);
const ours = new Int32Array(M * N);
const oursPairs = new Int32Array(M * N);
const js = new Int32Array(M * N);

const session = await ort.InferenceSession.create(
  encodeModel(
    graph("matmulinteger")
      .input("a", "uint8", [M, K])
      .initializer("b", bCodes, [K, N])
      .initializer("az", new Uint8Array([A_ZERO_POINT]), [])
      .initializer("bz", new Int8Array([0]), [])
      .node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])
      .output("y", "int32", [M, N])
      .model({ opset: 13 }),
  ),
  { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" },
);
const ortCall = async () => {
  const out = await session.run({ a: new ort.Tensor("uint8", aCodes, [M, K]) });
  const y = Object.values(out)[0]!;
  const v = y.data as Int32Array;
  y.dispose();
  return v;
};
const wasmCall = () => gemmInt8Wasm(M, N, K, aCodes, A_ZERO_POINT, bCodes, "KxN", 0, ours, false);
const wasmPairsCall = () => gemmInt8Wasm(M, N, K, aCodes, A_ZERO_POINT, bCodes, "KxN", 0, oursPairs, true);
const weights = intWeights({ type: "int8", data: bCodes, shape: [K, N], zeroPoint: 0 });
const activations = { data: aCodes, shape: [M, K], zeroPoint: A_ZERO_POINT };
const jsCall = () => gemmInt(activations, weights, { out: js });
const jsPairsCall = () => gemmInt(activations, weights, { out: js, pairSaturation: true });

function same(what: string, x: ArrayLike<number>, y: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) throw new Error(`backend-int8.bench: ${what} differ at ${i}: ${x[i]} vs ${y[i]}`);
  }
}
same("wasm and ORT MatMulInteger", wasmCall(), await ortCall());
same("wasm and npu-sim gemmInt", ours, jsCall());
same("wasm and npu-sim gemmInt with pair saturation", wasmPairsCall(), jsPairsCall());

const cases: [string, () => unknown][] = [
  ["wasm", wasmCall],
  ["wasm pair saturation", wasmPairsCall],
  ["onnxruntime MatMulInteger", ortCall],
  ["npu-sim gemmInt (js)", jsCall],
];
const wall: Record<string, number[]> = {};
const cpu: Record<string, number[]> = {};
for (const [name] of cases) {
  wall[name] = [];
  cpu[name] = [];
}
for (let w = performance.now(); performance.now() - w < 1500; ) for (const [, fn] of cases) await fn();
const ROUNDS = 15;
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < cases.length; k++) {
    const [name, fn] = cases[(k + r) % cases.length]!;
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall[name]!.push((performance.now() - t0) / 1e3);
    const u = process.cpuUsage(u0);
    cpu[name]!.push((u.user + u.system) / 1e6);
  }
}
const ops = 2 * M * N * K;
const gops = (s: number) => round(ops / s / 1e9);
const ratio = (a: string, b: string, t: Record<string, number[]>) =>
  round(median(t[a]!.map((x, i) => x / t[b]![i]!)));
emit("backend-int8", {
  problem: `${M}×${K} uint8 (zero point ${A_ZERO_POINT}) · ${K}×${N} int8 → int32, one thread`,
  medianMs: Object.fromEntries(cases.map(([n]) => [n, round(median(wall[n]!) * 1e3)])),
  gops: Object.fromEntries(cases.map(([n]) => [n, gops(median(wall[n]!))])),
  gopsFromCpuTime: Object.fromEntries(cases.map(([n]) => [n, gops(median(cpu[n]!))])),
  wasmSpeedupOverOrt: ratio("onnxruntime MatMulInteger", "wasm", wall),
  wasmSpeedupOverOrtCpuTime: ratio("onnxruntime MatMulInteger", "wasm", cpu),
  wasmSpeedupOverJs: ratio("npu-sim gemmInt (js)", "wasm", wall),
  pairSaturationCost: ratio("wasm pair saturation", "wasm", wall),
  target: "wasm int8 GEMM 512³ >= 15 GOP/s",
  targetMet: gops(median(wall.wasm!)) >= 15,
  loadAverage: loadavg().map((x) => round(x, 2)),
});
