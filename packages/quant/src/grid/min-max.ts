import { type ChannelLayout, channelLayout, checkGridSpec, type GridSpec } from "./spec.js";

/** What to do with NaN and ±Infinity in observed data: skip and count them, or throw. */
export type NonFiniteHandling = "exclude" | "reject";

export interface MinMaxResult {
  /** Per-channel minimum of the finite values; +Infinity for a channel with none (an empty range). */
  readonly min: Float32Array;
  /** Per-channel maximum of the finite values; −Infinity for a channel with none. */
  readonly max: Float32Array;
  /** NaN and ±Infinity values skipped. */
  readonly nonFiniteCount: number;
}

/**
 * Per-tensor or per-channel min/max of `x` under a spec's granularity and axis (`shape` is required
 * per-channel). Non-finite values never reach the range: they are counted (`exclude`, the default)
 * or rejected with an error naming the first one (`reject`).
 */
export function minMax(
  x: Float32Array,
  spec: GridSpec,
  shape?: readonly number[],
  options: { nonFinite?: NonFiniteHandling } = {},
): MinMaxResult {
  const fn = "minMax";
  checkGridSpec(spec, fn);
  if (!(x instanceof Float32Array)) throw new Error(`${fn}: input must be a Float32Array`);
  const layout = channelLayout(fn, x.length, spec.granularity, spec.axis, shape);
  return minMaxByLayout(fn, x, layout, options.nonFinite ?? "exclude");
}

/** `minMax` on a resolved layout (shared with the observers). */
export function minMaxByLayout(
  fn: string,
  x: Float32Array,
  layout: ChannelLayout,
  nonFinite: NonFiniteHandling,
): MinMaxResult {
  if (nonFinite !== "exclude" && nonFinite !== "reject") {
    throw new Error(`${fn}: nonFinite must be 'exclude' or 'reject', got ${JSON.stringify(nonFinite)}`);
  }
  const { outer, channels, inner } = layout;
  const mins = new Float32Array(channels).fill(Infinity);
  const maxs = new Float32Array(channels).fill(-Infinity);
  let bad = 0;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let lo = mins[c]!;
      let hi = maxs[c]!;
      const end = i + inner;
      for (; i < end; i++) {
        const v = x[i]!;
        if (v - v !== 0) {
          // NaN or ±Infinity (Infinity − Infinity is NaN)
          if (nonFinite === "reject") {
            throw new Error(`${fn}: x[${i}] = ${v} is not finite (nonFinite: 'reject')`);
          }
          bad++;
          continue;
        }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      mins[c] = lo + 0; // + 0: report −0 as 0, so ranges survive a JSON round trip unchanged
      maxs[c] = hi + 0;
    }
  }
  return { min: mins, max: maxs, nonFiniteCount: bad };
}
