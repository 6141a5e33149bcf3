/**
 * The `wasm` backend's half-even fake quantization (see fake-quant-kernel.ts for why it is bit-exact).
 * Accepted: at least `MIN_ELEMENTS` elements and a grid of at most 16 bits. The array is processed in
 * chunks that stay in L2 between being copied into WebAssembly memory, quantized and copied out.
 */
import type { FakeQuantizeHalfEvenKernel } from "../backend/fast-paths.js";
import { FAKE_QUANT_RNE } from "./fake-quant-kernel.js";
import { wasmRuntime } from "./runtime.js";

const MIN_ELEMENTS = 4096;
const CHUNK = 16384;
const GRID_LIMIT = 65536;

export const fakeQuantizeHalfEvenWasm: FakeQuantizeHalfEvenKernel = (
  x,
  out,
  mask,
  layout,
  scale,
  zeroPoint,
  qmin,
  qmax,
  divide,
) => {
  const n = x.length;
  if (n < MIN_ELEMENTS || !(qmin >= -GRID_LIMIT && qmax <= GRID_LIMIT)) return false;
  const channels = layout.channels;
  const rt = wasmRuntime();
  const heap = rt.heap;
  const chunk = Math.min(CHUNK, n);
  const params = heap.alloc(channels * 8);
  const xb = heap.alloc(chunk * 4);
  const ob = heap.alloc(chunk * 4);
  const mb = mask === null ? 0 : heap.alloc(chunk);
  try {
    heap.f32().set(scale.subarray(0, channels), params >> 2);
    heap.i32().set(zeroPoint.subarray(0, channels), (params >> 2) + channels);
    const kernel = rt.exports[FAKE_QUANT_RNE];
    for (let start = 0; start < n; start += chunk) {
      const end = Math.min(n, start + chunk);
      // Buffers hold elements [start, end): the kernel subtracts `start` from global positions.
      heap.f32().set(x.subarray(start, end), xb >> 2);
      kernel(
        xb,
        ob,
        mb,
        start,
        end,
        channels,
        layout.inner,
        params,
        params + channels * 4,
        qmin,
        qmax,
        divide ? 1 : 0,
      );
      const f32 = heap.f32();
      out.set(f32.subarray(ob >> 2, (ob >> 2) + (end - start)), start);
      if (mask !== null) mask.set(heap.u8().subarray(mb, mb + (end - start)), start);
    }
    return true;
  } finally {
    if (mb !== 0) heap.release(mb);
    heap.release(ob);
    heap.release(xb);
    heap.release(params);
  }
};
