/**
 * Naive references for the integer GEMM and convolution tests (a plain module, not a test file). They
 * spell out the arithmetic one output at a time from unpacked codes, with BigInt for the register
 * widths, so they share nothing with the kernels' packing, tiling or wrapping code.
 */
import type { IntWeightType } from "@quant-trim/npu-sim";

export const WEIGHT_RANGES: Readonly<Record<IntWeightType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int4: [-8, 7],
  uint4: [0, 15],
};

/** Small deterministic generator so one fast-check seed fixes a whole case (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` integers in [lo, hi]; with `extremes` most of them sit at the ends, which is where overflow and
 * saturation live.
 */
export function codes(next: () => number, n: number, lo: number, hi: number, extremes = false): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const u = next();
    if (extremes && u < 0.8) out[i] = u < 0.4 ? lo : hi;
    else out[i] = lo + Math.floor(next() * (hi - lo + 1));
  }
  return out;
}

export interface AccumulatorModel {
  bits: number;
  overflow: "wrap" | "saturate";
}

/**
 * Add `terms` in order into a `bits`-wide register. Wrap: the exact total reduced by BigInt.asIntN;
 * `overflowed` when the total lies outside the register. Saturate: clamp after every addition;
 * `overflowed` when any addition clamped.
 */
export function accumulate(
  terms: readonly number[],
  acc: AccumulatorModel,
): { value: number; overflowed: boolean } {
  const lo = -(2n ** BigInt(acc.bits - 1));
  const hi = 2n ** BigInt(acc.bits - 1) - 1n;
  if (acc.overflow === "wrap") {
    let exact = 0; // every test total is far below 2^53, so a double sums it exactly
    for (const t of terms) exact += t;
    const s = BigInt(exact);
    return { value: Number(BigInt.asIntN(acc.bits, s)), overflowed: s < lo || s > hi };
  }
  let s = 0n;
  let overflowed = false;
  for (const t of terms) {
    s += BigInt(t);
    if (s > hi) {
      s = hi;
      overflowed = true;
    } else if (s < lo) {
      s = lo;
      overflowed = true;
    }
  }
  return { value: Number(s), overflowed };
}

/**
 * The terms one output adds, from its K activation codes and K weight codes (in reduction order).
 * Plain: (a − za)(w − zw). Pairs (x86 `vpmaddubsw`): raw a·w summed two by two from k = 0, an odd
 * last product alone, each sum clamped to int16; then one term for the zero points,
 * Σ(a − za)(w − zw) − Σ a·w, computed here straight from its definition.
 */
export function outputTerms(
  a: readonly number[],
  za: number,
  w: readonly number[],
  zw: number,
  pairs: boolean,
): { terms: number[]; saturatedPairs: number } {
  const K = a.length;
  if (!pairs) return { terms: a.map((v, k) => (v - za) * (w[k]! - zw)), saturatedPairs: 0 };
  const terms: number[] = [];
  let saturatedPairs = 0;
  let raw = 0;
  let centred = 0;
  for (let k = 0; k < K; k++) {
    raw += a[k]! * w[k]!;
    centred += (a[k]! - za) * (w[k]! - zw);
  }
  for (let k = 0; k < K; k += 2) {
    const s = a[k]! * w[k]! + (k + 1 < K ? a[k + 1]! * w[k + 1]! : 0);
    const clamped = Math.min(32767, Math.max(-32768, s));
    if (clamped !== s) saturatedPairs++;
    terms.push(clamped);
  }
  terms.push(centred - raw);
  return { terms, saturatedPairs };
}
