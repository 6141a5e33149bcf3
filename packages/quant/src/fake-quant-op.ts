import { record, type Variable } from "@quant-trim/autograd";
import type { Rng } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import type { QParams } from "./grid/qparams.js";
import { fakeQuantizeInto } from "./grid/quantize.js";
import type { GridSpec } from "./grid/spec.js";

export interface FakeQuantOptions {
  /**
   * The progressive blend coefficient λ ∈ [0, 1]: the output is x + λ·(x̂ − x), so λ = 0 is the float
   * model and λ = 1 full fake quantization. Default 1.
   */
  lambda?: number;
  /**
   * Multiply the straight-through gradient by the in-range mask (PyTorch's fake-quant behaviour). Off by
   * default: the blend formula x + λ·stopgrad(x̂ − x) passes the gradient unchanged everywhere.
   */
  clipMask?: boolean;
  /** Generator for stochastic rounding grids. */
  rng?: Rng;
}

export function checkLambda(fn: string, lambda: number): void {
  if (!(lambda >= 0 && lambda <= 1)) throw new Error(`${fn}: lambda must be in [0, 1], got ${lambda}`);
}

/**
 * The progressive blend, out[i] = x + λ·(x̂ − x), with λ in [0, 1). A non-finite x passes through
 * unchanged: that is the limit of (1 − λ)·x + λ·x̂ (x̂ is finite), where the formula itself would give
 * NaN from ∞ − ∞ (or 0·∞ at λ = 0, which must be the float model exactly).
 */
export function blendInto(out: Float32Array, xs: Float32Array, xhat: Float32Array, lambda: number): void {
  for (let i = 0; i < out.length; i++) {
    const x = xs[i]!;
    out[i] = x - x === 0 ? x + lambda * (xhat[i]! - x) : x;
  }
}

/** The values of a tensor as a contiguous Float32Array (the grid works in float32). */
export function float32Values(t: T.Tensor): Float32Array {
  const v = t.values();
  return v instanceof Float32Array ? v : Float32Array.from(v);
}

/**
 * Fake quantization as an autograd op, with the progressive blend:
 *   forward  x̃ = x + λ·(x̂ − x),  x̂ = the grid's fakeQuantize(x) (one source of quantization math)
 *   backward ∂x̃/∂x = 1 (straight-through), or the in-range mask with `clipMask`.
 * The quantization parameters are constants here; `lsqFakeQuant` learns them.
 */
export function fakeQuant(
  x: Variable,
  spec: GridSpec,
  qparams: QParams,
  opts: FakeQuantOptions = {},
): Variable {
  const lambda = opts.lambda ?? 1;
  checkLambda("fakeQuant", lambda);
  const clipMask = opts.clipMask ?? false;
  const xs = float32Values(x.data);
  const out = new Float32Array(xs.length);
  const mask = clipMask ? new Uint8Array(xs.length) : undefined;
  fakeQuantizeInto(out, xs, qparams, spec, x.shape, opts.rng ? { mask, rng: opts.rng } : { mask });
  if (lambda !== 1) blendInto(out, xs, out, lambda);
  return record(
    "fakeQuant",
    [x],
    new T.Tensor(out, x.shape),
    (g) => [mask ? T.mul(g, new T.Tensor(Float32Array.from(mask), x.shape)) : g],
    { lambda, clipMask },
  );
}
