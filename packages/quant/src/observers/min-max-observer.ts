import type { MinMaxResult } from "../grid/min-max.js";
import type { ChannelLayout } from "../grid/spec.js";
import { type ObservedRange, Observer } from "./observer.js";

/**
 * Running minimum and maximum of every finite value seen (PyTorch's `MinMaxObserver` and
 * `PerChannelMinMaxObserver`): `min = min(min, batch.min)`, `max = max(max, batch.max)`.
 */
export class MinMaxObserver extends Observer {
  readonly type = "MinMaxObserver";

  range(): ObservedRange {
    return { min: this.seenMin.slice(), max: this.seenMax.slice() };
  }

  protected update(_x: Float32Array, _layout: ChannelLayout, _batch: MinMaxResult): void {
    // The base class keeps the exact running min/max, which is all this observer reports.
  }
}
