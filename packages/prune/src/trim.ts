import type { Granularity } from "@quant-trim/quant";
import type { Tensor, TypedData } from "@quant-trim/tensor";
import {
  assertContiguous,
  clampGroup,
  groupLayout,
  storableThreshold,
  type TrimMode,
  zeroTailGroup,
} from "./project.js";
import { checkKeys } from "./schedule.js";
import {
  absQuantile,
  checkK,
  checkP,
  kSigmaThreshold,
  maxAbs,
  type QuantileMethod,
  type QuantileOptions,
  robustKSigmaThreshold,
  ThresholdWorkspace,
} from "./thresholds.js";

/** How τ is chosen for a group. */
export type ThresholdRule =
  /** τ = quantile(|w|, p_t) (the default). */
  | ({ rule: "quantile" } & QuantileOptions)
  /** τ = k·std, or |median| + k·1.4826·MAD when `robust`. */
  | { rule: "kSigma"; k: number; robust?: boolean };

const QUANTILE_METHODS: readonly QuantileMethod[] = ["auto", "exact", "histogram"];

/** Checks a rule's fields (unknown keys included) and returns it with nothing else attached. */
export function checkRule(fn: string, rule: unknown): ThresholdRule {
  if (rule === undefined) return { rule: "quantile" };
  if (typeof rule !== "object" || rule === null) {
    throw new Error(
      `${fn}: rule must be {rule: "quantile", ...} or {rule: "kSigma", k, robust?}, got ${String(rule)}`,
    );
  }
  const r = rule as Record<string, unknown>;
  if (r.rule === "quantile") {
    checkKeys(fn, "quantile rule", r, ["rule", "method", "exactLimit", "bins"]);
    if (r.method !== undefined && !QUANTILE_METHODS.includes(r.method as QuantileMethod)) {
      throw new Error(
        `${fn}: quantile method must be "auto", "exact" or "histogram", got ${JSON.stringify(r.method)}`,
      );
    }
    for (const key of ["exactLimit", "bins"] as const) {
      const v = r[key];
      if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1)) {
        throw new Error(`${fn}: quantile ${key} must be an integer ≥ 1, got ${String(v)}`);
      }
    }
    return { ...(r as ThresholdRule) };
  }
  if (r.rule === "kSigma") {
    checkKeys(fn, "kSigma rule", r, ["rule", "k", "robust"]);
    checkK(fn, r.k as number);
    if (r.robust !== undefined && typeof r.robust !== "boolean") {
      throw new Error(`${fn}: kSigma robust must be a boolean, got ${String(r.robust)}`);
    }
    return { rule: "kSigma", k: r.k as number, robust: r.robust === true };
  }
  throw new Error(`${fn}: unknown threshold rule ${JSON.stringify(r.rule)}; expected "quantile" or "kSigma"`);
}

/**
 * τ for the group `data[start, end)` at trimming strength λ ∈ [0, 1] (quantile rule: at p, which the
 * schedule has already derived from λ). The kSigma rule has no p, so its strength moves τ linearly from
 * max|w| (λ = 0, nothing trimmed) to the rule's k·σ bound (λ = 1). The result is storable in the buffer
 * (float32 buffers: rounded down to a float32), and never exceeds max|w|.
 */
export function groupThreshold(
  fn: string,
  data: TypedData,
  start: number,
  end: number,
  rule: ThresholdRule,
  p: number,
  lambda: number,
  ws: ThresholdWorkspace,
): number {
  let tau: number;
  if (rule.rule === "quantile") {
    tau = absQuantile(fn, data, start, end, p, ws, rule);
  } else {
    const max = maxAbs(fn, data, start, end);
    if (lambda === 0) {
      tau = max; // the FP warm-up: skip the bound's selections
    } else {
      const bound = rule.robust
        ? robustKSigmaThreshold(data, start, end, rule.k, ws)
        : kSigmaThreshold(data, start, end, rule.k);
      tau = bound >= max ? max : max - lambda * (max - bound);
    }
  }
  return storableThreshold(tau, data);
}

/** Projects the group onto [−τ, τ] (clamp) or zeroes what lies outside (mask); returns the count moved. */
export function projectGroup(
  data: TypedData,
  start: number,
  end: number,
  tau: number,
  mode: TrimMode,
): number {
  return mode === "clamp" ? clampGroup(data, start, end, tau) : zeroTailGroup(data, start, end, tau);
}

export interface TrimOptions {
  /** Quantile level (quantile rule); required for it, ignored by kSigma. */
  p?: number;
  rule?: ThresholdRule;
  granularity?: Granularity;
  mode?: TrimMode;
}

export interface TrimResult {
  /** τ per group (one for per-tensor, one per output channel for per-channel). */
  thresholds: Float64Array;
  /** Elements moved per group. */
  trimmed: Int32Array;
  /** Elements moved in total. */
  trimmedTotal: number;
}

/**
 * One reverse-pruning projection of a weight tensor, in place, at full strength: the building block of
 * `ReversePruner`, usable on its own (e.g. to trim a trained FP checkpoint before export).
 */
export function trimWeights(weight: Tensor, options: TrimOptions = {}): TrimResult {
  const fn = "trimWeights";
  checkKeys(fn, "trim", options, ["p", "rule", "granularity", "mode"]);
  const rule = checkRule(fn, options.rule);
  const granularity = options.granularity ?? "per-tensor";
  if (granularity !== "per-tensor" && granularity !== "per-channel") {
    throw new Error(
      `${fn}: granularity must be "per-tensor" or "per-channel", got ${JSON.stringify(granularity)}`,
    );
  }
  const mode = options.mode ?? "clamp";
  if (mode !== "clamp" && mode !== "mask") {
    throw new Error(`${fn}: mode must be "clamp" or "mask", got ${JSON.stringify(mode)}`);
  }
  let p = 1;
  if (rule.rule === "quantile") {
    if (options.p === undefined) throw new Error(`${fn}: the quantile rule needs p in (0, 1]`);
    checkP(fn, options.p);
    p = options.p;
  }
  assertContiguous(fn, "weight", weight);
  const { count, size } = groupLayout(weight.shape, granularity);
  const thresholds = new Float64Array(count);
  const trimmed = new Int32Array(count);
  const ws = new ThresholdWorkspace();
  const buf = weight.data;
  let total = 0;
  for (let g = 0; g < count; g++) {
    const s = weight.offset + g * size;
    const tau = groupThreshold(fn, buf, s, s + size, rule, p, 1, ws);
    thresholds[g] = tau;
    const moved = projectGroup(buf, s, s + size, tau, mode);
    trimmed[g] = moved;
    total += moved;
  }
  return { thresholds, trimmed, trimmedTotal: total };
}
