/**
 * Per-axis (height, width) parameters of the 2-D window ops, convolution and pooling: reading an option
 * given as one number or an [h, w] pair, validating it, and the resolved geometry both kinds of kernel
 * read. Private to the package (not exported from index.ts).
 */
import { fmtShape } from "./errors.js";

/**
 * An NCHW input and a kH×kW window moved with stride (sH, sW), zero or −∞ padding (pH, pW) and dilation
 * (dH, dW), giving a Hout×Wout output plane.
 */
export interface WindowGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  pH: number;
  pW: number;
  dH: number;
  dW: number;
  Hout: number;
  Wout: number;
}

/** The per-axis options the window ops accept. */
export interface WindowOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
}

/** `v` as [h, w]: one number applies to both axes, `undefined` gives `dflt`. Not yet range-checked. */
export function pair(
  op: string,
  name: string,
  v: number | [number, number] | undefined,
  dflt: readonly [number, number],
): [number, number] {
  if (v === undefined) return [dflt[0], dflt[1]];
  if (typeof v === "number") return [v, v];
  if (!Array.isArray(v) || v.length !== 2) {
    throw new Error(`${op}: ${name} must be a number or a pair [h, w], got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
}

/** Every entry of `v` an integer ≥ `min` (0 or 1). */
export function checkInts(op: string, name: string, v: readonly number[], min: number): void {
  for (const x of v) {
    if (!Number.isInteger(x) || x < min) {
      throw new Error(
        `${op}: ${name} must be ${min === 0 ? "non-negative" : "positive"} integers, got ${fmtShape(v)}`,
      );
    }
  }
}

/**
 * Stride, padding and dilation as pairs, validated. All three are read before any is range-checked, so a
 * malformed option is reported ahead of an out-of-range one. Padding defaults to 0 and dilation to 1.
 */
export function stridePaddingDilation(
  op: string,
  opts: WindowOptions,
  defaultStride: readonly [number, number],
): { sH: number; sW: number; pH: number; pW: number; dH: number; dW: number } {
  const [sH, sW] = pair(op, "stride", opts.stride, defaultStride);
  const [pH, pW] = pair(op, "padding", opts.padding, [0, 0]);
  const [dH, dW] = pair(op, "dilation", opts.dilation, [1, 1]);
  checkInts(op, "stride", [sH, sW], 1);
  checkInts(op, "padding", [pH, pW], 0);
  checkInts(op, "dilation", [dH, dW], 1);
  return { sH, sW, pH, pW, dH, dW };
}
