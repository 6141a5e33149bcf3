import {
  ChannelHistograms,
  type ChannelLayout,
  type MinMaxResult,
  type NonFiniteHandling,
  type ObservedRange,
  Observer,
} from "@quant-trim/quant";
import { entropyThreshold } from "./entropy-threshold.js";

export interface EntropyObserverOptions {
  /** Bins of the |x| histogram the threshold is searched on. Default 2048 (TensorRT). */
  readonly bins?: number;
  /** Bins the candidate distributions are quantized to. Default 128 (TensorRT's 8-bit choice). */
  readonly quantizedBins?: number;
  readonly nonFinite?: NonFiniteHandling;
}

/**
 * Per-tensor entropy (KL) calibration, TensorRT style. The magnitudes |x| are accumulated in quant's
 * growing histogram (`ChannelHistograms`, bounded memory, exact counts); `range()` re-bins them into
 * `bins` equal bins over [0, max |x|] (the first bin, which holds exact zeros, takes its neighbour's
 * count, as NVIDIA's calibrator does), finds the KL-optimal threshold T (`entropyThreshold`) and reports
 * [max(min, −T), min(max, T)]: the clipped range, never wider than what was seen.
 */
export class EntropyObserver extends Observer {
  readonly type = "EntropyObserver";
  readonly bins: number;
  readonly quantizedBins: number;
  private hist: ChannelHistograms;
  private absMax = 0;
  private cached: ObservedRange | null = null;

  constructor(options: EntropyObserverOptions = {}) {
    super({ granularity: "per-tensor", ...(options.nonFinite ? { nonFinite: options.nonFinite } : {}) });
    this.bins = options.bins ?? 2048;
    this.quantizedBins = options.quantizedBins ?? 128;
    if (!Number.isInteger(this.bins) || this.bins < 16 || this.bins > 1 << 16) {
      throw new Error(`EntropyObserver: bins must be an integer in [16, 65536], got ${String(this.bins)}`);
    }
    if (!Number.isInteger(this.quantizedBins) || this.quantizedBins < 2 || this.quantizedBins > this.bins) {
      throw new Error(
        `EntropyObserver: quantizedBins must be an integer in [2, bins = ${this.bins}], got ${String(this.quantizedBins)}`,
      );
    }
    this.hist = new ChannelHistograms(this.bins, 1);
  }

  range(): ObservedRange {
    if (this.cached) return { min: this.cached.min.slice(), max: this.cached.max.slice() };
    const min = Float32Array.of(this.seenMin[0]!);
    const max = Float32Array.of(this.seenMax[0]!);
    if (this.hist.count(0) > 0 && this.absMax > 0) {
      const counts = this.uniformCounts();
      // Post-ReLU tensors put up to half their values in the first bin (exact zeros). Merging that spike
      // into the first quantized bin would dominate every candidate's divergence and push the threshold
      // towards 0; like NVIDIA's calibrator (pytorch-quantization `_compute_amax_entropy`), the first
      // bin is given its neighbour's count before the search.
      counts[0] = counts[1]!;
      const t = entropyThreshold(counts, this.absMax, this.quantizedBins);
      min[0] = Math.max(min[0]!, -t);
      max[0] = Math.min(max[0]!, t);
    }
    this.cached = { min, max };
    return { min: min.slice(), max: max.slice() };
  }

  /** The |x| histogram as `bins` equal bins over [0, max |x|], from the growing histogram's bins. */
  private uniformCounts(): Float64Array {
    const counts = new Float64Array(this.bins);
    const { points, weights } = this.hist.samples(0, 4);
    const scale = this.bins / this.absMax;
    for (let k = 0; k < points.length; k++) {
      let b = Math.floor(points[k]! * scale);
      if (b >= this.bins) b = this.bins - 1;
      else if (b < 0) b = 0;
      counts[b]! += weights[k]!;
    }
    return counts;
  }

  protected override resizeChannels(_channels: number): void {
    this.hist = new ChannelHistograms(this.bins, 1);
    this.absMax = 0;
    this.cached = null;
  }

  protected update(x: Float32Array, layout: ChannelLayout, _batch: MinMaxResult): void {
    const abs = new Float32Array(x.length);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v - v !== 0) {
        abs[i] = v; // NaN/±Infinity: the histogram skips them (already counted by the base class)
        continue;
      }
      const a = v < 0 ? -v : v;
      abs[i] = a;
      if (a < lo) lo = a;
      if (a > hi) hi = a;
    }
    if (lo > hi) return;
    this.hist.add(abs, layout, { min: Float32Array.of(lo), max: Float32Array.of(hi), nonFiniteCount: 0 });
    if (hi > this.absMax) this.absMax = hi;
    this.cached = null;
  }
}
