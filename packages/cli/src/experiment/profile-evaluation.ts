import type { Module } from "@quant-trim/autograd";
import {
  type BackendProfile,
  compareWithFloat,
  compile,
  estimateCost,
  type IntegerProgram,
} from "@quant-trim/npu-sim";
import { profileSpread, worstGap } from "@quant-trim/recipes";
import type { Tensor } from "@quant-trim/tensor";
import type { GroupFigures, ProfileCost, ProfileEvaluation, ProfileInfo } from "../report/results-schema.js";

/** Test inputs whose intermediates are compared layer by layer (the SQNR table): cheap, and enough. */
export const SQNR_SAMPLES = 64;

/** A profile's group: its weights' bits decide (≤ 4 bits: INT4). */
export function profileGroup(profile: BackendProfile): "int8" | "int4" {
  return profile.weight.bits <= 4 ? "int4" : "int8";
}

export function profileInfo(profile: BackendProfile): ProfileInfo {
  return {
    name: profile.name,
    summary: profile.summary,
    weightBits: profile.weight.bits,
    activationBits: profile.activation.bits,
    group: profileGroup(profile),
  };
}

/** The cost model's figures for a program, in results.json's units and precision classes. */
export function programCost(program: IntegerProgram): ProfileCost {
  const c = estimateCost(program);
  const macs = { int8: 0, int4: 0, float: 0 };
  for (const [precision, n] of Object.entries(c.macs)) {
    if (precision === "f32") macs.float += n;
    else {
      // "w4a8" → 4 and 8: the class is the wider operand's, as the cost model charges it.
      const bits = Math.max(...(precision.match(/\d+/g) ?? ["8"]).map(Number));
      if (bits <= 4) macs.int4 += n;
      else macs.int8 += n;
    }
  }
  return {
    macs,
    weightBytes: c.weightBytes,
    activationBytes: c.activationBytes,
    latencySeconds: c.latencySeconds,
    energyJoules: c.energyJoules,
    fallbackOps: program.steps.filter((s) => s.op === "float").length,
    partitions: program.partitions.length,
  };
}

const SHORT_KINDS: Readonly<Record<string, string>> = {
  conv2d: "conv",
  "depthwise-conv2d": "dwconv",
  linear: "linear",
  add: "add",
  mul: "mul",
  clamp: "act",
};

/**
 * A readable name for the layer whose output a program value holds: the op and the model module it
 * starts from ("conv 0", "dwconv block1.depthwise", "linear 9"), not the fused op's last member (the
 * ReLU whose output it is), which is what the program calls it. Inputs keep npu-sim's name.
 */
export function layerLabel(program: IntegerProgram, value: string, fallback: string): string {
  const step = program.steps.find((s) => s.output === value);
  if (!step?.name) return fallback;
  const first = program.fused.find((f) => f.name === step.name)?.members[0] ?? step.name;
  const kind = "kind" in step && typeof step.kind === "string" ? step.kind : step.op;
  return `${SHORT_KINDS[kind] ?? kind} ${first}`;
}

/** The test inputs, their labels and the float model's logits on them (computed once per checkpoint). */
export interface EvaluationInputs {
  readonly calibration: Tensor;
  readonly test: Tensor;
  readonly labels: ArrayLike<number>;
  readonly fpLogits: Tensor;
}

/**
 * Compiles `model` for `profile` (calibrating on `inputs.calibration` the profile's way) and runs the test
 * set in its integer arithmetic: accuracy, top-1 agreement and logit cosine against FP32, the SQNR of
 * every requantized layer on the first SQNR_SAMPLES inputs, overflow events, and the cost model.
 */
export function evaluateOnProfile(
  model: Module,
  profile: BackendProfile,
  inputs: EvaluationInputs,
): { evaluation: ProfileEvaluation; cost: ProfileCost } {
  const t0 = performance.now();
  const program = compile(model, profile, inputs.calibration);
  const c = compareWithFloat(model, program, inputs.test, {
    labels: inputs.labels,
    fpLogits: inputs.fpLogits,
    sqnrSamples: SQNR_SAMPLES,
  });
  const warnings = [...c.warnings];
  const layerSqnr: { layer: string; sqnrDb: number | null }[] = [];
  for (const l of c.layers) {
    // +∞: no noise at all (exact); −∞: the float layer is all zeros on these inputs, so no ratio exists.
    if (l.sqnrDb === Number.NEGATIVE_INFINITY)
      warnings.push(`${l.name}: the FP32 output is all zeros on the SQNR inputs; its SQNR is undefined`);
    else
      layerSqnr.push({
        layer: layerLabel(program, l.value, l.name),
        sqnrDb: Number.isFinite(l.sqnrDb) ? l.sqnrDb : null,
      });
  }
  const evaluation: ProfileEvaluation = {
    accuracy: c.accuracy!,
    top1Agreement: c.top1Agreement,
    logitCosine: c.logitCosine,
    layerSqnr,
    overflows: c.overflow.total.accumulator + c.overflow.total.int16Pairs,
    warnings,
    seconds: (performance.now() - t0) / 1000,
  };
  return { evaluation, cost: programCost(program) };
}

/** Worst gap and spread of one run over the profiles of one group; null when the group is empty. */
export function groupFigures(
  fpAccuracy: number,
  profiles: readonly ProfileInfo[],
  evaluations: Readonly<Record<string, ProfileEvaluation>>,
  group: "int8" | "int4",
): GroupFigures | null {
  const names = profiles.filter((p) => p.group === group).map((p) => p.name);
  if (names.length === 0) return null;
  const accuracies = Object.fromEntries(names.map((n) => [n, evaluations[n]!.accuracy]));
  const gap = worstGap(fpAccuracy, accuracies);
  const spread = profileSpread(accuracies);
  return {
    profiles: names,
    worstGap: gap.gap,
    worstProfile: gap.profile,
    spread: spread.spread,
    bestProfile: spread.best,
  };
}
