import type { TypedData } from "@quant-trim/tensor";
import {
  checkHyperparameter,
  checkHyperparameterKeys,
  Optimizer,
  type OptimizerOptions,
  type ParamLike,
} from "./optimizer.js";

// A type alias, not an interface, so that it fits the base class's record of JSON values.
export type AdamHyperparameters = {
  /** (β1, β2): decay rates of the first and second moment estimates, each in [0, 1). */
  readonly betas: readonly [number, number];
  /** ε: added to √v̂ to keep the step finite. */
  readonly eps: number;
  /** λ: L2 penalty added to the gradient (Adam) or decoupled shrinkage of the weights (AdamW). */
  readonly weightDecay: number;
};

export interface AdamOptions extends OptimizerOptions, Partial<AdamHyperparameters> {}

const ADAM_KEYS = ["betas", "eps", "weightDecay"] as const;

/**
 * The update shared by Adam and AdamW; they differ only in how weight decay enters. Moments live in
 * buffers of the parameter's dtype (`exp_avg.<i>`, `exp_avg_sq.<i>`); the arithmetic runs in float64 locals.
 * The bias-correction step t counts the steps in which that parameter had a gradient.
 */
abstract class AdamFamily extends Optimizer {
  private hp: AdamHyperparameters;
  /** true: θ ← θ − lr·λ·θ before the update (AdamW); false: g ← g + λ·θ (Adam). */
  private readonly decoupled: boolean;

  protected constructor(
    kind: string,
    params: Iterable<ParamLike>,
    options: AdamOptions,
    weightDecayDefault: number,
    decoupled: boolean,
  ) {
    super(kind, params, options, 1e-3, ["exp_avg", "exp_avg_sq"]);
    this.decoupled = decoupled;
    this.hp = resolveAdamHyperparameters(kind, {
      betas: options.betas ?? [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? weightDecayDefault,
    });
  }

  get hyperparameters(): AdamHyperparameters {
    return {
      betas: [this.hp.betas[0], this.hp.betas[1]],
      eps: this.hp.eps,
      weightDecay: this.hp.weightDecay,
    };
  }

  protected override usesBuffers(): boolean {
    return true;
  }

  protected override loadHyperparameters(raw: Readonly<Record<string, unknown>>): void {
    const where = `${this.kind}.loadState`;
    checkHyperparameterKeys(where, raw, ADAM_KEYS);
    this.hp = resolveAdamHyperparameters(where, raw);
  }

  protected override updateParam(
    index: number,
    values: TypedData,
    offset: number,
    n: number,
    grad: TypedData,
    gradOffset: number,
  ): void {
    const lr = this.lr;
    const [beta1, beta2] = this.hp.betas;
    const eps = this.hp.eps;
    const wd = this.decays[index] ? this.hp.weightDecay : 0;
    const l2 = this.decoupled ? 0 : wd;
    const shrink = this.decoupled ? 1 - lr * wd : 1;
    const t = this.paramSteps[index];
    const correction1 = 1 - beta1 ** t;
    const correction2 = 1 - beta2 ** t;
    const m = this.bufferFor("exp_avg", index, n);
    const v = this.bufferFor("exp_avg_sq", index, n);
    for (let k = 0; k < n; k++) {
      const x = values[offset + k];
      const g = grad[gradOffset + k] + l2 * x;
      const mk = beta1 * m[k] + (1 - beta1) * g;
      const vk = beta2 * v[k] + (1 - beta2) * g * g;
      m[k] = mk;
      v[k] = vk;
      values[offset + k] = shrink * x - (lr * (mk / correction1)) / (Math.sqrt(vk / correction2) + eps);
    }
  }
}

/**
 * Adam with L2 weight decay folded into the gradient, following the update PyTorch documents for
 * torch.optim.Adam. For each parameter θ with gradient g, at its step t:
 *
 *   g ← g + λ·θ
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   m̂ = m / (1 − β1^t),      v̂ = v / (1 − β2^t)
 *   θ ← θ − lr·m̂ / (√v̂ + ε)
 *
 * Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.
 */
export class Adam extends AdamFamily {
  constructor(params: Iterable<ParamLike>, options: AdamOptions = {}) {
    super("Adam", params, options, 0, false);
  }
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter), following torch.optim.AdamW: the weights shrink
 * by θ ← θ − lr·λ·θ, then take the Adam step computed from the raw gradient. Because the decay bypasses
 * the √v̂ normalisation, every weight decays at the same relative rate whatever its gradient scale.
 *
 * Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 1e-2.
 */
export class AdamW extends AdamFamily {
  constructor(params: Iterable<ParamLike>, options: AdamOptions = {}) {
    super("AdamW", params, options, 1e-2, true);
  }
}

function resolveAdamHyperparameters(
  where: string,
  raw: Readonly<Record<string, unknown>>,
): AdamHyperparameters {
  const betas = raw.betas;
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new Error(`${where}: betas must be a pair [beta1, beta2], got ${JSON.stringify(betas)}`);
  }
  const inUnit = (v: number): boolean => v >= 0 && v < 1;
  const beta1 = checkHyperparameter(where, "betas[0] (beta1)", betas[0], inUnit, "in [0, 1)");
  const beta2 = checkHyperparameter(where, "betas[1] (beta2)", betas[1], inUnit, "in [0, 1)");
  const eps = checkHyperparameter(where, "eps", raw.eps, (v) => v > 0, "> 0");
  const weightDecay = checkHyperparameter(where, "weightDecay", raw.weightDecay, (v) => v >= 0, ">= 0");
  return { betas: [beta1, beta2], eps, weightDecay };
}
