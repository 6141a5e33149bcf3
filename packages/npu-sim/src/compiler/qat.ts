import { type Module, nn } from "@quant-trim/autograd";
import type { LayerOverride, QatConfig, QatModel, QParams } from "@quant-trim/quant";
import type { BackendProfile } from "../profiles/schema.js";

/*
 * The bridge between training and deployment. `qatConfigForProfile` prepares a model for QAT on exactly
 * the grids a profile will use (including per-op weight grids such as Ethos-U's per-tensor fully
 * connected weights), and `qatActivationQParams` hands the QAT model's activation qparams to `compile`,
 * whose quantization points carry the same names (`input`, `<module>.output`, and `<op handle>.output`
 * for functional ops such as a residual `ops.add`, whose handles both take from the trace). The compiled
 * program then reproduces the fake-quantized model's logits, up to requantization rounding.
 */

/** The profile op a weight layer compiles to (depthwise: groups equal to the input channels). */
function weightOp(m: Module): "conv2d" | "depthwise-conv2d" | "linear" | null {
  if (m instanceof nn.Linear) return "linear";
  if (m instanceof nn.Conv2d) {
    const g = m.options.groups ?? 1;
    return g > 1 && g === m.inChannels ? "depthwise-conv2d" : "conv2d";
  }
  return null;
}

/**
 * A QatConfig whose grids are the profile's: weight and activation grids plus per-op weight grids, and
 * the int16 pair saturation of a `pairSaturation` profile (x86 `vpmaddubsw`).
 */
export function qatConfigForProfile(
  model: Module,
  profile: BackendProfile,
  inputShape: readonly number[],
  extra: Partial<Omit<QatConfig, "inputShape" | "weight" | "activation" | "overrides">> = {},
): QatConfig {
  const overrides: Record<string, LayerOverride> = {};
  for (const [name, m] of model.namedModules()) {
    const op = weightOp(m);
    const grid = op ? profile.ops[op]?.weight : undefined;
    if (grid && name !== "") overrides[name] = { weight: grid };
  }
  return {
    ...extra,
    inputShape: [1, ...inputShape],
    weight: profile.weight,
    activation: profile.activation,
    overrides,
    // A float-output target (TensorRT) does not round or clip the logits: neither does QAT.
    floatOutput: profile.floatOutput,
    // x86 int16 pairs: the programs reduce convolutions channels-last (program/run.ts), so QAT pairs the
    // same taps.
    ...(profile.pairSaturation ? { accumulator: { int16Pairs: "kh-kw-c" as const } } : {}),
  };
}

/** The activation qparams of a QAT model by point name, for `compile`'s `activationQParams`. */
export function qatActivationQParams(qat: QatModel): Record<string, QParams> {
  const out: Record<string, QParams> = {};
  for (const p of qat.describe()) {
    if (p.kind !== "activation") continue;
    if (p.qparams === null) {
      throw new Error(
        `qatActivationQParams: point '${p.name}' has no qparams yet (run or calibrate the QAT model first)`,
      );
    }
    out[p.name] = p.qparams;
  }
  return out;
}
