import type { MinMaxResult } from "../grid/min-max.js";
import type { ChannelLayout } from "../grid/spec.js";
import { ChannelHistograms, checkHistogramMatchesBounds } from "./histogram.js";
import { type ObservedRange, Observer, type ObserverOptions, type ObserverState } from "./observer.js";

export interface PercentileObserverOptions extends ObserverOptions {
  /** Upper percentile in (50, 100]; the lower bound uses 100 − percentile. Default 99.99. */
  readonly percentile?: number;
  /** Histogram bins per channel (memory: 8 bytes each). Default 2048. */
  readonly bins?: number;
}

/**
 * Clips rare outliers: reports the (100 − p)-th and p-th percentiles of every finite value seen, per
 * channel, estimated from a bounded histogram (see `ChannelHistograms` for the growth scheme and the
 * error bound: within 2·(max − min)/(bins − 3) of the exact sample percentile). With p = 100 the range
 * is the exact min/max.
 */
export class PercentileObserver extends Observer {
  readonly type = "PercentileObserver";
  readonly percentile: number;
  readonly bins: number;
  private hist: ChannelHistograms;

  constructor(options: PercentileObserverOptions = {}) {
    super(options);
    const p = options.percentile ?? 99.99;
    if (typeof p !== "number" || !(p > 50 && p <= 100)) {
      throw new Error(`PercentileObserver: percentile must be in (50, 100], got ${String(p)}`);
    }
    this.percentile = p;
    this.bins = options.bins ?? 2048;
    this.hist = new ChannelHistograms(this.bins, this.channels);
  }

  /** Current histogram bin width of a channel (the estimate's error bound). */
  binWidth(channel = 0): number {
    return this.hist.binWidth(channel);
  }

  range(): ObservedRange {
    const n = this.channels;
    const min = new Float32Array(n).fill(Infinity);
    const max = new Float32Array(n).fill(-Infinity);
    const q = this.percentile / 100;
    for (let c = 0; c < n; c++) {
      if (this.hist.count(c) === 0) continue;
      const lo = this.seenMin[c]!;
      const hi = this.seenMax[c]!;
      min[c] = q === 1 ? lo : this.hist.quantile(c, 1 - q, lo, hi);
      max[c] = q === 1 ? hi : this.hist.quantile(c, q, lo, hi);
    }
    return { min, max };
  }

  protected override resizeChannels(channels: number): void {
    this.hist = new ChannelHistograms(this.bins, channels);
  }

  protected update(x: Float32Array, layout: ChannelLayout, batch: MinMaxResult): void {
    this.hist.add(x, layout, batch);
  }

  protected override extraState(): Record<string, unknown> {
    return { percentile: this.percentile, histogram: this.hist.toJSON() };
  }

  protected override parseExtraState(state: ObserverState, channels: number, fn: string): () => void {
    const hist = ChannelHistograms.fromJSON(state.histogram, channels, fn);
    checkHistogramMatchesBounds(hist, state, fn);
    if (hist.bins !== this.bins) {
      throw new Error(`${fn}: state has ${hist.bins} bins but this observer uses ${this.bins}`);
    }
    return () => {
      this.hist = hist;
    };
  }
}
