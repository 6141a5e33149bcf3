import type { GridSpec } from "@quant-trim/quant";
import type { IntWeights } from "../int-weights.js";
import type { BackendProfile, NpuOp } from "../profiles/schema.js";
import type { OutputStage } from "../requantize.js";

/*
 * An integer program: what a vendor toolchain would hand to its runtime, as plain, inspectable data.
 * Every tensor has an entry in `values` (its per-sample shape, whether it holds integer codes or
 * float32, and its quantization); `steps` run in order, each on the accelerator ("npu", integer
 * kernels) or the CPU (float32 fallback); `partitions` group consecutive steps by device. Nothing in a
 * program refers back to the model it came from.
 */

export type Device = "npu" | "cpu";

/** Scale(s) and zero point(s) as plain numbers (one entry per tensor; weights may have one per channel). */
export interface PlainQParams {
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
}

export interface ProgramValue {
  /** Per-sample shape (the batch axis is implicit). */
  readonly shape: readonly number[];
  readonly domain: "int" | "float";
  /** Int values: their grid, and their qparams (`"dynamic"`: chosen per input at run time). */
  readonly grid?: GridSpec;
  readonly qparams?: PlainQParams | "dynamic";
  /**
   * The quantization point that chose these qparams (`input`, `<module>.output`, `<op>.output`), or the
   * value whose qparams it shares (pooling and reshape keep their input's scale and zero point).
   */
  readonly point?: string;
  /** The float value of the original model this tensor stands for (its trace id), for comparisons. */
  readonly source: string;
}

export type StepActivation = "none" | "relu" | "relu6" | { readonly lo: number; readonly hi: number };

interface StepBase {
  /** Module path or op handle of the model op this step implements ("" for inserted conversions). */
  readonly name: string;
  readonly device: Device;
  readonly inputs: readonly string[];
  readonly output: string;
}

/** Float → codes at a partition boundary (or the model input), on the output value's grid. */
export interface QuantizeStep extends StepBase {
  readonly op: "quantize";
}

/** Codes → float at a partition boundary (or the model output). */
export interface DequantizeStep extends StepBase {
  readonly op: "dequantize";
}

/** Integer weights, their grid and qparams, and the int32 bias at s_in·s_w. */
export interface QuantizedParameters {
  readonly weights: IntWeights;
  readonly weightGrid: GridSpec;
  readonly weightQParams: PlainQParams;
  /** int32 bias per output channel at s_in·s_w[c] (zeros when the layer has none or scaling is dynamic). */
  readonly bias: Int32Array;
  /** The float bias it came from (quantized per input at run time when scaling is dynamic). */
  readonly biasFloat: Float32Array | null;
  /**
   * Requantization of the accumulators; null when scaling is dynamic (built per input at run time) or
   * the output is float (the accumulators are dequantized: see `BackendProfile.floatOutput`).
   */
  readonly outputStage: OutputStage | null;
}

export interface ConvStep extends StepBase, QuantizedParameters {
  readonly op: "conv2d";
  /** The profile's name for it: "conv2d" or "depthwise-conv2d" (groups = input channels). */
  readonly kind: NpuOp;
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
  readonly activation: StepActivation;
}

export interface LinearStep extends StepBase, QuantizedParameters {
  readonly op: "linear";
  readonly activation: StepActivation;
}

/** Elementwise add / mul of two integer tensors (broadcasting), rescaled to the output grid. */
export interface ElementwiseStep extends StepBase {
  readonly op: "add" | "mul";
  readonly activation: StepActivation;
}

export interface PoolStep extends StepBase {
  readonly op: "max-pool" | "avg-pool";
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
}

/** A stand-alone activation on codes: requantize to the output grid and clamp to the real bounds. */
export interface ClampStep extends StepBase {
  readonly op: "clamp";
  readonly activation: StepActivation;
}

export interface ReshapeStep extends StepBase {
  readonly op: "reshape";
  /** Per-sample target shape. */
  readonly shape: readonly number[];
}

/** A float32 op on the CPU: the model's own op, with its parameters (BatchNorm already folded). */
export interface FloatStep extends StepBase {
  readonly op: "float";
  /** conv2d, linear, batchnorm, max-pool, avg-pool, reshape, activation or a functional op name. */
  readonly type: string;
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly activation: StepActivation;
  /** Constant operands by input position (null where the input is a value). */
  readonly constants: readonly ({
    readonly shape: readonly number[];
    readonly values: Float32Array;
  } | null)[];
  readonly weight?: { readonly shape: readonly number[]; readonly values: Float32Array };
  readonly bias?: { readonly shape: readonly number[]; readonly values: Float32Array } | null;
}

export type ProgramStep =
  | QuantizeStep
  | DequantizeStep
  | ConvStep
  | LinearStep
  | ElementwiseStep
  | PoolStep
  | ClampStep
  | ReshapeStep
  | FloatStep;

export interface Partition {
  readonly device: Device;
  /** Indices of its first and last step (inclusive). */
  readonly first: number;
  readonly last: number;
}

export interface IntegerProgram {
  readonly format: "quant-trim.integer-program/1";
  readonly profile: BackendProfile;
  /** Per-sample shape of the model input. */
  readonly inputShape: readonly number[];
  readonly input: string;
  readonly output: string;
  readonly values: Readonly<Record<string, ProgramValue>>;
  readonly steps: readonly ProgramStep[];
  readonly partitions: readonly Partition[];
  /** Violated constraints, fallbacks, biases outside the profile's width, … */
  readonly warnings: readonly string[];
  /** What folding and fusion did: each compiled op with the model ops it absorbed. */
  readonly fused: readonly { readonly name: string; readonly members: readonly string[] }[];
}
