import { type Module, nn } from "@quant-trim/autograd";
import type { LayerOverride, QatConfig, QatModel, QParams } from "@quant-trim/quant";
import type * as T from "@quant-trim/tensor";
import { floatLogits, outputsByChunk } from "../metrics/compare.js";
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

/**
 * The fake-quantized outputs of a model prepared with `qatConfigForProfile` (λ = 1), scaled the way the
 * profile scales activations. Static profiles: one pass with the calibrated qparams. Dynamic profiles
 * give every input its own scales at run time (`run` executes them one input at a time): here each
 * input gets a calibrating pass of its own with freshly reset observers, in which every point observes
 * its value and fake-quantizes it with that range — downstream points see the fake-quantized values,
 * as the program's later layers see dequantized codes. Afterwards the observers hold the last input's
 * ranges.
 */
export function fakeQuantOutputs(
  model: Module,
  qat: QatModel,
  profile: BackendProfile,
  inputs: T.Tensor,
): T.Tensor {
  if (profile.activationScaling === "static") return floatLogits(model, inputs);
  return outputsByChunk(model, inputs, 1, (x) => {
    for (const p of qat.activationPoints) p.observer.reset();
    let y: T.Tensor | undefined;
    qat.calibrate(() => {
      y = model.call(x).data;
    });
    return y!;
  });
}
