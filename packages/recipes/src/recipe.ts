import type { Module } from "@quant-trim/autograd";
import { defaultPFinal, ReversePruner, type UntrimmableLayer } from "@quant-trim/prune";
import {
  type GridSpec,
  int4SymmetricPerChannel,
  int4SymmetricPerTensor,
  int8AsymmetricPerTensor,
  int8SymmetricPerChannel,
  int8SymmetricPerTensor,
  LambdaSchedule,
  type LambdaScheduleOptions,
  prepareQat,
  type QatModel,
} from "@quant-trim/quant";
import { Rng } from "@quant-trim/tensor";
import type { StepHooks } from "./train/trainer.js";
import { type WeightGridSetChoice, weightGridSet } from "./weight-grid-set.js";

export const recipeNames = ["fp", "qat", "pfq", "rp", "quant-trim"] as const;
export type RecipeName = (typeof recipeNames)[number];

export function isRecipe(s: string): s is RecipeName {
  return (recipeNames as readonly string[]).includes(s);
}

/**
 * Any λ curve: `at(step)` in [0, 1], non-decreasing, and the first step at which it is 1 for good (where
 * the recipes freeze activation observers and BatchNorm statistics). `LambdaSchedule` is one.
 */
export interface LambdaCurve {
  at(step: number): number;
  readonly firstFullStep: number;
}

export interface QuantTrimOptions {
  /** Which recipe (default "quant-trim"): fp, qat, pfq (fake quantization only), rp (pruning only). */
  recipe?: RecipeName;
  /** Optimizer steps of the whole run (see `trainingSteps`): the λ clock runs over them. */
  totalSteps: number;
  /** Shape of one example input with its batch axis, e.g. [1, ...dataset.sampleShape]: QAT traces it. */
  inputShape: readonly number[];
  /** Weight bits of the training grid, 4 or 8 (default 4): picks the grid preset and pFinal's default. */
  bits?: 4 | 8;
  /** Weight granularity of the training grid (default "per-tensor"). */
  granularity?: "per-tensor" | "per-channel";
  /** A weight grid of your own, instead of the preset `bits` and `granularity` pick. */
  weightGrid?: GridSpec;
  /** The activation grid (default INT8 asymmetric per-tensor: W4A8 / W8A8). */
  activationGrid?: GridSpec;
  /**
   * The λ curriculum that drives fake quantization and reverse pruning: a `LambdaSchedule`, its options,
   * or any `LambdaCurve`. Default: `{ kind: "quant-trim", totalSteps }` with the fractions below.
   */
  lambda?: LambdaCurve | LambdaScheduleOptions;
  /** Fractions of the default curriculum (docs/quant-trim.md); not allowed together with `lambda`. */
  warmup?: number;
  quarticEnd?: number;
  rampEnd?: number;
  handover?: number;
  /** Reverse pruning's final quantile; default 0.99 at ≤ 4 bits, 0.999 above. */
  pFinal?: number;
  /**
   * Mask the straight-through gradient outside the grid's range (PyTorch's fake-quant behaviour).
   * Default: on for `qat` (the baseline as practitioners run it), off for `pfq` and `quant-trim` (the
   * blend formula x + λ·stopgrad(x̂ − x) passes the gradient everywhere).
   */
  clipMask?: boolean;
  /** Where the reverse pruner reports layers it can never trim (default console.warn). */
  onWarning?: (message: string, layers: UntrimmableLayer[]) => void;
  /**
   * Multi-grid PFQ [ours], used by pfq and quant-trim (checked but ignored by fp, qat and rp, as pFinal
   * is by the recipes without pruning, so one option set drives every recipe): the weight grid of fake quantization is drawn per
   * step from this set instead of staying fixed. "profiles" is every layout of `weightGridNames` at the
   * recipe's bits (they span the npu-sim profiles' weight grids); or list names / GridSpecs. Reverse
   * pruning keeps grouping by the `bits`/`granularity` grid. Default: one grid (no sampling).
   */
  grids?: WeightGridSetChoice;
  /**
   * How multi-grid draws: "model" (default) one grid per step for every weight layer, as one backend
   * would quantize the whole model; "layer" an independent draw per layer.
   */
  gridSampling?: "model" | "layer";
  /** Seeds the multi-grid draws (default 0), so a run is reproducible. */
  seed?: number;
  /**
   * Pow2-aligned trimming [ours], used by rp and quant-trim (ignored by the others, like pFinal): snap each reverse-pruning threshold down so
   * that τ/qmax is a power of two. `true` uses the training grid's qmax, a number gives qmax (127 for INT8
   * power-of-two backends). Default off.
   */
  alignPow2?: boolean | number;
}

/** What a recipe adds to plain training: per-step hooks (pass it to the trainer) and handles. */
export interface QuantTrimRun extends StepHooks {
  readonly recipe: RecipeName;
  readonly totalSteps: number;
  /** The fake-quantization driver (null for fp and rp). */
  readonly qat: QatModel | null;
  /** The reverse pruner (null for fp, qat and pfq). */
  readonly pruner: ReversePruner | null;
  /** The λ that drives fake quantization: constant 1 for qat, the curriculum otherwise (null for fp). */
  readonly lambda: LambdaCurve | null;
  /** Reverse pruning's final quantile level (null without reverse pruning). */
  readonly pFinal: number | null;
  /** The step at whose start activation observers and BN statistics freeze (fake-quant recipes). */
  readonly freezeStep: number;
  beforeStep(step: number): void;
  afterStep(step: number): void;
  /** JSON-able settings, for checkpoint metadata. */
  readonly settings: Record<string, unknown>;
}

const OPTION_KEYS = new Set([
  "recipe",
  "totalSteps",
  "inputShape",
  "bits",
  "granularity",
  "weightGrid",
  "activationGrid",
  "lambda",
  "warmup",
  "quarticEnd",
  "rampEnd",
  "handover",
  "pFinal",
  "clipMask",
  "onWarning",
  "grids",
  "gridSampling",
  "seed",
  "alignPow2",
]);

const WEIGHT_PRESETS = {
  4: { "per-tensor": int4SymmetricPerTensor, "per-channel": int4SymmetricPerChannel },
  8: { "per-tensor": int8SymmetricPerTensor, "per-channel": int8SymmetricPerChannel },
} as const;

/** The training grids of a bit width and granularity: symmetric weights, INT8 asymmetric activations. */
export function trainingGrids(
  bits: 4 | 8,
  granularity: "per-tensor" | "per-channel",
): { weight: GridSpec; activation: GridSpec } {
  const weight = WEIGHT_PRESETS[bits]?.[granularity];
  if (!weight)
    throw new Error(
      `trainingGrids: bits must be 4 or 8 and granularity per-tensor or per-channel, got ${String(bits)} and ${String(granularity)}`,
    );
  // Activations stay at 8 bits (W4A8 / W8A8): the low-bit question of the method is the weights'.
  return { weight, activation: int8AsymmetricPerTensor };
}

function curriculumOf(o: QuantTrimOptions): LambdaCurve {
  const fractions = (["warmup", "quarticEnd", "rampEnd", "handover"] as const).filter(
    (k) => o[k] !== undefined,
  );
  if (o.lambda === undefined)
    return new LambdaSchedule({
      kind: "quant-trim",
      totalSteps: o.totalSteps,
      warmup: o.warmup ?? 0.2,
      quarticEnd: o.quarticEnd ?? 0.5,
      rampEnd: o.rampEnd ?? 0.8,
      handover: o.handover ?? 0.25,
    });
  if (fractions.length > 0)
    throw new Error(
      `quantTrim: ${fractions.join(", ")} shape the default curriculum; with a lambda of your own, leave them out`,
    );
  const l = o.lambda as Partial<LambdaCurve> & { kind?: unknown };
  if (typeof l === "object" && l !== null && typeof l.at === "function") {
    if (typeof l.firstFullStep !== "number" || Number.isNaN(l.firstFullStep))
      throw new Error("quantTrim: a lambda curve needs firstFullStep, the first step at which λ is 1");
    return l as LambdaCurve;
  }
  return new LambdaSchedule(o.lambda as LambdaScheduleOptions);
}

/**
 * The method as one call. Instruments `model` in place for the chosen recipe and returns the hooks the
 * trainer runs at every step, plus handles (the QAT driver, the pruner, λ). All five recipes share the
 * model, data, epochs and optimizer, so they compare fairly:
 * - fp: plain FP32 training.
 * - qat: fake quantization at λ = 1 from the first step, fixed grid, no reverse pruning, PyTorch's
 *   masked straight-through gradient; activation observers and BN statistics freeze at the same step as
 *   quant-trim's (the first step at which its λ is 1, ⌈rampEnd·T⌉) for a fair budget.
 * - pfq: progressive fake quantization only (λ curriculum).
 * - rp: reverse pruning only, on the same clock (FP training otherwise).
 * - quant-trim: PFQ + RP.
 * At the freeze step the activation observers stop and BatchNorm switches to its running statistics.
 */
export function quantTrim(model: Module, options: QuantTrimOptions): QuantTrimRun {
  const fn = "quantTrim";
  if (typeof options !== "object" || options === null) throw new Error(`${fn}: options must be an object`);
  for (const key of Object.keys(options))
    if (!OPTION_KEYS.has(key)) throw new Error(`${fn}: unknown option '${key}'`);
  const recipe = options.recipe ?? "quant-trim";
  if (!isRecipe(recipe))
    throw new Error(`${fn}: recipe must be one of ${recipeNames.join(", ")}, got '${String(recipe)}'`);
  const { totalSteps } = options;
  if (!Number.isInteger(totalSteps) || totalSteps <= 0)
    throw new Error(`${fn}: totalSteps must be a positive integer, got ${String(totalSteps)}`);
  const bits = options.bits ?? 4;
  const granularity = options.granularity ?? "per-tensor";
  if (bits !== 4 && bits !== 8) throw new Error(`${fn}: bits must be 4 or 8, got ${String(bits)}`);
  if (granularity !== "per-tensor" && granularity !== "per-channel")
    throw new Error(`${fn}: granularity must be per-tensor or per-channel, got '${String(granularity)}'`);
  if (options.weightGrid && (options.bits !== undefined || options.granularity !== undefined))
    throw new Error(`${fn}: give either weightGrid or bits/granularity, not both`);
  const presets = trainingGrids(bits, granularity);
  const weight = options.weightGrid ?? presets.weight;
  const activation = options.activationGrid ?? presets.activation;
  const curriculum = curriculumOf(options);
  const multiGrid = multiGridOf(fn, options, recipe, weight.bits);
  // Freeze where the curriculum's λ first equals 1 (⌈rampEnd·T⌉; ⌊·⌋ would freeze a step early), and
  // never at step 0: a freeze before any forward pass leaves the observers with empty ranges (T = 1).
  const freezeStep = Math.max(1, curriculum.firstFullStep);
  const usesFakeQuant = recipe === "qat" || recipe === "pfq" || recipe === "quant-trim";
  const usesRp = recipe === "rp" || recipe === "quant-trim";
  const clipMask = options.clipMask ?? recipe === "qat";
  const qat = usesFakeQuant
    ? prepareQat(model, {
        inputShape: options.inputShape,
        weight: multiGrid ? multiGrid.grids : weight,
        activation,
        clipMask,
      })
    : null;
  const lambda: LambdaCurve | null =
    recipe === "qat"
      ? new LambdaSchedule({ kind: "constant", value: 1 })
      : usesFakeQuant || usesRp
        ? curriculum
        : null;
  const pFinal = usesRp ? (options.pFinal ?? defaultPFinal(weight.bits)) : null;
  // Like pFinal, the option shapes reverse pruning and means nothing to the recipes without it (one
  // option set can then drive fp, qat and quant-trim alike); it is checked all the same.
  const alignPow2 = options.alignPow2;
  if (alignPow2 !== undefined && typeof alignPow2 !== "boolean" && typeof alignPow2 !== "number")
    throw new Error(`${fn}: alignPow2 must be a boolean or a qmax number, got ${JSON.stringify(alignPow2)}`);
  const pruner =
    pFinal !== null
      ? new ReversePruner(
          model.namedParameters().map(([name, param]) => ({ name, param })),
          {
            grid: weight,
            schedule: curriculum,
            pFinal,
            ...(options.onWarning ? { onWarning: options.onWarning } : {}),
            ...(alignPow2 !== undefined ? { alignPow2 } : {}),
          },
        )
      : null;
  return {
    recipe,
    totalSteps,
    qat,
    pruner,
    lambda,
    pFinal,
    freezeStep,
    beforeStep(step) {
      if (!qat || !lambda) return;
      qat.setLambda(lambda.at(step));
      if (multiGrid) multiGrid.draw(qat);
      if (step === freezeStep) {
        qat.freezeObservers();
        qat.freezeBatchNormStats();
      }
    },
    afterStep(step) {
      pruner?.step(step);
    },
    settings: {
      recipe,
      bits: weight.bits,
      granularity: weight.granularity,
      clipMask,
      lambda: lambda ? (lambda instanceof LambdaSchedule ? lambda.options : { kind: "custom" }) : null,
      reversePruning: pruner ? { pFinal, rule: "quantile", mode: "clamp" } : null,
      weightGrid: weight,
      activationGrid: activation,
      // Only runs that use the [ours] options record them, so default metadata stays as it was.
      ...(multiGrid
        ? { multiGrid: { grids: multiGrid.grids, sampling: multiGrid.sampling, seed: multiGrid.seed } }
        : {}),
      ...(pruner && alignPow2 !== undefined && alignPow2 !== false ? { alignPow2 } : {}),
    },
  };
}

interface MultiGrid {
  grids: GridSpec[];
  sampling: "model" | "layer";
  seed: number;
  /** Picks this step's weight grids. */
  draw(qat: QatModel): void;
}

function multiGridOf(fn: string, o: QuantTrimOptions, recipe: RecipeName, bits: number): MultiGrid | null {
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`${fn}: seed must be an integer ≥ 0, got ${String(seed)}`);
  if (o.grids === undefined) {
    if (o.gridSampling !== undefined) throw new Error(`${fn}: gridSampling needs grids (multi-grid PFQ)`);
    return null;
  }
  const grids = weightGridSet(o.grids, bits, fn);
  const sampling = o.gridSampling ?? "model";
  if (sampling !== "model" && sampling !== "layer")
    throw new Error(`${fn}: gridSampling must be "model" or "layer", got ${JSON.stringify(sampling)}`);
  // Checked for every recipe, used by the two with progressive fake quantization: plain QAT is the
  // one-grid baseline by definition, and fp and rp fake-quantize nothing.
  if (recipe !== "pfq" && recipe !== "quant-trim") return null;
  const rng = new Rng(seed);
  return {
    grids,
    sampling,
    seed,
    draw(qat) {
      if (sampling === "layer") {
        for (const p of qat.weightPoints) p.sample(rng);
        return;
      }
      const k = rng.int(grids.length);
      for (const p of qat.weightPoints) p.grid = p.grids[k]!;
    },
  };
}
