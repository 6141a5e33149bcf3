/**
 * The `wasm` backend's max pooling (float32; float64 runs the `js` kernel). Values and indices are
 * exactly the `js` backend's (see pool-kernel.ts, also for why the gradient stays in js).
 */
import { kernelFor } from "../backend/registry.js";
import type { MaxPool2dKernel } from "../pool.js";
import { Tensor } from "../tensor.js";
import { MAXPOOL_2X2, MAXPOOL_GENERIC } from "./pool-kernel.js";
import { wasmRuntime } from "./runtime.js";

export const maxPool2dWasm: MaxPool2dKernel = (g, x, taps) => {
  if (x.dtype !== "float32") return kernelFor<MaxPool2dKernel>("maxPool2d", "js")!(g, x, taps);
  const rt = wasmRuntime();
  const heap = rt.heap;
  const planes = g.N * g.C;
  const outN = planes * g.Hout * g.Wout;
  const xc = x.contiguous();
  const xPtr = heap.alloc(xc.size * 4);
  const outPtr = heap.alloc(outN * 4 + 64);
  const idxPtr = heap.alloc(outN * 4 + 64);
  const tapsPtr = heap.alloc((2 * g.Hout + 2 * g.Wout) * 4);
  try {
    heap.f32().set(xc.data.subarray(xc.offset, xc.offset + xc.size), xPtr >> 2);
    const simple2x2 =
      g.kH === 2 &&
      g.kW === 2 &&
      g.sH === 2 &&
      g.sW === 2 &&
      g.pH === 0 &&
      g.pW === 0 &&
      g.dH === 1 &&
      g.dW === 1;
    if (simple2x2) {
      rt.exports[MAXPOOL_2X2](xPtr, outPtr, idxPtr, planes, g.H, g.W);
    } else {
      const t = heap.i32();
      const at = tapsPtr >> 2;
      t.set(taps.rowLo, at);
      t.set(taps.rowHi, at + g.Hout);
      t.set(taps.colLo, at + 2 * g.Hout);
      t.set(taps.colHi, at + 2 * g.Hout + g.Wout);
      rt.exports[MAXPOOL_GENERIC](
        xPtr,
        outPtr,
        idxPtr,
        planes,
        g.H,
        g.W,
        g.Hout,
        g.Wout,
        g.sH,
        g.sW,
        g.pH,
        g.pW,
        g.dH,
        g.dW,
        tapsPtr,
      );
    }
    const out = new Float32Array(outN);
    out.set(heap.f32().subarray(outPtr >> 2, (outPtr >> 2) + outN));
    const indices = new Int32Array(outN);
    indices.set(heap.i32().subarray(idxPtr >> 2, (idxPtr >> 2) + outN));
    return { out: new Tensor(out, [g.N, g.C, g.Hout, g.Wout]), indices };
  } finally {
    heap.release(tapsPtr);
    heap.release(idxPtr);
    heap.release(outPtr);
    heap.release(xPtr);
  }
};
