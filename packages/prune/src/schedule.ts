/**
 * When and how hard reverse pruning trims. A schedule yields a progress λ_t ∈ [0, 1]; the quantile rule
 * trims at p_t = 1 − λ_t·(1 − pFinal), so p is 1.0 (nothing trimmed) while λ = 0 and reaches pFinal when
 * λ reaches 1. Passing the very LambdaSchedule that drives progressive fake quantization makes both
 * components run on one clock: trimming starts when the FP warm-up ends and is at full strength when fake
 * quantization is.
 */

/** Anything with `at(step) → λ ∈ [0, 1]`, such as `LambdaSchedule` from `@quant-trim/quant`. */
export interface LambdaLike {
  at(step: number): number;
}

export type TrimSchedule =
  /** Follow a λ curriculum (share the fake-quantization clock). */
  | { kind: "lambda"; lambda: LambdaLike }
  /** Ablation: λ rises linearly from 0 at `startStep` to 1 at `endStep`. */
  | { kind: "linear"; startStep: number; endStep: number }
  /** Ablation: full strength from the first step; `p` (quantile rule only) replaces pFinal. */
  | { kind: "constant"; p?: number };

/** p for INT4-and-below grids and for wider ones, when pFinal is not given. */
export const DEFAULT_P_FINAL_INT4 = 0.99;
export const DEFAULT_P_FINAL_INT8 = 0.999;

/** pFinal by the weight grid's bit width: 0.99 for ≤ 4 bits, 0.999 otherwise (and with no grid). */
export function defaultPFinal(bits?: number): number {
  return bits !== undefined && bits <= 4 ? DEFAULT_P_FINAL_INT4 : DEFAULT_P_FINAL_INT8;
}

/** Accepts a TrimSchedule or a bare LambdaLike; throws with the reason on anything else. */
export function normalizeSchedule(fn: string, s: unknown): TrimSchedule {
  if (s === undefined) return { kind: "constant" };
  if (typeof s !== "object" || s === null) {
    throw new Error(`${fn}: schedule must be a TrimSchedule or an object with at(step), got ${String(s)}`);
  }
  const obj = s as Record<string, unknown>;
  if (typeof obj.at === "function" && obj.kind !== "lambda")
    return { kind: "lambda", lambda: s as LambdaLike };
  switch (obj.kind) {
    case "lambda": {
      checkKeys(fn, "schedule", obj, ["kind", "lambda"]);
      const lam = obj.lambda as { at?: unknown } | undefined;
      if (!lam || typeof lam.at !== "function") {
        throw new Error(`${fn}: schedule {kind: "lambda"} needs 'lambda' with a method at(step)`);
      }
      return { kind: "lambda", lambda: lam as LambdaLike };
    }
    case "linear": {
      checkKeys(fn, "schedule", obj, ["kind", "startStep", "endStep"]);
      const { startStep, endStep } = obj;
      if (
        !Number.isInteger(startStep) ||
        !Number.isInteger(endStep) ||
        (startStep as number) < 0 ||
        (endStep as number) <= (startStep as number)
      ) {
        throw new Error(
          `${fn}: linear schedule needs integer steps 0 ≤ startStep < endStep, got startStep=${String(startStep)}, endStep=${String(endStep)}`,
        );
      }
      return { kind: "linear", startStep: startStep as number, endStep: endStep as number };
    }
    case "constant": {
      checkKeys(fn, "schedule", obj, ["kind", "p"]);
      if (obj.p !== undefined && (typeof obj.p !== "number" || !(obj.p > 0 && obj.p <= 1))) {
        throw new Error(`${fn}: constant schedule p must be a number in (0, 1], got ${String(obj.p)}`);
      }
      return obj.p === undefined ? { kind: "constant" } : { kind: "constant", p: obj.p as number };
    }
    default:
      throw new Error(
        `${fn}: unknown schedule kind ${JSON.stringify(obj.kind)}; expected "lambda", "linear" or "constant" (or an object with at(step))`,
      );
  }
}

/** λ_t of the schedule at an optimizer step, checked to lie in [0, 1]. */
export function trimProgress(schedule: TrimSchedule, step: number): number {
  let lam: number;
  switch (schedule.kind) {
    case "constant":
      return 1;
    case "linear": {
      const { startStep, endStep } = schedule;
      lam = step <= startStep ? 0 : step >= endStep ? 1 : (step - startStep) / (endStep - startStep);
      break;
    }
    case "lambda":
      lam = schedule.lambda.at(step);
      break;
  }
  if (typeof lam !== "number" || !(lam >= 0 && lam <= 1)) {
    throw new Error(`trimProgress: the λ schedule returned ${String(lam)} at step ${step}; expected [0, 1]`);
  }
  return lam;
}

/** p_t = 1 − λ_t·(1 − pFinal) for the quantile rule; a constant schedule's own p wins over pFinal. */
export function pAt(schedule: TrimSchedule, step: number, pFinal: number): number {
  if (schedule.kind === "constant") return schedule.p ?? pFinal;
  const lam = trimProgress(schedule, step);
  // The end points exactly, free of the rounding in 1 − (1 − pFinal).
  if (lam === 0) return 1;
  if (lam === 1) return pFinal;
  return 1 - lam * (1 - pFinal);
}

/** Throws naming every key of `obj` that is not in `allowed`. */
export function checkKeys(fn: string, what: string, obj: object, allowed: readonly string[]): void {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `${fn}: unknown ${what} option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")}; expected one of ${allowed.join(", ")}`,
    );
  }
}
