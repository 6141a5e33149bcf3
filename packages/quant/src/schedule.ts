/**
 * The blend coefficient λ_t of progressive fake quantization, `x̃ = x + λ_t · stopgrad(x̂ − x)`, as a
 * function of the optimizer step t (0-based) over a run of T = `totalSteps` steps.
 *
 * `quant-trim` (the method's curriculum; shape from the paper, constants are this project's defaults):
 *
 *   λ = 0                                              t < Tw = warmup·T       (FP32 warm-up)
 *   λ = handover · ((t − Tw) / (T1 − Tw))^4            Tw ≤ t < T1 = quarticEnd·T
 *   λ = handover + (1 − handover) · ((t − T1) / (T2 − T1))^2   T1 ≤ t < T2 = rampEnd·T
 *   λ = 1                                              t ≥ T2
 *
 * `constant` (value 1 is plain QAT from the first step) and `linear` (0 before start·T, a straight
 * ramp to 1 at end·T) serve as baselines and ablations. Every schedule is continuous and
 * non-decreasing in t, exactly 0 before its ramp starts and exactly 1 once it ends.
 */

export interface QuantTrimScheduleOptions {
  readonly kind: "quant-trim";
  readonly totalSteps: number;
  /** End of the FP32 warm-up, as a fraction of totalSteps. Default 0.2. */
  readonly warmup?: number;
  /** End of the gentle quartic ramp. Default 0.5. */
  readonly quarticEnd?: number;
  /** Where λ reaches 1. Default 0.8. */
  readonly rampEnd?: number;
  /** λ at the end of the quartic ramp. Default 0.25. */
  readonly handover?: number;
}

export interface ConstantScheduleOptions {
  readonly kind: "constant";
  readonly value: number;
}

export interface LinearScheduleOptions {
  readonly kind: "linear";
  readonly totalSteps: number;
  /** Fraction of totalSteps where the ramp starts. Default 0. */
  readonly start?: number;
  /** Fraction of totalSteps where λ reaches 1. Default 1. */
  readonly end?: number;
}

export type LambdaScheduleOptions =
  | QuantTrimScheduleOptions
  | ConstantScheduleOptions
  | LinearScheduleOptions;

/** Options with every default filled in (what `options` returns; JSON for checkpoint metadata). */
export type ResolvedScheduleOptions =
  | Required<QuantTrimScheduleOptions>
  | Required<ConstantScheduleOptions>
  | Required<LinearScheduleOptions>;

export type LambdaPhase = "warmup" | "quartic" | "quadratic" | "linear" | "constant" | "full";

const FIELDS: Record<LambdaScheduleOptions["kind"], readonly string[]> = {
  "quant-trim": ["kind", "totalSteps", "warmup", "quarticEnd", "rampEnd", "handover"],
  constant: ["kind", "value"],
  linear: ["kind", "totalSteps", "start", "end"],
};

export class LambdaSchedule {
  readonly options: Readonly<ResolvedScheduleOptions>;

  constructor(options: LambdaScheduleOptions) {
    this.options = Object.freeze(resolve(options));
  }

  /** λ at optimizer step `step` (any finite number; steps before 0 count as before the ramp). */
  at(step: number): number {
    const o = this.options;
    if (typeof step !== "number" || !Number.isFinite(step)) {
      throw new Error(`LambdaSchedule.at: step must be a finite number, got ${String(step)}`);
    }
    if (o.kind === "constant") return o.value;
    const T = o.totalSteps;
    if (o.kind === "linear") {
      const t0 = o.start * T;
      const t1 = o.end * T;
      if (step < t0) return 0;
      if (step >= t1) return 1;
      return Math.min(1, (step - t0) / (t1 - t0));
    }
    const tw = o.warmup * T;
    const t1 = o.quarticEnd * T;
    const t2 = o.rampEnd * T;
    if (step < tw) return 0;
    if (step < t1) {
      const u = (step - tw) / (t1 - tw);
      return o.handover * (u * u * u * u);
    }
    if (step < t2) {
      const u = (step - t1) / (t2 - t1);
      return Math.min(1, o.handover + (1 - o.handover) * (u * u));
    }
    return 1;
  }

  /** Which part of the curriculum `step` falls in ("full" once λ = 1 for good). */
  phase(step: number): LambdaPhase {
    this.at(step); // validates step
    const o = this.options;
    if (o.kind === "constant") return o.value === 1 ? "full" : "constant";
    if (step >= this.firstFullStep) return "full";
    if (o.kind === "linear") return step < o.start * o.totalSteps ? "warmup" : "linear";
    if (step < o.warmup * o.totalSteps) return "warmup";
    return step < o.quarticEnd * o.totalSteps ? "quartic" : "quadratic";
  }

  /** The first integer step at which λ is 1 (Infinity for a constant schedule below 1). */
  get firstFullStep(): number {
    const o = this.options;
    if (o.kind === "constant") return o.value === 1 ? 0 : Infinity;
    if (o.kind === "linear") return Math.ceil(o.end * o.totalSteps);
    // With handover = 1 the quartic ramp itself ends at λ = 1 and the quadratic phase stays there.
    return Math.ceil((o.handover === 1 ? o.quarticEnd : o.rampEnd) * o.totalSteps);
  }

  toJSON(): ResolvedScheduleOptions {
    return { ...this.options };
  }
}

function resolve(options: LambdaScheduleOptions): ResolvedScheduleOptions {
  const fn = "LambdaSchedule";
  if (options === null || typeof options !== "object") {
    throw new Error(`${fn}: options must be an object with a 'kind', got ${String(options)}`);
  }
  const kind = options.kind;
  const allowed = FIELDS[kind as LambdaScheduleOptions["kind"]];
  if (allowed === undefined) {
    throw new Error(`${fn}: kind must be 'quant-trim', 'constant' or 'linear', got ${JSON.stringify(kind)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new Error(`${fn}: unknown option '${key}' for kind '${kind}'; allowed: ${allowed.join(", ")}`);
    }
  }
  if (options.kind === "constant") {
    return { kind: "constant", value: fraction(fn, "value", options.value, undefined) };
  }
  const totalSteps = options.totalSteps;
  if (!Number.isInteger(totalSteps) || totalSteps <= 0) {
    throw new Error(`${fn}: totalSteps must be a positive integer, got ${String(totalSteps)}`);
  }
  if (options.kind === "linear") {
    const start = fraction(fn, "start", options.start, 0);
    const end = fraction(fn, "end", options.end, 1);
    if (!(start < end)) throw new Error(`${fn}: linear start (${start}) must be below end (${end})`);
    return { kind: "linear", totalSteps, start, end };
  }
  const warmup = fraction(fn, "warmup", options.warmup, 0.2);
  const quarticEnd = fraction(fn, "quarticEnd", options.quarticEnd, 0.5);
  const rampEnd = fraction(fn, "rampEnd", options.rampEnd, 0.8);
  const handover = fraction(fn, "handover", options.handover, 0.25);
  if (!(warmup <= quarticEnd && quarticEnd <= rampEnd)) {
    throw new Error(
      `${fn}: fractions must be ordered warmup ≤ quarticEnd ≤ rampEnd, got ${warmup}, ${quarticEnd}, ${rampEnd}`,
    );
  }
  // An empty phase would make λ jump; it is allowed only when the phase has nothing to climb.
  if (handover > 0 && !(warmup < quarticEnd)) {
    throw new Error(`${fn}: warmup (${warmup}) must be below quarticEnd (${quarticEnd}) when handover > 0`);
  }
  if (handover < 1 && !(quarticEnd < rampEnd)) {
    throw new Error(`${fn}: quarticEnd (${quarticEnd}) must be below rampEnd (${rampEnd}) when handover < 1`);
  }
  return { kind: "quant-trim", totalSteps, warmup, quarticEnd, rampEnd, handover };
}

function fraction(fn: string, name: string, value: number | undefined, fallback: number | undefined): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new Error(`${fn}: ${name} must be a number in [0, 1], got ${String(value)}`);
  }
  return value;
}
