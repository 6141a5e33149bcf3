import type { GridSpec } from "@quant-trim/quant";
import type { RequantMode, ShiftRounding } from "../requantize.js";

/*
 * What a backend profile says, as plain data. A profile is everything the compiler needs to imitate one
 * vendor toolchain: the grids it quantizes weights and activations to, the integer arithmetic of its
 * kernels, which ops its accelerator runs (and under which constraints), what happens to the rest, and
 * how it calibrates. Adding a backend means writing one of these objects; no code path depends on a
 * profile's name.
 */

/**
 * The ops the compiler lowers to integer kernels (after BatchNorm folding and fusion). Anything else
 * (tanh, sigmoid, division, …) has no integer kernel in this simulator and always runs on the CPU in
 * float32, whatever a profile says.
 */
export type NpuOp =
  | "conv2d"
  | "depthwise-conv2d"
  | "linear"
  | "add"
  | "mul"
  | "max-pool"
  | "avg-pool"
  | "clamp"
  | "reshape";

export const NPU_OPS: readonly NpuOp[] = Object.freeze([
  "conv2d",
  "depthwise-conv2d",
  "linear",
  "add",
  "mul",
  "max-pool",
  "avg-pool",
  "clamp",
  "reshape",
]);

/** Activations a fused integer op applies as an output clamp. */
export type FusibleActivation = "relu" | "relu6";
export const FUSIBLE_ACTIVATIONS: readonly FusibleActivation[] = Object.freeze(["relu", "relu6"]);

/**
 * Limits an accelerator puts on one op. An op outside them is not run by the accelerator: it falls
 * back (see `BackendProfile.fallback`) with a warning naming the limit.
 */
export interface OpConstraints {
  /** Weight grid of this op when it differs from the profile's (Ethos-U: per-tensor for linear). */
  readonly weight?: GridSpec;
  /** Inclusive range allowed for each stride. */
  readonly stride?: readonly [number, number];
  /** Largest kernel (height, width) for convolutions and pools. */
  readonly maxKernel?: readonly [number, number];
  /** Largest dilated kernel height, `(k − 1)·d + 1`. */
  readonly maxDilatedKernelHeight?: number;
  /** Largest dilated kernel area. */
  readonly maxDilatedKernelArea?: number;
  /** Largest channel count of the op's input or output. */
  readonly maxChannels?: number;
}

/** Range calibration of activations (weights always use their exact min/max on the grid). */
export type CalibrationSpec =
  | { readonly method: "min-max" }
  /** Clip at the p-th percentile of the calibration values (p in (50, 100]). */
  | { readonly method: "percentile"; readonly percentile: number }
  /** TensorRT's entropy calibration: the |x| threshold minimising KL(P‖Q) on a histogram. */
  | { readonly method: "entropy"; readonly bins: number; readonly quantizedBins: number }
  /** The clipping range minimising the quantization MSE on the activation grid. */
  | { readonly method: "mse" };

export type CalibrationMethod = CalibrationSpec["method"];
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = Object.freeze([
  "min-max",
  "percentile",
  "entropy",
  "mse",
]);

/**
 * Constants of the cost model (see docs/npu-sim.md): a first-order roofline, not a measurement.
 * Latency = Σ_precision MACs / rate + bytes moved / bandwidth + ops · overhead + boundaries · switch;
 * energy = Σ_precision MACs · pJ/MAC + bytes · pJ/byte.
 */
export interface CostConstants {
  /** Multiply-accumulates per second on the accelerator: 8-bit operands, ≤ 4-bit operands. */
  readonly npuMacsPerSecond: { readonly int8: number; readonly int4: number };
  /** Float32 multiply-accumulates per second of the CPU that runs fallback ops. */
  readonly cpuMacsPerSecond: number;
  /** Bytes per second between memory and the compute units. */
  readonly bytesPerSecond: number;
  /** Fixed cost of launching one op. */
  readonly opOverheadSeconds: number;
  /** Cost of one hand-over between accelerator and CPU (a partition boundary). */
  readonly partitionSwitchSeconds: number;
  readonly npuPicojoulesPerMac: { readonly int8: number; readonly int4: number };
  readonly cpuPicojoulesPerMac: number;
  readonly picojoulesPerByte: number;
}

export interface BackendProfile {
  /** Stable identifier (lowercase, digits and dashes). */
  readonly name: string;
  /** One line: what this profile stands for. */
  readonly summary: string;
  /** Public sources of its behaviour (spec pages, source files, issue threads). */
  readonly sources: readonly string[];
  /** Weight grid (per-channel grids use axis 0, the output channel). */
  readonly weight: GridSpec;
  /** Activation grid, per-tensor; also the grid of the model input and output. */
  readonly activation: GridSpec;
  /** How int32 accumulators become output codes. */
  readonly requant: { readonly mode: RequantMode; readonly shiftRounding?: ShiftRounding };
  /** Accumulator width and what happens past it. */
  readonly accumulator: { readonly bits: number; readonly overflow: "wrap" | "saturate" };
  /** x86 AVX2 without VNNI: pairs of u8×s8 products saturate to int16 before accumulating. */
  readonly pairSaturation: boolean;
  /** Bias width in bits (int32 biases at s_in·s_w; values that need more are flagged). */
  readonly bias: { readonly bits: number };
  /** Activations fused into the preceding integer op as output clamps. */
  readonly fusedActivations: readonly FusibleActivation[];
  /** Ops the accelerator runs, each with its limits; an op missing here is unsupported. */
  readonly ops: Readonly<Partial<Record<NpuOp, OpConstraints>>>;
  /** Unsupported ops: run on the CPU in float32, or refuse to compile. */
  readonly fallback: "cpu-float" | "error";
  /** `any`: every unsupported op falls back alone. `single-cut`: the first one and everything after it. */
  readonly partitioning: "any" | "single-cut";
  readonly calibration: CalibrationSpec;
  /** Static: ranges from a calibration batch. Dynamic: each input's own ranges, at run time. */
  readonly activationScaling: "static" | "dynamic";
  /**
   * The model output leaves the accelerator as float32: when the last op is a convolution or linear
   * layer, its int32 accumulators are dequantized (s_in·s_w) instead of requantized to an output grid,
   * as TensorRT does for an unquantized network output and onnxruntime's dynamic quantization for every
   * MatMulInteger. Otherwise the output is requantized and then dequantized (TFLite's int8 output).
   */
  readonly floatOutput: boolean;
  readonly cost: CostConstants;
}
