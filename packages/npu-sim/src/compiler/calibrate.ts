import { type Module, nn } from "@quant-trim/autograd";
import type { Observer } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import { isKnownLayer } from "./ir.js";

/*
 * Static calibration: run the float model over the calibration batch, chunk by chunk, and feed the
 * float value behind every quantization point to its observer. The tracer reports each value under the
 * same id the compiler's graph uses, so no second model walk is needed.
 */

/** Rows `from`..`to` of a batch [N, ...] as a new tensor. */
export function batchRows(batch: T.Tensor, from: number, to: number): T.Tensor {
  const per = batch.size / batch.shape[0]!;
  const all = batch.contiguous().values();
  const rows = all.slice(from * per + 0, to * per);
  return T.fromData(rows instanceof Float32Array ? rows : Float32Array.from(rows), [
    to - from,
    ...batch.shape.slice(1),
  ]);
}

export function observeActivations(
  model: Module,
  batch: T.Tensor,
  sources: readonly string[],
  makeObserver: () => Observer,
  chunk: number,
): Map<string, Observer> {
  const observers = new Map<string, Observer>();
  for (const s of sources) if (!observers.has(s)) observers.set(s, makeObserver());
  const n = batch.shape[0]!;
  for (let from = 0; from < n; from += chunk) {
    const x = batchRows(batch, from, Math.min(n, from + chunk));
    nn.trace(model, x, {
      isLeaf: isKnownLayer,
      constantValues: 0,
      onValue: (id, v) => {
        const o = observers.get(id);
        if (o) o.observe(v.toFloat32Array(), v.shape);
      },
    });
  }
  return observers;
}
