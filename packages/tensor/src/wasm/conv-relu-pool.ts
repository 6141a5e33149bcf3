/**
 * The `wasm` backend's fused conv → ReLU → max pool forward (float32, groups = 1; anything else runs the
 * `js` kernel). The convolution is conv.ts's batch GEMM, chunk by chunk of whole images; each chunk's
 * product goes to NCHW with the bias in a chunk-sized buffer (still in L2) and is pooled from there
 * through ReLU by pool-kernel.ts's `relu_maxpool_*`, so the convolution's output is never copied out
 * of (or whole in) WebAssembly memory: only the pooled output and the indices leave. The columns are
 * kept for the weight gradient exactly as by conv2d.
 *
 * Values and indices: the GEMM is conv2d's (same bits as the wasm conv2d), the pooling applies the
 * `js` ReLU and selection rules exactly, so the result is bit for bit the wasm backend's unfused
 * conv2d → relu → maxPool2d.
 */
import { kernelFor } from "../backend/registry.js";
import type { Conv2dReluMaxPoolKernel } from "../conv-relu-pool.js";
import { Tensor } from "../tensor.js";
import { chunking, convForwardChunks, convWasmEligible } from "./conv.js";
import { CP_TO_NCHW } from "./conv-kernel.js";
import { RELU_MAXPOOL_2X2, RELU_MAXPOOL_GENERIC } from "./pool-kernel.js";
import { wasmRuntime } from "./runtime.js";

export const conv2dReluMaxPoolWasm: Conv2dReluMaxPoolKernel = (cg, pg, taps, x, w, bias) => {
  if (!convWasmEligible(cg, x, w, bias)) {
    return kernelFor<Conv2dReluMaxPoolKernel>("conv2dReluMaxPool", "js")!(cg, pg, taps, x, w, bias);
  }
  const rt = wasmRuntime();
  const ex = rt.exports;
  const heap = rt.heap;
  const Cout = w.shape[0]!;
  const { G, HW } = chunking(cg);
  const pooledPerImage = Cout * pg.Hout * pg.Wout;
  const outN = cg.N * pooledPerImage;
  const simple2x2 =
    pg.kH === 2 &&
    pg.kW === 2 &&
    pg.sH === 2 &&
    pg.sW === 2 &&
    pg.pH === 0 &&
    pg.pW === 0 &&
    pg.dH === 1 &&
    pg.dW === 1;
  const nchw = heap.alloc(Cout * G * HW * 4 + 64);
  const outPtr = heap.alloc(outN * 4 + 64);
  const idxPtr = heap.alloc(outN * 4 + 64);
  const tapsPtr = heap.alloc((2 * pg.Hout + 2 * pg.Wout) * 4);
  try {
    if (!simple2x2) {
      const t = heap.i32();
      const at = tapsPtr >> 2;
      t.set(taps.rowLo, at);
      t.set(taps.rowHi, at + pg.Hout);
      t.set(taps.colLo, at + 2 * pg.Hout);
      t.set(taps.colHi, at + 2 * pg.Hout + pg.Wout);
    }
    convForwardChunks(rt, cg, x, w, bias, (c, n0, count, biasPtr) => {
      ex[CP_TO_NCHW](c, nchw, count, Cout, HW, biasPtr);
      const o = outPtr + n0 * pooledPerImage * 4;
      const i = idxPtr + n0 * pooledPerImage * 4;
      const planes = count * Cout;
      if (simple2x2) ex[RELU_MAXPOOL_2X2](nchw, o, i, planes, cg.Hout, cg.Wout);
      else {
        ex[RELU_MAXPOOL_GENERIC](
          nchw,
          o,
          i,
          planes,
          cg.Hout,
          cg.Wout,
          pg.Hout,
          pg.Wout,
          pg.sH,
          pg.sW,
          pg.pH,
          pg.pW,
          pg.dH,
          pg.dW,
          tapsPtr,
        );
      }
    });
    const out = new Float32Array(outN);
    out.set(heap.f32().subarray(outPtr >> 2, (outPtr >> 2) + outN));
    const indices = new Int32Array(outN);
    indices.set(heap.i32().subarray(idxPtr >> 2, (idxPtr >> 2) + outN));
    return { out: new Tensor(out, [pg.N, pg.C, pg.Hout, pg.Wout]), indices };
  } finally {
    heap.release(tapsPtr);
    heap.release(idxPtr);
    heap.release(outPtr);
    heap.release(nchw);
  }
};
