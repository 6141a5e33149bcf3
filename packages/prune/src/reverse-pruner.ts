import type { Granularity, GridSpec } from "@quant-trim/quant";
import { matchesName, type NamedParam, type ParamEntry, selectWeights } from "./layers.js";
import { alignThresholdPow2, resolvePow2Qmax } from "./pow2-align.js";
import {
  assertContiguous,
  type GroupLayout,
  groupLayout,
  storableThreshold,
  type TrimMode,
} from "./project.js";
import {
  checkKeys,
  defaultPFinal,
  type LambdaLike,
  normalizeSchedule,
  pAt,
  type TrimSchedule,
  trimProgress,
} from "./schedule.js";
import { parseState } from "./state.js";
import { checkP, quantileRank, ThresholdWorkspace } from "./thresholds.js";
import { checkRule, groupThreshold, projectGroup, type ThresholdRule } from "./trim.js";

/** Settings that may differ per layer (pruner-wide values are the defaults). */
export interface LayerTrimOptions {
  /** The weight grid: its granularity picks the groups, its bits the default pFinal. */
  grid?: GridSpec;
  /** Overrides the grid's granularity. Default: the grid's, else "per-tensor". */
  granularity?: Granularity;
  /** Default { rule: "quantile" }. */
  rule?: ThresholdRule;
  /** Final quantile level. Default 0.99 for grids of ≤ 4 bits, else 0.999. */
  pFinal?: number;
}

export interface ReversePrunerOptions extends LayerTrimOptions {
  /** How p falls from 1 to pFinal. Pass the fake-quant LambdaSchedule (or {kind: "lambda", lambda}) to share
   *  its clock. Default { kind: "constant" }: full strength from the first step. */
  schedule?: TrimSchedule | LambdaLike;
  /** "clamp" (default, the method) or "mask" (zero the tail; ablation only). */
  mode?: TrimMode;
  /** Project every this many steps (default 1). */
  every?: number;
  /** Names or globs of parameters to prune. Default: every `*.weight` with ndim ≥ 2. */
  include?: string[];
  /** Names or globs to leave alone. */
  exclude?: string[];
  /** Per-layer overrides, keyed by name or glob; later keys win over earlier ones. */
  layers?: Record<string, LayerTrimOptions>;
  /**
   * Told once, at construction, when some quantile-rule layers can never lose a weight (their groups are
   * too small for the lowest p the schedule reaches; see `untrimmableLayers`). Default: console.warn.
   * Pass `() => {}` to silence it.
   */
  onWarning?: (message: string, layers: UntrimmableLayer[]) => void;
  /**
   * Pow2-aligned trimming [ours]: once trimming is under way (schedule strength λ > 0), snap each τ down to
   * the largest qmax·2^k ≤ τ, so that a power-of-two backend's scale max/qmax is exactly 2^k. `true` takes
   * qmax from each layer's grid; a number gives it (127 for an INT8 power-of-two backend). Default off.
   */
  alignPow2?: boolean | number;
}

/** A layer whose every group is too small to lose a weight at the lowest quantile level it will see. */
export interface UntrimmableLayer {
  name: string;
  granularity: Granularity;
  /** Weights per group: the whole tensor per-tensor, one output channel per-channel. */
  groupSize: number;
  /** The lowest quantile level the schedule reaches for this layer (pFinal, or a constant schedule's p). */
  p: number;
  /** The smallest group that could lose a weight at `p`; null when p = 1 (nothing is ever trimmed). */
  minGroupSize: number | null;
}

export interface TrimLayerReport {
  name: string;
  shape: number[];
  granularity: Granularity;
  rule: ThresholdRule["rule"];
  /** p at the last projection (quantile rule), else null. */
  p: number | null;
  /** τ per group at the last projection (empty before the first). */
  thresholds: number[];
  /** Elements moved by the last projection. */
  trimmed: number;
  /** trimmed / number of elements. */
  fractionTrimmed: number;
  /** Elements moved by all projections so far. */
  trimmedTotal: number;
}

export interface ReversePrunerState {
  format: typeof STATE_FORMAT;
  lastStep: number | null;
  layers: Record<string, { p: number | null; thresholds: number[]; trimmed: number[]; trimmedTotal: number }>;
}

const STATE_FORMAT = "quant-trim/reverse-pruner@1";
const FN = "ReversePruner";
const OPTION_KEYS = [
  "grid",
  "granularity",
  "rule",
  "pFinal",
  "schedule",
  "mode",
  "every",
  "include",
  "exclude",
  "layers",
  "onWarning",
  "alignPow2",
] as const;
const LAYER_KEYS = ["grid", "granularity", "rule", "pFinal"] as const;

interface TrimLayer {
  name: string;
  /** Prefix of errors raised while trimming this layer (built once, not per step). */
  errorPrefix: string;
  entry: NamedParam;
  granularity: Granularity;
  rule: ThresholdRule;
  pFinal: number;
  layout: GroupLayout;
  p: number | null;
  thresholds: Float64Array;
  trimmed: Int32Array;
  trimmedTotal: number;
  computed: boolean;
  /** This step's p and thresholds, computed for every layer before any weight is written. */
  pendingP: number;
  pending: Float64Array;
  /** qmax of pow2-aligned trimming, null when off. */
  alignQmax: number | null;
}

function checkGranularity(where: string, g: unknown): Granularity | undefined {
  if (g === undefined) return undefined;
  if (g !== "per-tensor" && g !== "per-channel") {
    throw new Error(
      `${FN}: ${where} granularity must be "per-tensor" or "per-channel", got ${JSON.stringify(g)}`,
    );
  }
  return g;
}

function resolveGranularity(where: string, o: LayerTrimOptions, ndim: number): Granularity {
  const own = checkGranularity(where, o.granularity);
  if (own) return own;
  if (o.grid === undefined) return "per-tensor";
  const g = checkGranularity(`${where} grid`, o.grid.granularity) ?? "per-tensor";
  // The groups are contiguous runs of output channels; a grid that quantizes along another axis would need
  // strided groups, which no weight grid of this project uses.
  const axis = o.grid.axis ?? 0;
  if (g === "per-channel" && axis !== 0 && axis !== -ndim) {
    throw new Error(
      `${FN}: ${where} grid is per-channel along axis ${axis}; only axis 0 (output channels) is supported`,
    );
  }
  return g;
}

/**
 * Reverse pruning (Quant-Trim's second component): after the optimizer step, clamp each weight group to
 * [−τ, τ] with τ from the group's own magnitude distribution, so that outliers stop inflating the
 * quantization scale. Weights are moved, never zeroed (mode "clamp"), and keep receiving gradients.
 *
 * ```ts
 * const lambda = new LambdaSchedule({ kind: "quant-trim", totalSteps });
 * const rp = new ReversePruner(model.namedParameters(), { grid: int4SymmetricPerTensor, schedule: lambda });
 * // in the training loop, after optimizer.step():
 * rp.step(step);
 * ```
 */
export class ReversePruner {
  readonly schedule: TrimSchedule;
  readonly mode: TrimMode;
  readonly every: number;
  private readonly layerList: TrimLayer[];
  private readonly ws = new ThresholdWorkspace();
  private lastStep: number | null = null;

  constructor(params: ReadonlyArray<ParamEntry>, options: ReversePrunerOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new Error(`${FN}: options must be an object, got ${String(options)}`);
    }
    checkKeys(FN, "ReversePruner", options, OPTION_KEYS);
    this.schedule = normalizeSchedule(FN, options.schedule);
    this.mode = options.mode ?? "clamp";
    if (this.mode !== "clamp" && this.mode !== "mask") {
      throw new Error(`${FN}: mode must be "clamp" or "mask", got ${JSON.stringify(this.mode)}`);
    }
    this.every = options.every ?? 1;
    if (!Number.isInteger(this.every) || this.every < 1) {
      throw new Error(`${FN}: every must be an integer ≥ 1, got ${String(options.every)}`);
    }
    const chosen = selectWeights(FN, params, options.include, options.exclude);
    const overrides = Object.entries(options.layers ?? {});
    for (const [pattern, o] of overrides) {
      if (typeof o !== "object" || o === null)
        throw new Error(`${FN}: layers['${pattern}'] must be an object`);
      checkKeys(FN, `layers['${pattern}']`, o, LAYER_KEYS);
      if (!chosen.some((c) => matchesName(pattern, c.name))) {
        throw new Error(
          `${FN}: layers key '${pattern}' matches no pruned parameter; pruned: ${chosen.map((c) => c.name).join(", ") || "(none)"}`,
        );
      }
    }
    this.layerList = chosen.map((entry) => {
      const merged: LayerTrimOptions = {
        grid: options.grid,
        granularity: options.granularity,
        rule: options.rule,
        pFinal: options.pFinal,
      };
      for (const [pattern, o] of overrides) {
        if (!matchesName(pattern, entry.name)) continue;
        for (const key of LAYER_KEYS)
          if (o[key] !== undefined) (merged as Record<string, unknown>)[key] = o[key];
      }
      const where = `layer '${entry.name}'`;
      const rule = checkRule(`${FN}: ${where}`, merged.rule);
      const pFinal = merged.pFinal ?? defaultPFinal(merged.grid?.bits);
      checkP(`${FN}: ${where} pFinal`, pFinal);
      if (rule.rule === "kSigma" && this.schedule.kind === "constant" && this.schedule.p !== undefined) {
        throw new Error(
          `${FN}: a constant schedule's p applies to the quantile rule, but ${where} uses kSigma`,
        );
      }
      const t = entry.param.data;
      const granularity = resolveGranularity(where, merged, t.ndim);
      assertContiguous(FN, entry.name, t);
      const layout = groupLayout(t.shape, granularity);
      return {
        name: entry.name,
        errorPrefix: `${FN}: parameter '${entry.name}'`,
        entry,
        granularity,
        rule,
        pFinal,
        layout,
        p: null,
        thresholds: new Float64Array(layout.count),
        trimmed: new Int32Array(layout.count),
        trimmedTotal: 0,
        computed: false,
        pendingP: 1,
        pending: new Float64Array(layout.count),
        alignQmax: resolvePow2Qmax(`${FN}: ${where}`, options.alignPow2, merged.grid),
      };
    });
    const onWarning = options.onWarning ?? ((message: string) => console.warn(message));
    if (typeof onWarning !== "function")
      throw new Error(`${FN}: onWarning must be a function, got ${typeof onWarning}`);
    const untrimmable = this.untrimmableLayers();
    if (untrimmable.length > 0)
      onWarning(untrimmableMessage(untrimmable, this.layerList.length), untrimmable);
  }

  /**
   * The quantile-rule layers that no step can trim. A group of n weights clamped to its p-quantile can
   * move at most n − 1 − rank(n, p) of them (⌊n·(1 − p)⌋, docs/reverse-pruning.md), so at pFinal 0.999 a
   * group needs 1000 weights before one can move: per-channel groups of small layers never do. That is
   * the rule working as specified, but a run that asked for reverse pruning should hear about it.
   * (The kSigma rule's thresholds depend on the weights, so its layers are never listed.)
   */
  untrimmableLayers(): UntrimmableLayer[] {
    const out: UntrimmableLayer[] = [];
    for (const l of this.layerList) {
      if (l.rule.rule !== "quantile") continue;
      const p = this.schedule.kind === "constant" ? (this.schedule.p ?? l.pFinal) : l.pFinal;
      if (movable(l.layout.size, p) > 0) continue;
      out.push({
        name: l.name,
        granularity: l.granularity,
        groupSize: l.layout.size,
        p,
        minGroupSize: smallestTrimmableGroup(p),
      });
    }
    return out;
  }

  /** Names of the pruned parameters, in order. */
  get layerNames(): string[] {
    return this.layerList.map((l) => l.name);
  }

  /** The quantile level p_t a layer (default: the first) uses at a step. */
  pAt(step: number, name?: string): number {
    const layer = name === undefined ? this.layerList[0] : this.layerList.find((l) => l.name === name);
    if (!layer) {
      throw new Error(
        `${FN}.pAt: unknown layer '${String(name)}'; pruned: ${this.layerNames.join(", ") || "(none)"}`,
      );
    }
    return pAt(this.schedule, step, layer.pFinal);
  }

  /**
   * Call after the optimizer step `step` (0-based, or whatever counter the λ schedule uses). Projects the
   * weights when `step` is a multiple of `every`; returns whether it did.
   */
  step(step: number): boolean {
    if (!Number.isInteger(step) || step < 0) {
      throw new Error(`${FN}.step: step must be an integer ≥ 0, got ${String(step)}`);
    }
    if (step % this.every !== 0) return false;
    const lambda = trimProgress(this.schedule, step);
    // Every threshold first, every write after: a NaN or a resized weight in the last layer throws
    // before the first layer is touched, so a failed step leaves weights and state as they were.
    for (const layer of this.layerList) this.planLayer(layer, step, lambda);
    for (const layer of this.layerList) this.applyPlan(layer);
    this.lastStep = step;
    return true;
  }

  private planLayer(layer: TrimLayer, step: number, lambda: number): void {
    const t = layer.entry.param.data;
    assertContiguous(FN, layer.name, t);
    const { count, size } = layer.layout;
    if (t.size !== count * size) {
      throw new Error(
        `${FN}: parameter '${layer.name}' changed size to ${t.size} (expected ${count * size})`,
      );
    }
    const p = layer.rule.rule === "quantile" ? pAt(this.schedule, step, layer.pFinal) : 1;
    for (let g = 0; g < count; g++) {
      const s = t.offset + g * size;
      layer.pending[g] = groupThreshold(
        layer.errorPrefix,
        t.data,
        s,
        s + size,
        layer.rule,
        p,
        lambda,
        this.ws,
      );
      // The warm-up (λ = 0) trims nothing, so it has no τ to align: snapping there would clamp FP training.
      if (layer.alignQmax !== null && lambda > 0)
        layer.pending[g] = storableThreshold(alignThresholdPow2(layer.pending[g]!, layer.alignQmax), t.data);
    }
    layer.pendingP = p;
  }

  private applyPlan(layer: TrimLayer): void {
    const t = layer.entry.param.data;
    const { count, size } = layer.layout;
    let moved = 0;
    for (let g = 0; g < count; g++) {
      const s = t.offset + g * size;
      const tau = layer.pending[g]!;
      layer.thresholds[g] = tau;
      const m = projectGroup(t.data, s, s + size, tau, this.mode);
      layer.trimmed[g] = m;
      moved += m;
    }
    layer.p = layer.rule.rule === "quantile" ? layer.pendingP : null;
    layer.trimmedTotal += moved;
    layer.computed = true;
  }

  /** Last thresholds and fraction trimmed per layer. */
  report(): { lastStep: number | null; layers: TrimLayerReport[] } {
    return {
      lastStep: this.lastStep,
      layers: this.layerList.map((l) => {
        const trimmed = l.computed ? sum(l.trimmed) : 0;
        const n = l.layout.count * l.layout.size;
        return {
          name: l.name,
          shape: [...l.entry.param.data.shape],
          granularity: l.granularity,
          rule: l.rule.rule,
          p: l.p,
          thresholds: l.computed ? Array.from(l.thresholds) : [],
          trimmed,
          fractionTrimmed: n === 0 ? 0 : trimmed / n,
          trimmedTotal: l.trimmedTotal,
        };
      }),
    };
  }

  /** JSON-safe snapshot for checkpoint metadata. */
  state(): ReversePrunerState {
    const layers: ReversePrunerState["layers"] = {};
    for (const l of this.layerList) {
      layers[l.name] = {
        p: l.p,
        thresholds: l.computed ? Array.from(l.thresholds) : [],
        trimmed: l.computed ? Array.from(l.trimmed) : [],
        trimmedTotal: l.trimmedTotal,
      };
    }
    return { format: STATE_FORMAT, lastStep: this.lastStep, layers };
  }

  /** Restores a snapshot from `state()` (object or its JSON text); the pruned layers must be the same. */
  loadState(state: ReversePrunerState | string): void {
    const fn = `${FN}.loadState`;
    const st = parseState(fn, state, STATE_FORMAT) as unknown as ReversePrunerState;
    if (st.lastStep !== null && (!Number.isSafeInteger(st.lastStep) || st.lastStep < 0)) {
      throw new Error(`${fn}: lastStep must be null or an integer ≥ 0, got ${String(st.lastStep)}`);
    }
    if (typeof st.layers !== "object" || st.layers === null) {
      throw new Error(`${fn}: layers must be an object keyed by parameter name`);
    }
    const names = Object.keys(st.layers);
    const mine = this.layerNames;
    if (names.length !== mine.length || names.some((n) => !mine.includes(n))) {
      throw new Error(
        `${fn}: state has layers [${names.join(", ")}], this pruner prunes [${mine.join(", ")}]`,
      );
    }
    // Validate everything before changing anything, so a bad state leaves the pruner as it was.
    for (const l of this.layerList) checkLayerState(`${fn}: layer '${l.name}'`, st.layers[l.name], l.layout);
    for (const l of this.layerList) {
      const e = st.layers[l.name]!;
      l.computed = e.thresholds.length > 0;
      l.thresholds.fill(0);
      l.trimmed.fill(0);
      if (l.computed) {
        l.thresholds.set(e.thresholds);
        l.trimmed.set(e.trimmed);
      }
      l.p = e.p;
      l.trimmedTotal = e.trimmedTotal;
    }
    this.lastStep = st.lastStep;
  }
}

/** One layer's entry of a snapshot: counts bounded by the group size, thresholds finite and ≥ 0. */
function checkLayerState(where: string, e: unknown, layout: GroupLayout): void {
  if (typeof e !== "object" || e === null) throw new Error(`${where} must be an object, got ${String(e)}`);
  const { p, thresholds, trimmed, trimmedTotal } = e as Record<string, unknown>;
  if (p !== null && !(typeof p === "number" && p > 0 && p <= 1)) {
    throw new Error(`${where}: p must be null or a number in (0, 1], got ${String(p)}`);
  }
  if (!Array.isArray(thresholds) || !Array.isArray(trimmed)) {
    throw new Error(`${where}: thresholds and trimmed must be arrays`);
  }
  const n = thresholds.length;
  if ((n !== 0 && n !== layout.count) || trimmed.length !== n) {
    throw new Error(
      `${where}: needs ${layout.count} thresholds and as many trimmed counts (or none), got ${n} and ${trimmed.length}`,
    );
  }
  const badTau = thresholds.findIndex((x) => typeof x !== "number" || !Number.isFinite(x) || x < 0);
  if (badTau >= 0) {
    throw new Error(
      `${where}: thresholds[${badTau}] must be a finite number ≥ 0, got ${String(thresholds[badTau])}`,
    );
  }
  const badCount = trimmed.findIndex((x) => !Number.isInteger(x) || x < 0 || x > layout.size);
  if (badCount >= 0) {
    throw new Error(
      `${where}: trimmed[${badCount}] must be an integer in [0, ${layout.size}] (the group size), got ${String(trimmed[badCount])}`,
    );
  }
  if (!Number.isSafeInteger(trimmedTotal) || (trimmedTotal as number) < 0) {
    throw new Error(`${where}: trimmedTotal must be an integer ≥ 0, got ${String(trimmedTotal)}`);
  }
}

/** How many of a group's n weights can lie above its p-quantile: the most one projection moves. */
function movable(n: number, p: number): number {
  return n === 0 ? 0 : n - 1 - quantileRank(n, p);
}

function smallestTrimmableGroup(p: number): number | null {
  if (p >= 1) return null;
  // ⌈1/(1 − p)⌉ is where ⌊n·(1 − p)⌋ first reaches 1; the rank's rounding slack can shift that by one.
  let n = Math.max(2, Math.floor(1 / (1 - p)) - 1);
  while (movable(n, p) === 0) n++;
  return n;
}

function untrimmableMessage(layers: UntrimmableLayer[], total: number): string {
  const what = layers
    .map(
      (l) =>
        `'${l.name}' (${l.granularity} groups of ${l.groupSize} weights at p ${l.p}${l.minGroupSize === null ? ", which keeps every weight" : `; a group needs ${l.minGroupSize}`})`,
    )
    .join(", ");
  const scope = layers.length === total ? "any of its layers" : `${layers.length} of its ${total} layers`;
  return `${FN}: reverse pruning can never trim ${scope}: ${what}`;
}

function sum(a: Int32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}
