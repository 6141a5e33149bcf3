import type { TypedData } from "@quant-trim/tensor";
import {
  checkHyperparameter,
  checkHyperparameterKeys,
  Optimizer,
  type OptimizerOptions,
  type ParamLike,
} from "./optimizer.js";

// A type alias, not an interface, so that it fits the base class's record of JSON values.
export type SgdHyperparameters = {
  /** μ: weight of the previous momentum buffer; 0 turns momentum off. */
  readonly momentum: number;
  /** τ: the new gradient enters the momentum buffer scaled by 1 − τ (not on the buffer's first step). */
  readonly dampening: number;
  /** λ: L2 penalty, added to the gradient as λ·θ. */
  readonly weightDecay: number;
  /** Step along g + μ·b instead of b. */
  readonly nesterov: boolean;
};

export interface SgdOptions extends OptimizerOptions, Partial<SgdHyperparameters> {}

const SGD_KEYS = ["momentum", "dampening", "weightDecay", "nesterov"] as const;

/**
 * Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay,
 * following the update PyTorch documents for torch.optim.SGD. For each parameter θ with gradient g:
 *
 *   g ← g + λ·θ
 *   b ← g on the parameter's first step, else μ·b + (1 − τ)·g     (only when μ ≠ 0)
 *   g ← g + μ·b if Nesterov, else b                                 (only when μ ≠ 0)
 *   θ ← θ − lr·g
 *
 * Defaults: lr 1e-3, μ = τ = λ = 0, Nesterov off. The momentum buffer is exported as `momentum_buffer.<i>`.
 */
export class SGD extends Optimizer {
  private hp: SgdHyperparameters;
  private readonly momentumBuffers: (TypedData | null)[];

  constructor(params: Iterable<ParamLike>, options: SgdOptions = {}) {
    super("SGD", params, options, 1e-3, ["momentum_buffer"]);
    this.hp = resolveSgdHyperparameters("SGD", {
      momentum: options.momentum ?? 0,
      dampening: options.dampening ?? 0,
      weightDecay: options.weightDecay ?? 0,
      nesterov: options.nesterov ?? false,
    });
    this.momentumBuffers = this.buffers.momentum_buffer;
  }

  get hyperparameters(): SgdHyperparameters {
    return { ...this.hp };
  }

  protected override usesBuffers(): boolean {
    return this.hp.momentum !== 0;
  }

  protected override loadHyperparameters(raw: Readonly<Record<string, unknown>>): void {
    checkHyperparameterKeys("SGD.loadState", raw, SGD_KEYS);
    this.hp = resolveSgdHyperparameters("SGD.loadState", raw);
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
    const { momentum, dampening, nesterov } = this.hp;
    const wd = this.decays[index] ? this.hp.weightDecay : 0;
    if (momentum === 0) {
      for (let k = 0; k < n; k++) {
        const x = values[offset + k];
        values[offset + k] = x - lr * (grad[gradOffset + k] + wd * x);
      }
      return;
    }
    const first = this.momentumBuffers[index] === null;
    const buf = this.bufferFor("momentum_buffer", index, n);
    const keep = 1 - dampening;
    for (let k = 0; k < n; k++) {
      const x = values[offset + k];
      const g = grad[gradOffset + k] + wd * x;
      const b = first ? g : momentum * buf[k] + keep * g;
      buf[k] = b;
      values[offset + k] = x - lr * (nesterov ? g + momentum * b : b);
    }
  }
}

function resolveSgdHyperparameters(
  where: string,
  raw: Readonly<Record<string, unknown>>,
): SgdHyperparameters {
  const momentum = checkHyperparameter(where, "momentum", raw.momentum, (v) => v >= 0, ">= 0");
  const dampening = checkHyperparameter(
    where,
    "dampening",
    raw.dampening,
    (v) => v >= 0 && v <= 1,
    "in [0, 1]",
  );
  const weightDecay = checkHyperparameter(where, "weightDecay", raw.weightDecay, (v) => v >= 0, ">= 0");
  const nesterov = raw.nesterov;
  if (typeof nesterov !== "boolean")
    throw new Error(`${where}: nesterov must be a boolean, got ${String(nesterov)}`);
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new Error(
      `${where}: nesterov requires momentum > 0 and dampening 0, got momentum ${momentum}, dampening ${dampening}`,
    );
  }
  return { momentum, dampening, weightDecay, nesterov };
}
