import { type MinMaxResult, minMaxByLayout, type NonFiniteHandling } from "../grid/min-max.js";
import { computeQParams, type QParams } from "../grid/qparams.js";
import {
  type ChannelLayout,
  channelLayout,
  checkGridSpec,
  type Granularity,
  type GridSpec,
  resolveAxis,
} from "../grid/spec.js";

export interface ObserverOptions {
  /** One range for the whole tensor, or one per channel along `axis`. Default per-tensor. */
  readonly granularity?: Granularity;
  /** Channel axis for per-channel observers (negative counts from the end). Default 0. */
  readonly axis?: number;
  /** NaN/±Infinity inputs: skip and count them (`exclude`, default) or throw (`reject`). */
  readonly nonFinite?: NonFiniteHandling;
  /** Channel count of a per-channel observer, if known before the first batch. */
  readonly channels?: number;
}

export interface ObservedRange {
  /** Per-channel lower bound; +Infinity where nothing finite has been seen (an empty range). */
  readonly min: Float32Array;
  /** Per-channel upper bound; −Infinity where nothing finite has been seen. */
  readonly max: Float32Array;
}

/**
 * JSON-serialisable observer state, for checkpoint metadata. Empty channels store `null` bounds
 * (JSON has no Infinity). Subclasses add their own fields.
 */
export interface ObserverState {
  readonly type: string;
  readonly version: 1;
  readonly granularity: Granularity;
  readonly axis: number;
  readonly nonFinite: NonFiniteHandling;
  readonly frozen: boolean;
  readonly channels: number;
  readonly nonFiniteCount: number;
  /** Exact min/max of every finite value observed, per channel (null = none). */
  readonly min: (number | null)[];
  readonly max: (number | null)[];
  readonly [field: string]: unknown;
}

/**
 * The common machinery of range observers: granularity and layout, non-finite handling, exact running
 * min/max, freezing and state. Subclasses decide what `range()` reports (`update` sees each batch
 * after its non-finite values have been counted or rejected, so they never reach a range).
 */
export abstract class Observer {
  abstract readonly type: string;
  readonly granularity: Granularity;
  readonly axis: number;
  readonly nonFinite: NonFiniteHandling;
  /** Exact min/max of all finite values seen, per channel. */
  protected seenMin: Float32Array;
  protected seenMax: Float32Array;
  private isFrozen = false;
  private nonFiniteSeen = 0;
  /** Rank of the last tensor observed, so a negative axis can be compared with a non-negative one. */
  private observedRank: number | null = null;

  constructor(options: ObserverOptions = {}) {
    const name = new.target.name;
    this.granularity = options.granularity ?? "per-tensor";
    this.axis = options.axis ?? 0;
    this.nonFinite = options.nonFinite ?? "exclude";
    if (this.granularity !== "per-tensor" && this.granularity !== "per-channel") {
      throw new Error(
        `${name}: granularity must be 'per-tensor' or 'per-channel', got ${JSON.stringify(this.granularity)}`,
      );
    }
    if (!Number.isInteger(this.axis))
      throw new Error(`${name}: axis must be an integer, got ${String(this.axis)}`);
    if (this.nonFinite !== "exclude" && this.nonFinite !== "reject") {
      throw new Error(
        `${name}: nonFinite must be 'exclude' or 'reject', got ${JSON.stringify(this.nonFinite)}`,
      );
    }
    let channels = this.granularity === "per-tensor" ? 1 : 0;
    if (options.channels !== undefined) {
      if (!Number.isInteger(options.channels) || options.channels < 0) {
        throw new Error(`${name}: channels must be a non-negative integer, got ${String(options.channels)}`);
      }
      if (this.granularity === "per-tensor" && options.channels !== 1) {
        throw new Error(`${name}: a per-tensor observer has 1 channel, got channels = ${options.channels}`);
      }
      channels = options.channels;
    }
    this.seenMin = new Float32Array(channels).fill(Infinity);
    this.seenMax = new Float32Array(channels).fill(-Infinity);
  }

  /** Number of channels (0 for a per-channel observer that has not seen data yet). */
  get channels(): number {
    return this.seenMin.length;
  }

  /** True while `observe` is a no-op (ranges and qparams stay as they are). */
  get frozen(): boolean {
    return this.isFrozen;
  }

  /** NaN and ±Infinity values seen and excluded so far. */
  get nonFiniteCount(): number {
    return this.nonFiniteSeen;
  }

  freeze(): this {
    this.isFrozen = true;
    return this;
  }

  unfreeze(): this {
    this.isFrozen = false;
    return this;
  }

  /**
   * Fold a batch into the statistics (`shape` is required per-channel). A frozen observer ignores it;
   * an empty batch changes nothing. With `nonFinite: 'reject'` a NaN/Infinity throws before any
   * statistic changes.
   */
  observe(x: Float32Array, shape?: readonly number[]): this {
    if (this.isFrozen) return this;
    const fn = `${this.type}.observe`;
    if (!(x instanceof Float32Array)) throw new Error(`${fn}: input must be a Float32Array`);
    const layout = channelLayout(fn, x.length, this.granularity, this.axis, shape);
    if (shape) this.observedRank = shape.length;
    if (x.length === 0) return this;
    if (this.granularity === "per-channel") {
      if (this.channels === 0) {
        this.seenMin = new Float32Array(layout.channels).fill(Infinity);
        this.seenMax = new Float32Array(layout.channels).fill(-Infinity);
        this.resizeChannels(layout.channels);
      } else if (layout.channels !== this.channels) {
        throw new Error(
          `${fn}: shape [${shape!.join(", ")}] has ${layout.channels} channels on axis ${this.axis}, but this observer tracks ${this.channels}`,
        );
      }
    }
    const batch = minMaxByLayout(fn, x, layout, this.nonFinite);
    this.nonFiniteSeen += batch.nonFiniteCount;
    this.update(x, layout, batch);
    for (let c = 0; c < this.channels; c++) {
      if (batch.min[c]! < this.seenMin[c]!) this.seenMin[c] = batch.min[c]!;
      if (batch.max[c]! > this.seenMax[c]!) this.seenMax[c] = batch.max[c]!;
    }
    return this;
  }

  /** The range this observer reports, per channel (see ObservedRange for empty channels). */
  abstract range(): ObservedRange;

  /** Scale and zero point for `spec` from `range()` (granularity and axis must match the observer). */
  qparams(spec: GridSpec): QParams {
    this.checkSpec(spec, `${this.type}.qparams`);
    const r = this.range();
    return computeQParams(r.min, r.max, spec);
  }

  /** Forget everything observed (the configuration and the frozen flag stay). */
  reset(): this {
    this.seenMin.fill(Infinity);
    this.seenMax.fill(-Infinity);
    this.nonFiniteSeen = 0;
    this.resizeChannels(this.channels);
    return this;
  }

  state(): ObserverState {
    return {
      type: this.type,
      version: 1,
      granularity: this.granularity,
      axis: this.axis,
      nonFinite: this.nonFinite,
      frozen: this.isFrozen,
      channels: this.channels,
      nonFiniteCount: this.nonFiniteSeen,
      min: Array.from(this.seenMin, (v) => (Number.isFinite(v) ? v : null)),
      max: Array.from(this.seenMax, (v) => (Number.isFinite(v) ? v : null)),
      ...this.extraState(),
    };
  }

  /**
   * Restore a state written by `state()` of the same observer type and layout. Everything is checked
   * before anything is assigned, so a malformed state leaves the observer unchanged.
   */
  loadState(state: ObserverState): this {
    const fn = `${this.type}.loadState`;
    if (state === null || typeof state !== "object") throw new Error(`${fn}: state must be an object`);
    if (state.type !== this.type) {
      throw new Error(`${fn}: state is for ${JSON.stringify(state.type)}, not ${this.type}`);
    }
    if (state.version !== 1)
      throw new Error(`${fn}: unsupported state version ${JSON.stringify(state.version)}`);
    if (
      state.granularity !== this.granularity ||
      (this.granularity === "per-channel" && state.axis !== this.axis)
    ) {
      throw new Error(
        `${fn}: state is ${String(state.granularity)} (axis ${String(state.axis)}) but this observer is ${this.granularity} (axis ${this.axis})`,
      );
    }
    const channels = state.channels;
    if (
      !Number.isInteger(channels) ||
      channels < 0 ||
      (this.granularity === "per-tensor" && channels !== 1)
    ) {
      throw new Error(`${fn}: invalid channel count ${JSON.stringify(channels)}`);
    }
    if (typeof state.frozen !== "boolean") throw new Error(`${fn}: frozen must be a boolean`);
    if (!Number.isInteger(state.nonFiniteCount) || state.nonFiniteCount < 0) {
      throw new Error(
        `${fn}: nonFiniteCount must be a non-negative integer, got ${JSON.stringify(state.nonFiniteCount)}`,
      );
    }
    const mins = boundsFromState(fn, "min", state.min, channels, Infinity);
    const maxs = boundsFromState(fn, "max", state.max, channels, -Infinity);
    for (let c = 0; c < channels; c++) {
      const empty = mins[c] === Infinity;
      if (empty !== (maxs[c] === -Infinity) || (!empty && mins[c]! > maxs[c]!)) {
        throw new Error(`${fn}: channel ${c} has inconsistent bounds [${state.min[c]}, ${state.max[c]}]`);
      }
    }
    const commitExtra = this.parseExtraState(state, channels, fn);
    this.seenMin = mins;
    this.seenMax = maxs;
    this.isFrozen = state.frozen;
    this.nonFiniteSeen = state.nonFiniteCount;
    commitExtra();
    return this;
  }

  /** Check that a spec's granularity and axis match this observer. */
  protected checkSpec(spec: GridSpec, fn: string): void {
    checkGridSpec(spec, fn);
    if (
      spec.granularity !== this.granularity ||
      (spec.granularity === "per-channel" && !this.sameAxis(spec.axis))
    ) {
      throw new Error(
        `${fn}: spec is ${spec.granularity} (axis ${spec.axis}) but this observer is ${this.granularity} (axis ${this.axis})`,
      );
    }
  }

  /** Axis −1 and axis 2 are the same axis of a rank-3 tensor; before any observation only equal ones are. */
  private sameAxis(axis: number): boolean {
    if (axis === this.axis) return true;
    const r = this.observedRank;
    return r !== null && resolveAxis(axis, r) === resolveAxis(this.axis, r);
  }

  /** Fold one batch (non-finite values already counted; `batch` holds its finite min/max). */
  protected abstract update(x: Float32Array, layout: ChannelLayout, batch: MinMaxResult): void;

  /** Called when the channel count becomes known or statistics are reset. */
  protected resizeChannels(_channels: number): void {}

  /** Subclass fields for `state()`. */
  protected extraState(): Record<string, unknown> {
    return {};
  }

  /** Validate subclass fields of a state and return a function that applies them (must not throw). */
  protected parseExtraState(_state: ObserverState, _channels: number, _fn: string): () => void {
    return () => {};
  }
}

/** Parse per-channel bounds written as numbers or null (= `empty`). */
export function boundsFromState(
  fn: string,
  name: string,
  values: unknown,
  channels: number,
  empty: number,
): Float32Array {
  if (!Array.isArray(values) || values.length !== channels) {
    throw new Error(`${fn}: ${name} must be an array of ${channels} numbers or nulls`);
  }
  const out = new Float32Array(channels);
  values.forEach((v, c) => {
    if (v === null) out[c] = empty;
    else if (typeof v === "number" && Number.isFinite(v)) out[c] = v;
    else throw new Error(`${fn}: ${name}[${c}] = ${JSON.stringify(v)} is not a finite number or null`);
  });
  return out;
}
