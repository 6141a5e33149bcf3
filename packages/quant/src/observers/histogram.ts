import type { MinMaxResult } from "../grid/min-max.js";
import type { ChannelLayout } from "../grid/spec.js";
import type { ObserverState } from "./observer.js";

/**
 * Fixed-size histograms, one per channel, that grow to cover any data with bounded memory.
 *
 * Scheme: channel c has `bins` equal bins of width w starting at `lo`. When a batch falls outside
 * [lo, lo + bins·w], the grid is coarsened by an integer power of two (w' = 2^d·w) and re-anchored on
 * an old bin edge (lo' = lo + m·w), so every new bin is an exact union of old bins: counts move without
 * interpolation and nothing is lost. d is the smallest value that covers the occupied bins and the
 * new batch. The first batch sets lo = min and w = (max − min)/bins; while every value seen is the same
 * number the width stays 0 (one exact count), so a constant start never produces a degenerate grid.
 *
 * Error bound: with `span` = max − min of all finite values seen, the width always satisfies
 * w ≤ 2·span/(bins − 3) (the first grid has span/bins; each coarsening stops one doubling after the
 * data fits). A quantile estimate lies in the bin that holds the exact sample quantile, so it is
 * within one bin width of it: |error| ≤ 2·span/(bins − 3), about 0.1 % of the range for 2048 bins.
 */
export class ChannelHistograms {
  readonly bins: number;
  private lo: Float64Array;
  private width: Float64Array;
  private total: Float64Array;
  private counts: Float64Array;

  constructor(bins: number, channels: number) {
    if (!Number.isInteger(bins) || bins < 8 || bins > 1 << 20) {
      throw new Error(`ChannelHistograms: bins must be an integer in [8, 2^20], got ${String(bins)}`);
    }
    this.bins = bins;
    this.lo = new Float64Array(channels);
    this.width = new Float64Array(channels);
    this.total = new Float64Array(channels);
    this.counts = new Float64Array(channels * bins);
  }

  get channels(): number {
    return this.lo.length;
  }

  /** Current bin width of a channel (0 while all its values are equal). */
  binWidth(c: number): number {
    return this.width[c]!;
  }

  /** Number of finite values a channel has counted. */
  count(c: number): number {
    return this.total[c]!;
  }

  /** Count the finite values of a batch; `batch` holds its per-channel finite min/max. */
  add(x: Float32Array, layout: ChannelLayout, batch: MinMaxResult): void {
    const { outer, channels, inner } = layout;
    for (let c = 0; c < channels; c++) {
      if (batch.min[c]! <= batch.max[c]!) this.cover(c, batch.min[c]!, batch.max[c]!);
    }
    const B = this.bins;
    let i = 0;
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        const lo = this.lo[c]!;
        const w = this.width[c]!;
        const invW = w > 0 ? 1 / w : 0;
        const base = c * B;
        const end = i + inner;
        let added = 0;
        for (; i < end; i++) {
          const v = x[i]!;
          if (v - v !== 0) continue; // NaN/±Infinity: already counted or rejected by the observer
          let b = Math.floor((v - lo) * invW);
          if (b < 0) b = 0;
          else if (b >= B) b = B - 1;
          this.counts[base + b]!++;
          added++;
        }
        this.total[c]! += added;
      }
    }
  }

  /** Grow channel c so that [bmin, bmax] is covered (see the class comment). */
  private cover(c: number, bmin: number, bmax: number): void {
    const B = this.bins;
    const base = c * B;
    const lo = this.lo[c]!;
    const w = this.width[c]!;
    if (this.total[c] === 0) {
      this.lo[c] = bmin;
      this.width[c] = (bmax - bmin) / B;
      return;
    }
    if (w === 0) {
      if (bmin === lo && bmax === lo) return;
      const newLo = Math.min(lo, bmin);
      const newW = (Math.max(lo, bmax) - newLo) / B;
      const b = Math.min(B - 1, Math.floor((lo - newLo) / newW));
      this.counts.fill(0, base, base + B);
      this.counts[base + b] = this.total[c]!;
      this.lo[c] = newLo;
      this.width[c] = newW;
      return;
    }
    if (bmin >= lo && bmax <= lo + B * w) return;
    let first = 0;
    while (this.counts[base + first] === 0) first++;
    let last = B - 1;
    while (this.counts[base + last] === 0) last--;
    const m = Math.min(first, Math.floor((bmin - lo) / w));
    const newLo = lo + m * w;
    let d = 0;
    let newW = w;
    while (bmax > newLo + B * newW || last - m + 1 > B * 2 ** d) {
      d++;
      newW *= 2;
    }
    const old = this.counts.slice(base + first, base + last + 1);
    this.counts.fill(0, base, base + B);
    const factor = 2 ** d;
    for (let j = first; j <= last; j++) {
      this.counts[base + Math.floor((j - m) / factor)]! += old[j - first]!;
    }
    this.lo[c] = newLo;
    this.width[c] = newW;
  }

  /**
   * Estimate the q-quantile (q in [0, 1]) of channel c's values: the value of sorted index
   * q·(n − 1), interpolated inside its bin and clamped to the exact [min, max]. NaN when empty.
   */
  quantile(c: number, q: number, min: number, max: number): number {
    const n = this.total[c]!;
    if (n === 0) return Number.NaN;
    const w = this.width[c]!;
    const lo = this.lo[c]!;
    if (w === 0) return lo;
    const r = q * (n - 1);
    const base = c * this.bins;
    let cum = 0;
    for (let b = 0; b < this.bins; b++) {
      const k = this.counts[base + b]!;
      if (cum + k > r) {
        const frac = Math.min(1, Math.max(0, (r - cum + 0.5) / k));
        return Math.min(max, Math.max(min, lo + (b + frac) * w));
      }
      cum += k;
    }
    return max;
  }

  /**
   * Representative points of channel c: `perBin` evenly spaced points in every non-empty bin, each
   * weighted by its share of the bin's count (one point when all values are equal).
   */
  samples(c: number, perBin: number): { points: Float32Array; weights: Float64Array } {
    const B = this.bins;
    const base = c * B;
    const w = this.width[c]!;
    const lo = this.lo[c]!;
    if (this.total[c] === 0) return { points: new Float32Array(0), weights: new Float64Array(0) };
    if (w === 0) return { points: Float32Array.of(lo), weights: Float64Array.of(this.total[c]!) };
    let used = 0;
    for (let b = 0; b < B; b++) if (this.counts[base + b]! > 0) used++;
    const points = new Float32Array(used * perBin);
    const weights = new Float64Array(used * perBin);
    let k = 0;
    for (let b = 0; b < B; b++) {
      const n = this.counts[base + b]!;
      if (n === 0) continue;
      for (let j = 0; j < perBin; j++, k++) {
        points[k] = lo + (b + (j + 0.5) / perBin) * w;
        weights[k] = n / perBin;
      }
    }
    return { points, weights };
  }

  /** JSON form: per channel its anchor, width, total and the occupied run of counts. */
  toJSON(): HistogramState {
    const B = this.bins;
    const channels: HistogramChannelState[] = [];
    for (let c = 0; c < this.channels; c++) {
      const base = c * B;
      let first = 0;
      while (first < B && this.counts[base + first] === 0) first++;
      let last = B - 1;
      while (last >= first && this.counts[base + last] === 0) last--;
      channels.push({
        lo: this.lo[c]!,
        width: this.width[c]!,
        total: this.total[c]!,
        first: first < B ? first : 0,
        counts: Array.from(this.counts.subarray(base + first, base + last + 1)),
      });
    }
    return { bins: B, channels };
  }

  /** Rebuild from `toJSON()` output, checking every field (throws naming `fn` on anything malformed). */
  static fromJSON(state: unknown, channels: number, fn: string): ChannelHistograms {
    const s = state as HistogramState;
    if (s === null || typeof s !== "object" || !Array.isArray(s.channels) || s.channels.length !== channels) {
      throw new Error(`${fn}: histogram must be { bins, channels: [${channels} entries] }`);
    }
    const h = new ChannelHistograms(s.bins, channels);
    s.channels.forEach((ch, c) => {
      const bad = (what: string): never => {
        throw new Error(`${fn}: histogram channel ${c}: ${what}`);
      };
      if (ch === null || typeof ch !== "object") bad("not an object");
      if (!Number.isFinite(ch.lo) || !Number.isFinite(ch.width) || ch.width < 0)
        bad("lo/width must be finite, width ≥ 0");
      if (!Array.isArray(ch.counts) || !Number.isInteger(ch.first) || ch.first < 0) bad("malformed counts");
      if (ch.first + ch.counts.length > h.bins) bad("counts run past the last bin");
      let sum = 0;
      ch.counts.forEach((n, j) => {
        if (!Number.isInteger(n) || n < 0)
          bad(`count ${j} = ${JSON.stringify(n)} is not a non-negative integer`);
        h.counts[c * h.bins + ch.first + j] = n;
        sum += n;
      });
      if (sum !== ch.total) bad(`counts sum to ${sum} but total is ${JSON.stringify(ch.total)}`);
      if (ch.width === 0 && sum > 0 && ch.counts.some((n, j) => n > 0 && ch.first + j !== 0)) {
        bad("a zero-width (constant) channel must keep its count in bin 0");
      }
      h.lo[c] = ch.lo;
      h.width[c] = ch.width;
      h.total[c] = sum;
    });
    return h;
  }
}

export interface HistogramChannelState {
  readonly lo: number;
  readonly width: number;
  readonly total: number;
  readonly first: number;
  readonly counts: number[];
}

export interface HistogramState {
  readonly bins: number;
  readonly channels: HistogramChannelState[];
}

/** A restored histogram must count values exactly in the channels whose observed bounds are set. */
export function checkHistogramMatchesBounds(hist: ChannelHistograms, state: ObserverState, fn: string): void {
  for (let c = 0; c < hist.channels; c++) {
    if (hist.count(c) > 0 !== (state.min[c] !== null)) {
      throw new Error(
        `${fn}: channel ${c} has ${hist.count(c)} counted values but bounds [${state.min[c]}, ${state.max[c]}]`,
      );
    }
  }
}
