/**
 * Shared pieces of the claim experiments (claim-tune.ts, claim-run.ts): train one zoo model with one
 * recipe variant through the library, then measure it on every npu-sim profile in integer arithmetic
 * (each profile calibrating on the same 256 training digits), the way `quant-trim experiment` does.
 *
 * A variant is a recipe name with [ours] options appended: `quant-trim+mg` (multi-grid PFQ over the
 * "profiles" set), `+pow2` (pow2-aligned trimming, qmax 127: the INT8 power-of-two backend), `+pow2q`
 * (aligned to the training grid's own qmax), `+pF=0.98`, `+warmup=0.1`, `+rampEnd=0.6`, `+layer`
 * (multi-grid drawn per layer).
 */
import type { Module } from "@quant-trim/autograd";
import { accuracy, compile, floatLogits, getProfile, profileNames, run } from "@quant-trim/npu-sim";
import {
  buildModel,
  type Dataset,
  isRecipe,
  type QuantTrimOptions,
  quantTrim,
  type RecipeName,
  trainClassifier,
  trainingSteps,
} from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";

export const CLASSES = 10;

export interface Variant {
  name: string;
  recipe: RecipeName;
  options: Partial<QuantTrimOptions>;
}

export function parseVariant(name: string): Variant {
  const [recipe, ...mods] = name.split("+");
  if (!recipe || !isRecipe(recipe)) throw new Error(`parseVariant: unknown recipe in '${name}'`);
  const options: Partial<QuantTrimOptions> = {};
  for (const m of mods) {
    const [key, value] = m.split("=");
    if (key === "mg") options.grids = "profiles";
    else if (key === "layer") options.gridSampling = "layer";
    else if (key === "pow2") options.alignPow2 = 127;
    else if (key === "pow2q") options.alignPow2 = true;
    else if (key === "pF") options.pFinal = Number(value);
    else if (key === "warmup" || key === "rampEnd" || key === "quarticEnd") options[key] = Number(value);
    else throw new Error(`parseVariant: unknown modifier '${m}' in '${name}'`);
  }
  return { name, recipe, options };
}

export interface TrainSettings {
  arch: string;
  epochs: number;
  batchSize: number;
  lr: number;
  bits: 4 | 8;
  granularity: "per-tensor" | "per-channel";
}

/** Train `variant` with `seed` on `train`; returns a fresh float model carrying the trained weights. */
export function trainVariant(
  variant: Variant,
  seed: number,
  train: Dataset,
  s: TrainSettings,
): { model: Module; seconds: number } {
  const zoo = { inputShape: train.sampleShape, classes: CLASSES };
  const model = buildModel(s.arch, { ...zoo, seed });
  const hooks = quantTrim(model, {
    recipe: variant.recipe,
    bits: s.bits,
    granularity: s.granularity,
    totalSteps: trainingSteps(train.count, s.batchSize, s.epochs),
    inputShape: [1, ...train.sampleShape],
    onWarning: () => {},
    ...(variant.options.grids !== undefined ? { seed } : {}),
    ...variant.options,
  });
  const t0 = performance.now();
  trainClassifier(model, train, { epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, seed, hooks });
  const seconds = (performance.now() - t0) / 1000;
  // What a user deploys is the FP32 checkpoint: a clean model with the trained tensors, no QAT hooks.
  const fresh = buildModel(s.arch, { ...zoo, seed: 0 });
  fresh.loadStateDict(model.stateDict());
  fresh.eval();
  return { model: fresh, seconds };
}

export interface ProfileAccuracy {
  profile: string;
  weightBits: number;
  accuracy: number;
}

export interface Measured {
  fpAccuracy: number;
  profiles: ProfileAccuracy[];
}

function toTensor(ds: Dataset): T.Tensor {
  return T.fromData(ds.inputs, [ds.count, ...ds.sampleShape]);
}

/**
 * FP accuracy and integer accuracy on the named npu-sim profiles (default every one), each calibrating
 * on `calibration`.
 */
export function measure(
  model: Module,
  calibration: Dataset,
  evalSet: Dataset,
  names: readonly string[] = profileNames,
): Measured {
  const x = toTensor(evalSet);
  const calib = toTensor(calibration);
  const fp = floatLogits(model, x).toFloat32Array();
  const fpAccuracy = accuracy(fp, evalSet.labels, CLASSES);
  const profiles = names.map((name) => {
    const profile = getProfile(name);
    const program = compile(model, profile, calib);
    const out = run(program, x).output.toFloat32Array();
    return {
      profile: name,
      weightBits: profile.weight.bits,
      accuracy: accuracy(out, evalSet.labels, CLASSES),
    };
  });
  return { fpAccuracy, profiles };
}

/**
 * Worst FP→integer gap and spread (max − min) over the measured profiles of one weight width (null when
 * none was measured).
 */
export function gapAndSpread(m: Measured, bits: number): { worstGap: number; spread: number } | null {
  const accs = m.profiles.filter((p) => p.weightBits === bits).map((p) => p.accuracy);
  if (accs.length === 0) return null;
  const min = Math.min(...accs);
  return { worstGap: m.fpAccuracy - min, spread: Math.max(...accs) - min };
}

export function meanStd(xs: number[]): { mean: number; std: number | null } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, std: null };
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
}
