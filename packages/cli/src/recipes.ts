import type { Module } from "@quant-trim/autograd";
import { defaultPFinal, ReversePruner } from "@quant-trim/prune";
import { type GridSpec, gridSpec, LambdaSchedule, prepareQat, type QatModel } from "@quant-trim/quant";

export const recipeNames = ["fp", "qat", "pfq", "rp", "quant-trim"] as const;
export type RecipeName = (typeof recipeNames)[number];

export function isRecipe(s: string): s is RecipeName {
  return (recipeNames as readonly string[]).includes(s);
}

export interface RecipeConfig {
  recipe: RecipeName;
  /** Weight bit width the recipe trains for (fake-quant grids and reverse-pruning pFinal). */
  bits: 4 | 8;
  /** Weight granularity of the training grid. */
  granularity: "per-tensor" | "per-channel";
  totalSteps: number;
  inputShape: readonly number[];
  /** λ-curriculum fractions [ours]; defaults as in docs/quant-trim.md. */
  warmup?: number;
  quarticEnd?: number;
  rampEnd?: number;
  handover?: number;
  /** Reverse-pruning final quantile; default 0.99 at INT4, 0.999 at INT8. */
  pFinal?: number;
  /**
   * Mask the straight-through gradient outside the grid's range (PyTorch's fake-quant behaviour).
   * Default: on for `qat` (the baseline as practitioners run it), off for `pfq` and `quant-trim` (the
   * blend formula x + λ·stopgrad(x̂ − x) passes the gradient everywhere).
   */
  clipMask?: boolean;
}

/** What a recipe adds to plain training: per-step hooks, and the handles for reports. */
export interface AppliedRecipe {
  name: RecipeName;
  qat: QatModel | null;
  pruner: ReversePruner | null;
  lambda: LambdaSchedule | null;
  /** Reverse pruning's final quantile level (null without reverse pruning). */
  pFinal: number | null;
  /** The step at whose start activation observers and BN statistics freeze (fake-quant recipes). */
  freezeStep: number;
  beforeStep(step: number): void;
  afterStep(step: number): void;
  /** JSON-able settings, for checkpoint metadata. */
  settings: Record<string, unknown>;
}

export function trainingGrids(
  bits: 4 | 8,
  granularity: "per-tensor" | "per-channel",
): { weight: GridSpec; activation: GridSpec } {
  return {
    weight: gridSpec({ bits, signed: true, symmetric: true, granularity, axis: 0 }),
    // Activations stay at 8 bits (W4A8 / W8A8): the low-bit question of the method is the weights'.
    activation: gridSpec({ bits: 8, signed: true, symmetric: false, granularity: "per-tensor" }),
  };
}

/**
 * The five recipes of the experiment, all on the same model, data, epochs and optimizer:
 * - fp: plain FP32 training.
 * - qat: fake quantization at λ = 1 from the first step, fixed grid, no reverse pruning, PyTorch's
 *   masked straight-through gradient; activation observers and BN statistics freeze at the same step as
 *   quant-trim's (the first step at which its λ is 1, ⌈rampEnd·T⌉) for a fair budget.
 * - pfq: progressive fake quantization only (λ curriculum).
 * - rp: reverse pruning only, on the same clock (FP training otherwise).
 * - quant-trim: PFQ + RP.
 */
export function applyRecipe(model: Module, cfg: RecipeConfig): AppliedRecipe {
  const { weight, activation } = trainingGrids(cfg.bits, cfg.granularity);
  const curriculum = new LambdaSchedule({
    kind: "quant-trim",
    totalSteps: cfg.totalSteps,
    warmup: cfg.warmup ?? 0.2,
    quarticEnd: cfg.quarticEnd ?? 0.5,
    rampEnd: cfg.rampEnd ?? 0.8,
    handover: cfg.handover ?? 0.25,
  });
  // Freeze where the curriculum's λ first equals 1 (⌈rampEnd·T⌉; ⌊·⌋ would freeze a step early), and
  // never at step 0: a freeze before any forward pass leaves the observers with empty ranges (T = 1).
  const freezeStep = Math.max(1, curriculum.firstFullStep);
  const usesFakeQuant = cfg.recipe === "qat" || cfg.recipe === "pfq" || cfg.recipe === "quant-trim";
  const usesRp = cfg.recipe === "rp" || cfg.recipe === "quant-trim";
  const clipMask = cfg.clipMask ?? cfg.recipe === "qat";
  const qat = usesFakeQuant
    ? prepareQat(model, { inputShape: cfg.inputShape, weight, activation, clipMask })
    : null;
  const lambda =
    cfg.recipe === "qat"
      ? new LambdaSchedule({ kind: "constant", value: 1 })
      : usesFakeQuant || usesRp
        ? curriculum
        : null;
  const pFinal = usesRp ? (cfg.pFinal ?? defaultPFinal(cfg.bits)) : null;
  const pruner =
    pFinal !== null
      ? new ReversePruner(
          model.namedParameters().map(([name, param]) => ({ name, param })),
          { grid: weight, schedule: curriculum, pFinal },
        )
      : null;
  return {
    name: cfg.recipe,
    qat,
    pruner,
    lambda,
    pFinal,
    freezeStep,
    beforeStep(step) {
      if (!qat || !lambda) return;
      qat.setLambda(lambda.at(step));
      if (step === freezeStep) {
        qat.freezeObservers();
        qat.freezeBatchNormStats();
      }
    },
    afterStep(step) {
      pruner?.step(step);
    },
    settings: {
      recipe: cfg.recipe,
      bits: cfg.bits,
      granularity: cfg.granularity,
      clipMask,
      lambda: lambda ? lambda.options : null,
      reversePruning: pruner ? { pFinal, rule: "quantile", mode: "clamp" } : null,
      weightGrid: weight,
      activationGrid: activation,
    },
  };
}
