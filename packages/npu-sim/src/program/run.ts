import { computeQParams, makeQParams, minMax, type QParams } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import { activationBounds, activationClamp, gemmOutputStage } from "../compiler/lower.js";
import { quantizeBias } from "../compiler/quantize-parameters.js";
import { conv2dInt, conv2dIntRequantized } from "../conv2d-int.js";
import { addInt, addIntMlas, mulInt } from "../elementwise-int.js";
import { gemmInt, gemmIntRequantized } from "../gemm-int.js";
import type { IntActivations } from "../int-activations.js";
import { allocateIntArray } from "../int-container.js";
import { type IntArray, type OverflowCounts, overflowCounts } from "../overflow.js";
import { avgPool2dInt, maxPool2dInt } from "../pool-int.js";
import { dequantizeTensor, quantizeTensor, requantizeTensor } from "../quantize-int.js";
import { type PreparedOutputStage, prepareOutputStage, requantizeInto } from "../requantize.js";
import { applyActivation, runFloatStep } from "./float-ops.js";
import type { ConvStep, IntegerProgram, LinearStep, PlainQParams, ProgramStep } from "./program.js";

/*
 * The interpreter of integer programs. Integer steps call the bit-exact kernels; float steps run on
 * the CPU fallback. Static programs run the batch in chunks; programs with dynamic activation scaling
 * run one input at a time, because each input gets its own scales (as onnxruntime's dynamic
 * quantization does per call).
 */

export interface RunOptions {
  /** Also return every value of the program (dequantized to float32), keyed by value id. */
  readonly intermediates?: boolean;
  /** Count overflow events (accumulator, int16 pairs, output clamps) per step. */
  readonly overflow?: boolean;
  /** Inputs per pass for static programs (default 256). */
  readonly chunk?: number;
}

export interface RunResult {
  /** The program output, dequantized: [N, ...outputShape] float32. */
  readonly output: T.Tensor;
  /** Every value of the program as float32 [N, ...shape] (when asked). */
  readonly intermediates?: Readonly<Record<string, T.Tensor>>;
  /**
   * With `intermediates`: the qparams each integer value had for each input (the program's own for
   * static scaling, each input's for dynamic scaling).
   */
  readonly intermediateQParams?: Readonly<Record<string, readonly PlainQParams[]>>;
  /** Overflow counts of each step, aligned with `program.steps` (when asked). */
  readonly overflow?: readonly OverflowCounts[];
  /** Run-time events worth reporting (dynamic biases that had to saturate). */
  readonly warnings: readonly string[];
}

const RUN_OPTIONS = new Set(["intermediates", "overflow", "chunk"]);

/** A value while a chunk runs: codes with their (run-time) qparams, or float32. */
interface Live {
  readonly n: number;
  readonly shape: readonly number[];
  readonly codes?: IntArray;
  readonly q?: PlainQParams;
  readonly real?: T.Tensor;
}

const preparedStages = new WeakMap<object, PreparedOutputStage>();

function prepared(step: ConvStep | LinearStep): PreparedOutputStage {
  let p = preparedStages.get(step);
  if (p === undefined) {
    p = prepareOutputStage(step.outputStage!);
    preparedStages.set(step, p);
  }
  return p;
}

function toQParams(q: PlainQParams): QParams {
  return makeQParams(q.scale, q.zeroPoint);
}

export function run(program: IntegerProgram, input: T.Tensor, options: RunOptions = {}): RunResult {
  const fn = "run";
  if (program === null || typeof program !== "object" || program.format !== "quant-trim.integer-program/1") {
    throw new Error(`${fn}: program must be an IntegerProgram from compile()`);
  }
  for (const k of Object.keys(options)) {
    if (!RUN_OPTIONS.has(k))
      throw new Error(`${fn}: unknown option '${k}'; known options: ${[...RUN_OPTIONS].join(", ")}`);
  }
  if (!(input instanceof T.Tensor)) throw new Error(`${fn}: input must be a Tensor`);
  const want = program.inputShape;
  if (input.ndim !== want.length + 1 || want.some((d, i) => input.shape[i + 1] !== d)) {
    throw new Error(
      `${fn}: input has shape [${input.shape.join(", ")}] but the program takes [N, ${want.join(", ")}]`,
    );
  }
  const dynamic = program.profile.activationScaling === "dynamic";
  const chunk = dynamic ? 1 : (options.chunk ?? 256);
  if (!Number.isInteger(chunk) || chunk < 1)
    throw new Error(`${fn}: options.chunk must be a positive integer, got ${chunk}`);
  const N = input.shape[0]!;
  const per = want.reduce((p, d) => p * d, 1);
  const x = input.contiguous().values();
  const overflow = options.overflow ? program.steps.map(() => overflowCounts()) : undefined;
  const warnings: string[] = [];
  const outShape = program.values[program.output]!.shape;
  const outPer = outShape.reduce((p, d) => p * d, 1);
  const output = new Float32Array(N * outPer);
  const collected: Record<string, Float32Array> | undefined = options.intermediates ? {} : undefined;
  const collectedQ: Record<string, PlainQParams[]> = {};
  if (collected) {
    for (const [id, v] of Object.entries(program.values)) {
      collected[id] = new Float32Array(N * v.shape.reduce((p, d) => p * d, 1));
    }
  }
  for (let from = 0; from < N; from += chunk) {
    const n = Math.min(chunk, N - from);
    const xs = x.subarray(from * per, (from + n) * per);
    const live = runChunk(program, T.fromData(Float32Array.from(xs), [n, ...want]), n, overflow, warnings);
    const out = live.get(program.output)!.real!.toFloat32Array();
    output.set(out, from * outPer);
    if (collected) {
      for (const [id, v] of live) {
        const size = v.shape.reduce((p, d) => p * d, 1);
        collected[id]!.set(realOf(program, id, v), from * size);
        if (v.q) {
          const list = collectedQ[id] ?? [];
          for (let k = 0; k < n; k++) list.push(v.q);
          collectedQ[id] = list;
        }
      }
    }
  }
  const result: {
    output: T.Tensor;
    warnings: string[];
    intermediates?: Record<string, T.Tensor>;
    intermediateQParams?: Record<string, PlainQParams[]>;
    overflow?: OverflowCounts[];
  } = { output: T.fromData(output, [N, ...outShape]), warnings };
  if (collected) {
    const inter: Record<string, T.Tensor> = {};
    for (const [id, data] of Object.entries(collected))
      inter[id] = T.fromData(data, [N, ...program.values[id]!.shape]);
    result.intermediates = inter;
    result.intermediateQParams = collectedQ;
  }
  if (overflow) result.overflow = overflow;
  return result;
}

/** The real values of a live value (dequantized codes, or its float data). */
function realOf(program: IntegerProgram, id: string, v: Live): Float32Array {
  if (v.real) return v.real.toFloat32Array();
  return dequantizeTensor(v.codes!, toQParams(v.q!), program.values[id]!.grid!);
}

function runChunk(
  program: IntegerProgram,
  x: T.Tensor,
  n: number,
  overflow: OverflowCounts[] | undefined,
  warnings: string[],
): Map<string, Live> {
  const live = new Map<string, Live>();
  live.set(program.input, { n, shape: program.inputShape, real: x });
  program.steps.forEach((step, i) => {
    const counts = overflow?.[i];
    live.set(step.output, runStep(program, step, live, n, counts, warnings));
  });
  return live;
}

/** Static qparams of a value, or the ones a dynamic value gets from `real` (its tensor's own range). */
function qparamsFor(program: IntegerProgram, id: string, realMin: () => [number, number]): PlainQParams {
  const q = program.values[id]!.qparams!;
  if (q !== "dynamic") return q;
  const [lo, hi] = realMin();
  const qp = computeQParams(lo, hi, program.values[id]!.grid!);
  return { scale: Array.from(qp.scale), zeroPoint: Array.from(qp.zeroPoint) };
}

function rangeOf(values: ArrayLike<number>, bounds: [number, number]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return [0, 0];
  return [Math.min(Math.max(lo, bounds[0]), bounds[1]), Math.min(Math.max(hi, bounds[0]), bounds[1])];
}

function runStep(
  program: IntegerProgram,
  step: ProgramStep,
  live: Map<string, Live>,
  n: number,
  counts: OverflowCounts | undefined,
  warnings: string[],
): Live {
  const profile = program.profile;
  const grid = profile.activation;
  const outValue = program.values[step.output]!;
  const shape = outValue.shape;
  const inputs = step.inputs.map((id) => (id === "" ? null : live.get(id)!));
  const a = inputs[0];
  switch (step.op) {
    case "quantize": {
      const real = a!.real!.toFloat32Array();
      const q = qparamsFor(program, step.output, () => {
        const r = minMax(real, grid);
        return [r.min[0]!, r.max[0]!];
      });
      return { n, shape, codes: quantizeTensor(real, toQParams(q), grid), q };
    }
    case "dequantize": {
      const real = dequantizeTensor(a!.codes!, toQParams(a!.q!), grid);
      return { n, shape, real: T.fromData(real, [n, ...shape]) };
    }
    case "conv2d":
    case "linear":
      return runGemmStep(program, step, a!, n, counts, warnings);
    case "add":
    case "mul": {
      const b = inputs[1]!;
      const operand = (v: Live) => ({
        data: v.codes!,
        shape: [n, ...v.shape],
        scale: v.q!.scale[0]!,
        zeroPoint: v.q!.zeroPoint[0]!,
      });
      const bounds = activationBounds(step.activation);
      const q = qparamsFor(program, step.output, () => {
        const ra = realOf(program, step.inputs[0]!, a!);
        const rb = realOf(program, step.inputs[1]!, b);
        const ta = T.fromData(ra, [n, ...a!.shape]);
        const tb = T.fromData(rb, [n, ...b.shape]);
        const r = (step.op === "add" ? T.add(ta, tb) : T.mul(ta, tb)).toFloat32Array();
        return rangeOf(r, bounds);
      });
      const out = { scale: q.scale[0]!, zeroPoint: q.zeroPoint[0]!, spec: grid };
      const clamp = activationClamp(step.activation, out.scale, out.zeroPoint, grid);
      let codes: IntArray;
      if (step.op === "mul") {
        codes = mulInt(operand(a!), operand(b), out, {
          clamp,
          mode: profile.requant.mode,
          ...(profile.requant.shiftRounding ? { shiftRounding: profile.requant.shiftRounding } : {}),
          ...(counts ? { overflow: counts } : {}),
        }).data;
      } else if (profile.requant.mode === "float32") {
        // onnxruntime's QLinearAdd has no fused activation: the clamp is a separate saturation.
        codes = addIntMlas(operand(a!), operand(b), out, {
          kernel: profile.pairSaturation ? "avx2-fma" : "scalar",
          ...(counts ? { overflow: counts } : {}),
        }).data;
        clampInPlace(codes, clamp.qmin, clamp.qmax, counts);
      } else {
        codes = addInt(operand(a!), operand(b), out, {
          clamp,
          rounding: profile.requant.mode === "single-rounding" ? "single-rounding" : "gemmlowp",
          ...(counts ? { overflow: counts } : {}),
        }).data;
      }
      return { n, shape, codes, q };
    }
    case "clamp": {
      const bounds = activationBounds(step.activation);
      const q = qparamsFor(program, step.output, () => rangeOf(realOf(program, step.inputs[0]!, a!), bounds));
      const clamp = activationClamp(step.activation, q.scale[0]!, q.zeroPoint[0]!, grid);
      const codes = requantizeTensor(
        a!.codes!,
        { qparams: toQParams(a!.q!), spec: grid },
        { qparams: toQParams(q), spec: grid },
        profile.requant.mode,
        {
          clamp,
          ...(profile.requant.shiftRounding ? { shiftRounding: profile.requant.shiftRounding } : {}),
          ...(counts ? { overflow: counts } : {}),
        },
      );
      return { n, shape, codes, q };
    }
    case "max-pool":
    case "avg-pool": {
      const opts = {
        kernel: step.kernel,
        stride: step.stride,
        padding: step.padding,
        ...(counts ? { overflow: counts } : {}),
      };
      const x4 = [n, ...a!.shape];
      const pooled =
        step.op === "max-pool" ? maxPool2dInt(a!.codes!, x4, opts) : avgPool2dInt(a!.codes!, x4, opts);
      return { n, shape, codes: pooled.data, q: a!.q! };
    }
    case "reshape":
      return { n, shape, codes: a!.codes!, q: a!.q! };
    case "float": {
      const out = runFloatStep(
        step,
        inputs.map((v) => (v === null ? null : v.real!)),
      );
      return { n, shape, real: out };
    }
  }
}

function clampInPlace(codes: IntArray, lo: number, hi: number, counts: OverflowCounts | undefined): void {
  let clamps = 0;
  for (let i = 0; i < codes.length; i++) {
    const v = codes[i]!;
    if (v < lo) {
      codes[i] = lo;
      clamps++;
    } else if (v > hi) {
      codes[i] = hi;
      clamps++;
    }
  }
  if (counts) counts.outputClamps += clamps;
}

function runGemmStep(
  program: IntegerProgram,
  step: ConvStep | LinearStep,
  a: Live,
  n: number,
  counts: OverflowCounts | undefined,
  warnings: string[],
): Live {
  const profile = program.profile;
  const grid = profile.activation;
  const outValue = program.values[step.output]!;
  const shape = outValue.shape;
  const x: IntActivations = {
    data: a.codes as Int8Array | Uint8Array,
    shape: step.op === "conv2d" ? [n, ...a.shape] : [n, a.shape[0]!],
    zeroPoint: a.q!.zeroPoint[0]!,
  };
  const common = {
    accumulator: profile.accumulator,
    pairSaturation: profile.pairSaturation,
    ...(counts ? { overflow: counts } : {}),
  };
  const convOptions =
    step.op === "conv2d"
      ? {
          stride: step.stride,
          padding: step.padding,
          dilation: step.dilation,
          groups: step.groups,
          // Every backend modelled here reduces channels-last (NHWC kernels), which matters for int16
          // pair saturation and saturating accumulators.
          reductionOrder: "kh-kw-c" as const,
        }
      : { transposeB: true };
  const size = n * shape.reduce((p, d) => p * d, 1);
  const channels = step.weights.shape[0]!;
  const inner = step.op === "conv2d" ? shape[1]! * shape[2]! : 1;
  if (step.outputStage !== null) {
    const out = allocateIntArray(grid, size);
    const options = { ...common, ...convOptions, bias: step.bias };
    if (step.op === "conv2d") conv2dIntRequantized(x, step.weights, prepared(step), out, options);
    else gemmIntRequantized(x, step.weights, prepared(step), out, options);
    return { n, shape, codes: out, q: outValue.qparams as PlainQParams };
  }
  // Dynamic scaling (the bias at this input's scale) or a float output: raw accumulators first.
  const sIn = a.q!.scale[0]!;
  const sw = step.weightQParams.scale;
  let bias = step.bias;
  if (program.values[step.inputs[0]!]!.qparams === "dynamic") {
    const qb = quantizeBias(step.biasFloat, channels, sIn, sw, step.weightGrid, profile.bias.bits);
    for (const o of qb.outOfRange) {
      warnings.push(`'${step.name}' bias channel ${o.channel} needs ${o.bits} bits at run time: saturated`);
    }
    bias = qb.bias;
  }
  const options = { ...common, ...convOptions, bias };
  const acc = step.op === "conv2d" ? conv2dInt(x, step.weights, options) : gemmInt(x, step.weights, options);
  if (outValue.domain === "float") {
    // Dequantized accumulators, fp32(acc · fp32(s_in·s_w[c])), then the fused activation in float.
    const real = new Float32Array(acc.length);
    const f = Math.fround;
    const perChannel = sw.map((s) => f(sIn * s));
    for (let i = 0; i < acc.length; i++) {
      real[i] = f(acc[i]! * perChannel[sw.length === 1 ? 0 : Math.floor(i / inner) % channels]!);
    }
    return { n, shape, real: applyActivation(T.fromData(real, [n, ...shape]), step.activation) };
  }
  const bounds = activationBounds(step.activation);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < acc.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const v = acc[i]! * sIn * sw[sw.length === 1 ? 0 : c]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) lo = hi = 0;
  const clampedLo = Math.min(Math.max(lo, bounds[0]), bounds[1]);
  const clampedHi = Math.min(Math.max(hi, bounds[0]), bounds[1]);
  const qp = computeQParams(clampedLo, clampedHi, grid);
  const q: PlainQParams = { scale: Array.from(qp.scale), zeroPoint: Array.from(qp.zeroPoint) };
  const stage = prepareOutputStage(gemmOutputStage(profile, sIn, sw, q, grid, step.activation));
  const out = allocateIntArray(grid, size);
  const clampCounts = overflowCounts();
  requantizeInto(acc, stage, out, { channels, inner }, clampCounts);
  if (counts) counts.outputClamps += clampCounts.outputClamps;
  return { n, shape, codes: out, q };
}
