import { FLOAT32_EPS, type GridSpec, gridSpec } from "./spec.js";

/** The arithmetic conventions of a system: every GridSpec field that is not about layout. */
export type GridConventions = Pick<
  GridSpec,
  | "rounding"
  | "scaleApplication"
  | "symmetricDivisor"
  | "zeroPointRule"
  | "zeroPointRounding"
  | "qparamsArithmetic"
  | "scaleConstraint"
  | "eps"
  | "minRange"
>;

/**
 * A preset that reproduces one system's quantization arithmetic. `conventions` are its rules;
 * `weight` and `activation` are the grids the system uses by default; `spec(layout)` applies the
 * conventions to any other layout (bits, signedness, granularity, …; fields given here win).
 */
export interface CompatPreset {
  readonly system: string;
  readonly conventions: Readonly<GridConventions>;
  readonly weight: GridSpec;
  readonly activation: GridSpec;
  spec(layout?: Partial<GridSpec>): GridSpec;
}

function preset(
  system: string,
  conventions: GridConventions,
  weight: Partial<GridSpec>,
  activation: Partial<GridSpec>,
): CompatPreset {
  const frozen = Object.freeze({ ...conventions });
  const spec = (layout: Partial<GridSpec> = {}): GridSpec => gridSpec({ ...frozen, ...layout });
  return Object.freeze({
    system,
    conventions: frozen,
    weight: spec(weight),
    activation: spec(activation),
    spec,
  });
}

/**
 * PyTorch `torch.ao.quantization` (fake quantize and observers, default x86 QAT qconfig):
 * `x · fp32(1/s)` rounded half to even; symmetric scale `absmax / ((qmax − qmin) / 2)` (127.5 for
 * qint8); asymmetric zero point `qmin − round(min / s)`, all in float32; scale ≥ float32 eps.
 * Weights: qint8 symmetric per output channel. Activations: quint8 affine with `reduce_range`
 * ([0, 127]), which fbgemm/x86 needs; for qnnpack use `pytorchCompat.spec({ ...activation, reduceRange: false })`.
 */
export const pytorchCompat: CompatPreset = preset(
  "PyTorch torch.ao.quantization (x86/fbgemm QAT defaults)",
  {
    rounding: "half-even",
    scaleApplication: "multiply-reciprocal",
    symmetricDivisor: "half-range",
    zeroPointRule: "qmin-minus-rounded",
    zeroPointRounding: "half-even",
    qparamsArithmetic: "float32",
    scaleConstraint: "float",
    eps: FLOAT32_EPS,
    minRange: 0,
  },
  { bits: 8, signed: true, symmetric: true, narrowRange: false, granularity: "per-channel", axis: 0 },
  {
    bits: 8,
    signed: false,
    symmetric: false,
    narrowRange: false,
    reduceRange: true,
    granularity: "per-tensor",
  },
);

/**
 * ONNX QuantizeLinear / DynamicQuantizeLinear and onnxruntime's static quantizer: `x / s` in float32
 * rounded half to even and saturated; symmetric scale `2·absmax / (qmax − qmin)`; asymmetric zero point
 * `round(qmin − min / s)`, with the range width in float32 and the rest in float64 (the final scale is
 * stored as float32).
 * Weights: int8 symmetric [-127, 127] per tensor (quantize_static's defaults: per_channel=False).
 * Activations: int8 asymmetric per tensor.
 */
export const onnxCompat: CompatPreset = preset(
  "ONNX QuantizeLinear + onnxruntime.quantization defaults",
  {
    rounding: "half-even",
    scaleApplication: "divide",
    symmetricDivisor: "half-range",
    zeroPointRule: "round-from-min",
    zeroPointRounding: "half-even",
    qparamsArithmetic: "mixed",
    scaleConstraint: "float",
    eps: FLOAT32_EPS,
    minRange: 0,
  },
  { bits: 8, signed: true, symmetric: true, narrowRange: true, granularity: "per-tensor" },
  { bits: 8, signed: true, symmetric: false, narrowRange: false, granularity: "per-tensor" },
);

/**
 * TFLite / LiteRT int8 (Quantize kernel and converter): `x / s` in float32 rounded half away from zero;
 * symmetric scale `absmax / qmax`; asymmetric zero point from whichever range end has the smaller
 * error, in float64, rounded half away (`ChooseQuantizationParams`).
 * Weights: int8 symmetric [-127, 127] per output channel. Activations: int8 asymmetric per tensor.
 */
export const tfliteCompat: CompatPreset = preset(
  "TFLite / LiteRT int8 quantization spec",
  {
    rounding: "half-away",
    scaleApplication: "divide",
    symmetricDivisor: "positive-range",
    zeroPointRule: "round-from-nearer-end",
    zeroPointRounding: "half-away",
    qparamsArithmetic: "float64",
    scaleConstraint: "float",
    eps: FLOAT32_EPS,
    minRange: 0,
  },
  { bits: 8, signed: true, symmetric: true, narrowRange: true, granularity: "per-channel", axis: 0 },
  { bits: 8, signed: true, symmetric: false, narrowRange: false, granularity: "per-tensor" },
);

/** Every compat preset by short name, for loops over systems. */
export const compatPresets: Readonly<Record<"pytorch" | "onnx" | "tflite", CompatPreset>> = Object.freeze({
  pytorch: pytorchCompat,
  onnx: onnxCompat,
  tflite: tfliteCompat,
});
