import type { MinMaxResult } from "../grid/min-max.js";
import type { ChannelLayout } from "../grid/spec.js";
import {
  boundsFromState,
  type ObservedRange,
  Observer,
  type ObserverOptions,
  type ObserverState,
} from "./observer.js";

export interface EmaMinMaxObserverOptions extends ObserverOptions {
  /** Weight of each new batch, in (0, 1]. Default 0.01; 1 makes the observer memoryless (last batch). */
  readonly averagingConstant?: number;
}

/**
 * Exponential moving average of each batch's min and max (PyTorch's
 * `MovingAverage[PerChannel]MinMaxObserver`): the first batch with finite values sets the range, then
 * `min += c · (batch.min − min)` and likewise for max, in float32 as PyTorch computes it. A channel
 * with no finite value in a batch keeps its range. Float32 rounding can carry the two averages past
 * each other when they are a few ulps apart (min −9.5e-7 and max 0, then a batch at −3.5e-23 gives
 * min 0 and max −3.5e-23); the range is then collapsed to their float32 midpoint so that min ≤ max
 * always holds.
 */
export class EmaMinMaxObserver extends Observer {
  readonly type = "EmaMinMaxObserver";
  readonly averagingConstant: number;
  private emaMin: Float32Array;
  private emaMax: Float32Array;

  constructor(options: EmaMinMaxObserverOptions = {}) {
    super(options);
    const c = options.averagingConstant ?? 0.01;
    if (typeof c !== "number" || !(c > 0 && c <= 1)) {
      throw new Error(`EmaMinMaxObserver: averagingConstant must be in (0, 1], got ${String(c)}`);
    }
    this.averagingConstant = c;
    this.emaMin = new Float32Array(this.channels).fill(Infinity);
    this.emaMax = new Float32Array(this.channels).fill(-Infinity);
  }

  range(): ObservedRange {
    return { min: this.emaMin.slice(), max: this.emaMax.slice() };
  }

  protected override resizeChannels(channels: number): void {
    this.emaMin = new Float32Array(channels).fill(Infinity);
    this.emaMax = new Float32Array(channels).fill(-Infinity);
  }

  protected update(_x: Float32Array, _layout: ChannelLayout, batch: MinMaxResult): void {
    const f = Math.fround;
    const k = f(this.averagingConstant);
    for (let c = 0; c < this.channels; c++) {
      const bmin = batch.min[c]!;
      const bmax = batch.max[c]!;
      if (bmin > bmax) continue; // no finite value in this channel
      if (this.emaMin[c] === Infinity) {
        this.emaMin[c] = bmin;
        this.emaMax[c] = bmax;
      } else {
        const lo = this.emaMin[c]!;
        const hi = this.emaMax[c]!;
        const newLo = f(lo + f(k * f(bmin - lo)));
        const newHi = f(hi + f(k * f(bmax - hi)));
        if (newLo <= newHi) {
          this.emaMin[c] = newLo;
          this.emaMax[c] = newHi;
        } else {
          const mid = f(newLo / 2 + newHi / 2); // halves first: no overflow near ±FLT_MAX
          this.emaMin[c] = mid;
          this.emaMax[c] = mid;
        }
      }
    }
  }

  protected override extraState(): Record<string, unknown> {
    return {
      averagingConstant: this.averagingConstant,
      emaMin: Array.from(this.emaMin, (v) => (Number.isFinite(v) ? v : null)),
      emaMax: Array.from(this.emaMax, (v) => (Number.isFinite(v) ? v : null)),
    };
  }

  protected override parseExtraState(state: ObserverState, channels: number, fn: string): () => void {
    const lo = boundsFromState(fn, "emaMin", state.emaMin, channels, Infinity);
    const hi = boundsFromState(fn, "emaMax", state.emaMax, channels, -Infinity);
    for (let c = 0; c < channels; c++) {
      const empty = lo[c] === Infinity;
      if (empty !== (hi[c] === -Infinity) || (!empty && lo[c]! > hi[c]!)) {
        throw new Error(`${fn}: channel ${c} has an inconsistent moving-average range`);
      }
    }
    return () => {
      this.emaMin = lo;
      this.emaMax = hi;
    };
  }
}
