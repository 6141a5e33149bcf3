import type { MinMaxResult, NonFiniteHandling } from "../grid/min-max.js";
import { computeQParams, type QParams } from "../grid/qparams.js";
import { fakeQuantizeInto } from "../grid/quantize.js";
import { type ChannelLayout, checkGridSpec, type GridSpec, gridSpec, qRange } from "../grid/spec.js";
import { ChannelHistograms, checkHistogramMatchesBounds } from "./histogram.js";
import { type ObservedRange, Observer, type ObserverState } from "./observer.js";

export interface MseObserverOptions {
  /** The grid whose quantization error is minimised; granularity and axis come from it. */
  readonly spec: GridSpec;
  readonly nonFinite?: NonFiniteHandling;
  readonly channels?: number;
  /** Histogram bins per channel. Default 2048. */
  readonly bins?: number;
  /** Number of clipping ratios tried, evenly spaced from 1 down to `minRatio`. Default 100. */
  readonly candidates?: number;
  /** Smallest clipping ratio tried, in (0, 1]. Default 0.05. */
  readonly minRatio?: number;
}

/**
 * Picks the clipping range that minimises the mean squared quantization error on the grid: for ratios
 * α from 1 down to `minRatio` it takes the range α·[min(lo, 0), max(hi, 0)], computes its qparams,
 * fake-quantizes representative points of the observed distribution with the grid's own
 * `fakeQuantize`, and keeps the α with the smallest error (the largest α on ties, so nothing is clipped
 * without a gain). The distribution is kept in a bounded histogram (see `ChannelHistograms`); each
 * non-empty bin contributes evenly spaced points weighted by its count. Stochastic grids are searched
 * with round-half-to-even (the error of an unbiased rounding is not a fixed number).
 *
 * Cost of a search: candidates × (occupied bins × points per bin) fake-quantized values per channel.
 */
export class MseObserver extends Observer {
  readonly type = "MseObserver";
  readonly spec: GridSpec;
  readonly bins: number;
  readonly candidates: number;
  readonly minRatio: number;
  private hist: ChannelHistograms;
  private searched = new Map<GridSpec, ObservedRange>();

  constructor(options: MseObserverOptions) {
    if (options === null || typeof options !== "object" || options.spec === undefined) {
      throw new Error("MseObserver: options.spec (the grid to optimise for) is required");
    }
    checkGridSpec(options.spec, "MseObserver");
    super({
      granularity: options.spec.granularity,
      axis: options.spec.axis,
      ...(options.nonFinite !== undefined ? { nonFinite: options.nonFinite } : {}),
      ...(options.channels !== undefined ? { channels: options.channels } : {}),
    });
    this.spec = options.spec;
    this.bins = options.bins ?? 2048;
    this.candidates = options.candidates ?? 100;
    this.minRatio = options.minRatio ?? 0.05;
    if (!Number.isInteger(this.candidates) || this.candidates < 1 || this.candidates > 10000) {
      throw new Error(
        `MseObserver: candidates must be an integer in [1, 10000], got ${String(this.candidates)}`,
      );
    }
    if (typeof this.minRatio !== "number" || !(this.minRatio > 0 && this.minRatio <= 1)) {
      throw new Error(`MseObserver: minRatio must be in (0, 1], got ${String(this.minRatio)}`);
    }
    this.hist = new ChannelHistograms(this.bins, this.channels);
  }

  /** The MSE-optimal clipping range for the observer's own grid. */
  range(): ObservedRange {
    return this.searchRange(this.spec);
  }

  /** Qparams of the MSE-optimal range for `spec` (searched for that spec). */
  override qparams(spec: GridSpec = this.spec): QParams {
    this.checkSpec(spec, "MseObserver.qparams");
    const r = this.searchRange(spec);
    return computeQParams(r.min, r.max, spec);
  }

  /** The clipping range minimising quantization MSE on `spec`, per channel (cached until new data). */
  searchRange(spec: GridSpec): ObservedRange {
    this.checkSpec(spec, "MseObserver.searchRange");
    const cached = this.searched.get(spec);
    if (cached) return { min: cached.min.slice(), max: cached.max.slice() };
    const n = this.channels;
    const min = new Float32Array(n).fill(Infinity);
    const max = new Float32Array(n).fill(-Infinity);
    const channelSpec = gridSpec({
      ...spec,
      granularity: "per-tensor",
      rounding: spec.rounding === "stochastic" ? "half-even" : spec.rounding,
    });
    const { qmin, qmax } = qRange(spec);
    const perBin = Math.min(8, Math.max(1, Math.ceil((16 * (qmax - qmin + 1)) / this.bins)));
    for (let c = 0; c < n; c++) {
      if (this.hist.count(c) === 0) continue;
      const [lo, hi] = this.searchChannel(c, channelSpec, perBin);
      min[c] = lo;
      max[c] = hi;
    }
    this.searched.set(spec, { min, max });
    return { min: min.slice(), max: max.slice() };
  }

  private searchChannel(c: number, spec: GridSpec, perBin: number): [number, number] {
    const seenLo = this.seenMin[c]!;
    const seenHi = this.seenMax[c]!;
    const lo0 = Math.min(seenLo, 0);
    const hi0 = Math.max(seenHi, 0);
    if (lo0 === hi0) return [seenLo, seenHi];
    const { points, weights } = this.hist.samples(c, perBin);
    const out = new Float32Array(points.length);
    let best = Infinity;
    let bestRange: [number, number] = [seenLo, seenHi];
    const step = this.candidates > 1 ? (1 - this.minRatio) / (this.candidates - 1) : 0;
    for (let k = 0; k < this.candidates; k++) {
      const ratio = 1 - k * step;
      const lo = k === 0 ? seenLo : Math.fround(ratio * lo0);
      const hi = k === 0 ? seenHi : Math.fround(ratio * hi0);
      fakeQuantizeInto(out, points, computeQParams(lo, hi, spec), spec);
      let err = 0;
      for (let i = 0; i < points.length; i++) {
        const e = out[i]! - points[i]!;
        err += weights[i]! * e * e;
      }
      if (err < best) {
        best = err;
        bestRange = [lo, hi];
      }
    }
    return bestRange;
  }

  protected override resizeChannels(channels: number): void {
    this.hist = new ChannelHistograms(this.bins, channels);
    this.searched.clear();
  }

  protected update(x: Float32Array, layout: ChannelLayout, batch: MinMaxResult): void {
    this.hist.add(x, layout, batch);
    this.searched.clear();
  }

  protected override extraState(): Record<string, unknown> {
    return {
      spec: { ...this.spec },
      candidates: this.candidates,
      minRatio: this.minRatio,
      histogram: this.hist.toJSON(),
    };
  }

  protected override parseExtraState(state: ObserverState, channels: number, fn: string): () => void {
    const hist = ChannelHistograms.fromJSON(state.histogram, channels, fn);
    if (hist.bins !== this.bins) {
      throw new Error(`${fn}: state has ${hist.bins} bins but this observer uses ${this.bins}`);
    }
    checkHistogramMatchesBounds(hist, state, fn);
    return () => {
      this.hist = hist;
      this.searched.clear();
    };
  }
}
