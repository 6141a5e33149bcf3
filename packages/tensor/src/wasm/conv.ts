/**
 * The `wasm` backend's convolution (float32, groups = 1; anything else runs the `js` kernels), see
 * `conv-kernel.ts` for the layouts.
 *
 * Forward: x is copied into WebAssembly memory once; then, chunk by chunk of whole images (about
 * `CHUNK_COLUMNS` output pixels, so that a chunk's columns stay in L2 between being written and read),
 * im2col writes the chunk's rows [C·kH·kW × G·Hout·Wout], the fp32 micro-kernel multiplies W by them in
 * place (only the small W is packed), and the [Cout × G·Hout·Wout] result goes to NCHW with the bias.
 * Measured on the CNN's second layer, reading the columns of the whole batch in place instead ran at
 * 15 GFLOP/s against 21 for L2-resident chunks (72 rows 50 KiB apart defeat the prefetchers).
 * The chunk loop is `convForwardChunks`; what happens to each chunk's product is its caller's: conv2d
 * writes it to NCHW, the fused conv → ReLU → max pool (conv-relu-pool.ts) pools it in place.
 *
 * The columns of every chunk (the whole batch) and the copy of x they came from are kept — a few,
 * bounded in bytes — so that the weight gradient of the same x reads them instead of rebuilding them;
 * before reuse, x's current contents are compared bit for bit with the copy, so a tensor changed in
 * between is never served stale columns.
 *
 * Input gradient, per chunk: dY → [Cout × P] rows → Wᵀ · dY (fp32 GEMM) → dcols → col2im.
 * Weight gradient, per chunk: dW[co, k] += Σ_p dY[co, p]·cols[k, p] by `dw_rows`, each (co, k) summed in
 * four float32 lanes that are added at the end.
 *
 * Accuracy: float32 sums of C·kH·kW products (forward), Cout products (input gradient) or P = N·Hout·Wout
 * products (weight gradient), so within γ(n + 2)·Σ|terms| of the exact values (see gemm-f32.ts).
 */
import { kernelFor } from "../backend/registry.js";
import type {
  Conv2dBackwardInputKernel,
  Conv2dBackwardWeightKernel,
  Conv2dForwardKernel,
  ConvGeometry,
} from "../conv.js";
import { shapeSize, Tensor } from "../tensor.js";
import {
  COL2IM_ROWS,
  CP_TO_NCHW,
  DW_ROWS,
  DW_TILE_CO,
  DW_TILE_K,
  F32_EQUAL,
  IM2COL_ROWS,
  NCHW_TO_CP,
  type WindowArgs,
} from "./conv-kernel.js";
import { GEMM_MACRO, GEMM_MR, GEMM_NR, GEMM_PACK_A } from "./gemm-f32-kernel.js";
import { type WasmRuntime, wasmRuntime } from "./runtime.js";

/** k-block of the forward and input-gradient GEMMs (as in gemm-f32.ts). */
const K_BLOCK = 256;
/** Output pixels per chunk of images (at least one image per chunk). */
const CHUNK_COLUMNS = 2048;
/** Kernels read up to this many bytes past the end of a row-major operand (edge lanes, masked loads). */
const SLACK = 64;
/** Beyond this many bytes for one buffer the js kernels run instead (wasm32 memory is at most 4 GiB). */
const MAX_BUFFER_BYTES = 512 * 2 ** 20;
/** Bytes of saved columns kept for weight gradients; the oldest are dropped beyond it. */
const SAVED_BYTES = 64 * 2 ** 20;
const SAVED_COUNT = 32;
/**
 * Entries per geometry: training runs a layer's backward before that layer's next forward, so one is
 * enough; inference (forward only, nothing consumes the columns) then holds at most one per layer.
 * Measured on the CNN: training keeps WebAssembly memory at 9 MiB; with two entries per geometry, an
 * evaluation at batch 500 left 90 MiB of columns behind.
 */
const SAVED_PER_GEOMETRY = 1;

/** Whether the wasm kernels take this convolution (float32, groups = 1, buffers within bounds). */
export function convWasmEligible(g: ConvGeometry, ...ts: (Tensor | null)[]): boolean {
  if (g.groups !== 1) return false;
  for (const t of ts) if (t !== null && t.dtype !== "float32") return false;
  const K = g.C * g.kH * g.kW;
  const P = g.N * g.Hout * g.Wout;
  if (K === 0 || P === 0) return false;
  return K * P * 4 <= MAX_BUFFER_BYTES && g.N * g.C * g.H * g.W * 4 <= MAX_BUFFER_BYTES;
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

function windowArgs(g: ConvGeometry): WindowArgs {
  return [g.N, g.C, g.H, g.W, g.kH, g.kW, g.sH, g.sW, g.pH, g.pW, g.dH, g.dW, g.Hout, g.Wout];
}

function geometryKey(g: ConvGeometry): string {
  return windowArgs(g).join(",");
}

/** Copy a contiguous tensor's elements into freshly allocated WebAssembly memory. */
function copyIn(rt: WasmRuntime, t: Tensor): number {
  const n = t.size;
  const ptr = rt.heap.alloc(n * 4);
  const c = t.contiguous();
  rt.heap.f32().set(c.data.subarray(c.offset, c.offset + n), ptr >> 2);
  return ptr;
}

interface Columns {
  /** The copy of x (N·C·H·W floats) the columns were built from. */
  x: number;
  xFloats: number;
  /** im2col of the whole batch, row-major [C·kH·kW × P]. */
  cols: number;
}

/** Images per chunk and the column count of a full chunk. */
export function chunking(g: ConvGeometry): { G: number; HW: number } {
  const HW = g.Hout * g.Wout;
  return { G: Math.max(1, Math.floor(CHUNK_COLUMNS / HW)), HW };
}

/**
 * im2col of images [n0, n0 + count) into their chunk of `cols`: the chunk starting at image n0 lives at
 * cols + n0·HW·K·4 as a row-major [K × count·HW] matrix.
 */
function im2colChunk(
  rt: WasmRuntime,
  g: ConvGeometry,
  x: number,
  cols: number,
  n0: number,
  count: number,
): void {
  const K = g.C * g.kH * g.kW;
  const HW = g.Hout * g.Wout;
  const args = windowArgs(g);
  args[0] = count;
  rt.exports[IM2COL_ROWS](x + n0 * g.C * g.H * g.W * 4, cols + n0 * HW * K * 4, ...args);
}

function buildColumns(rt: WasmRuntime, g: ConvGeometry, x: Tensor): Columns {
  const K = g.C * g.kH * g.kW;
  const P = g.N * g.Hout * g.Wout;
  const xPtr = copyIn(rt, x);
  const cols = rt.heap.alloc(K * P * 4 + SLACK);
  const { G } = chunking(g);
  for (let n0 = 0; n0 < g.N; n0 += G) im2colChunk(rt, g, xPtr, cols, n0, Math.min(G, g.N - n0));
  return { x: xPtr, xFloats: x.size, cols };
}

function releaseColumns(rt: WasmRuntime, c: Columns): void {
  rt.heap.release(c.cols);
  rt.heap.release(c.x);
}

interface SavedColumns extends Columns {
  /** `tensorId` of the x the columns came from. */
  source: number;
  key: string;
  bytes: number;
}

/*
 * Saved columns name their x by a number, not a WeakRef: a WeakRef keeps its target alive until the
 * current job ends (ECMAScript's KeepDuringJob set, for `new WeakRef` and every `deref`), and a training
 * loop is one synchronous job of minutes, so every input of every convolution stayed alive for the whole
 * run (gigabytes over a 4-epoch run). A WeakMap key keeps nothing alive. An x that has been collected is
 * simply never asked for again; its entry goes with the per-geometry and byte limits below.
 */
const tensorIds = new WeakMap<Tensor, number>();
let nextTensorId = 1;
function tensorId(x: Tensor): number {
  let id = tensorIds.get(x);
  if (id === undefined) {
    id = nextTensorId++;
    tensorIds.set(x, id);
  }
  return id;
}

const saved: SavedColumns[] = [];

function saveColumns(rt: WasmRuntime, x: Tensor, g: ConvGeometry, c: Columns): void {
  const K = g.C * g.kH * g.kW;
  const bytes = g.N * g.Hout * g.Wout * K * 4 + c.xFloats * 4;
  const key = geometryKey(g);
  saved.push({ ...c, source: tensorId(x), key, bytes });
  let total = 0;
  let sameKey = 0;
  for (const s of saved) {
    total += s.bytes;
    if (s.key === key) sameKey++;
  }
  // Oldest first: drop what is over the budget or beyond the per-geometry limit.
  for (let i = 0; i < saved.length; ) {
    const s = saved[i]!;
    const surplus = s.key === key && sameKey > SAVED_PER_GEOMETRY;
    if (surplus || total > SAVED_BYTES || saved.length > SAVED_COUNT) {
      if (s.key === key) sameKey--;
      total -= s.bytes;
      releaseColumns(rt, s);
      saved.splice(i, 1);
    } else i++;
  }
}

/** The saved columns of `x` for geometry `g` if its contents are unchanged (removed from the cache). */
function takeColumns(rt: WasmRuntime, x: Tensor, g: ConvGeometry): Columns | null {
  const key = geometryKey(g);
  const id = tensorIds.get(x);
  if (id === undefined) return null;
  const at = saved.findIndex((s) => s.source === id && s.key === key);
  if (at < 0) return null;
  const s = saved[at]!;
  saved.splice(at, 1);
  const now = copyIn(rt, x);
  const same = rt.exports[F32_EQUAL](now, s.x, s.xFloats) === 1;
  rt.heap.release(now);
  if (same) return s;
  releaseColumns(rt, s);
  return null;
}

/** Number of saved column buffers (for tests). */
export function savedColumnCount(): number {
  return saved.length;
}

/** dY of images [n0, n0 + count) → rows [Cout × count·HW] at `rows`. */
function dyChunkRows(
  rt: WasmRuntime,
  g: ConvGeometry,
  dy: number,
  Cout: number,
  n0: number,
  count: number,
  rows: number,
): void {
  const HW = g.Hout * g.Wout;
  rt.exports[NCHW_TO_CP](dy + n0 * Cout * HW * 4, rows, count, Cout, HW);
}

/**
 * Receives each chunk of the forward product: `c` holds [Cout × count·HW] for images [n0, n0 + count)
 * (bias not added; `biasPtr` is the bias in WebAssembly memory, or 0), valid until the next chunk.
 */
export type ForwardChunkEpilogue = (c: number, n0: number, count: number, biasPtr: number) => void;

/**
 * The forward GEMM over the batch, chunk by chunk, handing each chunk's product to `epilogue` (which
 * writes it wherever the caller wants it: NCHW for conv2d, straight into the pooling for the fused
 * conv → ReLU → pool). The columns are kept for the weight gradient. `g` must be `convWasmEligible`.
 */
export function convForwardChunks(
  rt: WasmRuntime,
  g: ConvGeometry,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  epilogue: ForwardChunkEpilogue,
): void {
  const ex = rt.exports;
  const heap = rt.heap;
  const Cout = w.shape[0]!;
  const K = g.C * g.kH * g.kW;
  const { G, HW } = chunking(g);
  const P = g.N * HW;
  const xPtr = copyIn(rt, x);
  const cols = heap.alloc(K * P * 4 + SLACK);
  let keep = false;
  const wPtr = copyIn(rt, w);
  const wPacked = heap.alloc(roundUp(Cout, GEMM_MR) * K * 4);
  const c = heap.alloc(Cout * G * HW * 4);
  const biasPtr = bias === null ? 0 : copyIn(rt, bias);
  try {
    ex[GEMM_PACK_A](wPtr, K * 4, 4, Cout, K, wPacked, 1);
    for (let n0 = 0; n0 < g.N; n0 += G) {
      const count = Math.min(G, g.N - n0);
      const Pc = count * HW;
      const chunk = cols + n0 * HW * K * 4;
      im2colChunk(rt, g, xPtr, cols, n0, count);
      for (let pc = 0; pc < K; pc += K_BLOCK) {
        const kc = Math.min(K_BLOCK, K - pc);
        ex[GEMM_MACRO](
          wPacked + pc * GEMM_MR * 4,
          K * GEMM_MR * 4,
          chunk + pc * Pc * 4,
          GEMM_NR * 4,
          Pc * 4,
          c,
          Cout,
          Pc,
          kc,
          Pc * 4,
          pc > 0 ? 1 : 0,
          rt.gemmTile,
        );
      }
      epilogue(c, n0, count, biasPtr);
    }
    saveColumns(rt, x, g, { x: xPtr, xFloats: x.size, cols });
    keep = true;
  } finally {
    if (biasPtr !== 0) heap.release(biasPtr);
    heap.release(c);
    heap.release(wPacked);
    heap.release(wPtr);
    if (!keep) releaseColumns(rt, { x: xPtr, xFloats: x.size, cols });
  }
}

export const conv2dForwardWasm: Conv2dForwardKernel = (g, x, w, bias) => {
  if (!convWasmEligible(g, x, w, bias)) return kernelFor<Conv2dForwardKernel>("conv2d", "js")!(g, x, w, bias);
  const rt = wasmRuntime();
  const heap = rt.heap;
  const Cout = w.shape[0]!;
  const HW = g.Hout * g.Wout;
  const P = g.N * HW;
  const outPtr = heap.alloc(Cout * P * 4);
  try {
    convForwardChunks(rt, g, x, w, bias, (c, n0, count, biasPtr) => {
      rt.exports[CP_TO_NCHW](c, outPtr + n0 * Cout * HW * 4, count, Cout, HW, biasPtr);
    });
    const out = new Float32Array(Cout * P);
    out.set(heap.f32().subarray(outPtr >> 2, (outPtr >> 2) + Cout * P));
    return new Tensor(out, [g.N, Cout, g.Hout, g.Wout]);
  } finally {
    heap.release(outPtr);
  }
};

export const conv2dBackwardInputWasm: Conv2dBackwardInputKernel = (g, dy, w, xShape) => {
  if (!convWasmEligible(g, dy, w)) {
    return kernelFor<Conv2dBackwardInputKernel>("conv2dBackwardInput", "js")!(g, dy, w, xShape);
  }
  const rt = wasmRuntime();
  const ex = rt.exports;
  const heap = rt.heap;
  const Cout = w.shape[0]!;
  const K = g.C * g.kH * g.kW;
  const { G, HW } = chunking(g);
  const xFloats = shapeSize(xShape);
  const dyPtr = copyIn(rt, dy);
  const rows = heap.alloc(Cout * G * HW * 4 + SLACK);
  const wPtr = copyIn(rt, w);
  const wtPacked = heap.alloc(roundUp(K, GEMM_MR) * Cout * 4);
  const dcols = heap.alloc(K * G * HW * 4);
  const dx = heap.alloc(xFloats * 4);
  try {
    // op(A) = Wᵀ [K × Cout]: lane = k (unit stride in W), reduction index = co (stride K).
    ex[GEMM_PACK_A](wPtr, 4, K * 4, K, Cout, wtPacked, 1);
    heap.f32().fill(0, dx >> 2, (dx >> 2) + xFloats);
    for (let n0 = 0; n0 < g.N; n0 += G) {
      const count = Math.min(G, g.N - n0);
      const Pc = count * HW;
      dyChunkRows(rt, g, dyPtr, Cout, n0, count, rows);
      for (let pc = 0; pc < Cout; pc += K_BLOCK) {
        const kc = Math.min(K_BLOCK, Cout - pc);
        ex[GEMM_MACRO](
          wtPacked + pc * GEMM_MR * 4,
          Cout * GEMM_MR * 4,
          rows + pc * Pc * 4,
          GEMM_NR * 4,
          Pc * 4,
          dcols,
          K,
          Pc,
          kc,
          Pc * 4,
          pc > 0 ? 1 : 0,
          rt.gemmTile,
        );
      }
      const args = windowArgs(g);
      args[0] = count;
      ex[COL2IM_ROWS](dcols, dx + n0 * g.C * g.H * g.W * 4, ...args);
    }
    const out = new Float32Array(xFloats);
    out.set(heap.f32().subarray(dx >> 2, (dx >> 2) + xFloats));
    return new Tensor(out, [...xShape]);
  } finally {
    heap.release(dx);
    heap.release(dcols);
    heap.release(wtPacked);
    heap.release(wPtr);
    heap.release(rows);
    heap.release(dyPtr);
  }
};

export const conv2dBackwardWeightWasm: Conv2dBackwardWeightKernel = (g, dy, x, wShape) => {
  if (!convWasmEligible(g, dy, x)) {
    return kernelFor<Conv2dBackwardWeightKernel>("conv2dBackwardWeight", "js")!(g, dy, x, wShape);
  }
  const rt = wasmRuntime();
  const heap = rt.heap;
  const Cout = wShape[0]!;
  const K = g.C * g.kH * g.kW;
  const columns = takeColumns(rt, x, g) ?? buildColumns(rt, g, x);
  const { G, HW } = chunking(g);
  const dyPtr = copyIn(rt, dy);
  const rows = heap.alloc(Cout * G * HW * 4 + SLACK);
  const coTiles = Math.ceil(Cout / DW_TILE_CO);
  const kTiles = Math.ceil(K / DW_TILE_K);
  const accFloats = coTiles * kTiles * DW_TILE_CO * DW_TILE_K * 4;
  const acc = heap.alloc(accFloats * 4);
  try {
    heap.f32().fill(0, acc >> 2, (acc >> 2) + accFloats);
    for (let n0 = 0; n0 < g.N; n0 += G) {
      const count = Math.min(G, g.N - n0);
      const Pc = count * HW;
      dyChunkRows(rt, g, dyPtr, Cout, n0, count, rows);
      rt.exports[DW_ROWS](rows, columns.cols + n0 * HW * K * 4, Cout, K, Pc, 0, Pc, acc);
    }
    // acc[(((coTile·kTiles + kTile)·4 + r)·2 + t)·4 + lane]: four partial sums of dW[4·coTile + r, 2·kTile + t].
    const a = heap.f32().subarray(acc >> 2, (acc >> 2) + accFloats);
    const dw = new Float32Array(Cout * K);
    for (let co = 0; co < Cout; co++) {
      const ct = Math.floor(co / DW_TILE_CO);
      const r = co % DW_TILE_CO;
      for (let k = 0; k < K; k++) {
        const kt = Math.floor(k / DW_TILE_K);
        const t = k % DW_TILE_K;
        const at = (((ct * kTiles + kt) * DW_TILE_CO + r) * DW_TILE_K + t) * 4;
        dw[co * K + k] = a[at]! + a[at + 1]! + (a[at + 2]! + a[at + 3]!);
      }
    }
    return new Tensor(dw, [...wShape]);
  } finally {
    heap.release(acc);
    heap.release(rows);
    heap.release(dyPtr);
    releaseColumns(rt, columns);
  }
};
