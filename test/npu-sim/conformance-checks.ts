import {
  type BackendProfile,
  constraintViolations,
  type IntegerProgram,
  type NpuOp,
  type PlainQParams,
  type ProgramStep,
  weightCode,
  weightZeroPoint,
} from "@quant-trim/npu-sim";
import { qRange } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";

/*
 * Checks the conformance suite applies to every compiled program, written independently of the
 * compiler: what a profile allows (profileViolations) and how far each integer step may be from the
 * float model given its grid steps (stepBoundViolations).
 */

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function npuOp(s: ProgramStep): NpuOp | null {
  switch (s.op) {
    case "conv2d":
      return s.kind;
    case "linear":
    case "add":
    case "mul":
    case "max-pool":
    case "avg-pool":
    case "clamp":
    case "reshape":
      return s.op;
    default:
      return null;
  }
}

/** Every way the program breaks its own profile's rules (empty when it conforms). */
export function profileViolations(program: IntegerProgram, profile: BackendProfile): string[] {
  const out: string[] = [];
  if (!same(program.profile, profile)) out.push("the program carries a different profile");
  let sawCpu = false;
  for (const s of program.steps) {
    const where = `step '${s.name || s.op}'`;
    if (s.device === "cpu") {
      sawCpu = true;
      if (profile.fallback === "error")
        out.push(`${where} runs on the CPU though the profile has no fallback`);
      if (s.op !== "float" && s.op !== "dequantize")
        out.push(`${where}: only float steps and dequantization run on the CPU`);
      continue;
    }
    if (s.op === "float") out.push(`${where}: a float step on the accelerator`);
    if (profile.partitioning === "single-cut" && sawCpu && s.op !== "dequantize") {
      out.push(`${where} runs on the accelerator after the CPU partition (single-cut)`);
    }
    const op = npuOp(s);
    if (op !== null) {
      const c = profile.ops[op];
      if (c === undefined) out.push(`${where}: the profile does not support ${op}`);
      else if (s.op === "conv2d") {
        const w = s.weights.shape;
        const v = constraintViolations(
          op,
          {
            stride: s.stride,
            kernel: [w[2]!, w[3]!],
            dilation: s.dilation,
            inChannels: (w[1]! * s.groups) as number,
            outChannels: w[0]!,
          },
          c,
        );
        for (const m of v) out.push(`${where}: ${m}`);
      } else if (s.op === "max-pool" || s.op === "avg-pool") {
        for (const m of constraintViolations(op, { stride: s.stride, kernel: s.kernel }, c))
          out.push(`${where}: ${m}`);
      }
    }
    if (s.op === "conv2d" || s.op === "linear") {
      const grid = profile.ops[npuOp(s)!]?.weight ?? profile.weight;
      if (!same(s.weightGrid, grid)) out.push(`${where}: weights on another grid than the profile's`);
      const { qmin, qmax } = qRange(grid);
      const packed = grid.bits <= 4;
      if (packed !== (s.weights.type === "int4" || s.weights.type === "uint4"))
        out.push(`${where}: weight storage ${s.weights.type} for ${grid.bits}-bit weights`);
      if (packed && s.weights.data.length !== Math.ceil(s.weights.size / 2))
        out.push(`${where}: packed weights have the wrong length`);
      for (let i = 0; i < s.weights.size; i++) {
        const q = weightCode(s.weights, i);
        if (q < qmin || q > qmax) {
          out.push(`${where}: weight code ${q} outside [${qmin}, ${qmax}]`);
          break;
        }
      }
      const zpOk = Array.from({ length: s.weights.shape[0]! }, (_, c) => weightZeroPoint(s.weights, c)).every(
        (z) => z >= qmin && z <= qmax && (!grid.symmetric || z === (grid.signed ? 0 : z)),
      );
      if (!zpOk) out.push(`${where}: weight zero point outside the grid`);
      const limit = Math.min(2 ** (profile.bias.bits - 1) - 1, 2 ** 31 - 1);
      if (s.bias.some((b) => Math.abs(b) > limit))
        out.push(`${where}: bias beyond ${profile.bias.bits} bits`);
      if (s.outputStage && s.outputStage.mode !== profile.requant.mode)
        out.push(`${where}: requantizes with ${s.outputStage.mode}`);
      const floatOut = program.values[s.output]!.domain === "float";
      if (floatOut && !(profile.floatOutput && s.output === program.output))
        out.push(`${where}: a float output the profile does not allow`);
      if ((s.outputStage === null) !== (profile.activationScaling === "dynamic" || floatOut))
        out.push(`${where}: output stage does not match the scaling`);
    }
    if (
      "activation" in s &&
      typeof s.activation === "string" &&
      s.activation !== "none" &&
      s.op !== "clamp"
    ) {
      if (!profile.fusedActivations.includes(s.activation))
        out.push(`${where}: fuses ${s.activation}, which the profile does not`);
    }
  }
  for (const [id, v] of Object.entries(program.values)) {
    if (v.domain !== "int") continue;
    if (!same(v.grid, profile.activation))
      out.push(`value '${id}': codes on another grid than the profile's activations`);
    if ((v.qparams === "dynamic") !== (profile.activationScaling === "dynamic"))
      out.push(`value '${id}': static/dynamic mismatch`);
  }
  return out;
}

/** Checks one program's qparams (static ones, or the run's per-input ones) against the grid. */
export function qparamsViolations(
  program: IntegerProgram,
  perInput: Readonly<Record<string, readonly PlainQParams[]>>,
): string[] {
  const out: string[] = [];
  const grid = program.profile.activation;
  const { qmin, qmax } = qRange(grid);
  for (const [id, list] of Object.entries(perInput)) {
    for (const q of list) {
      const s = q.scale[0]!;
      const z = q.zeroPoint[0]!;
      if (!(s > 0) || !Number.isFinite(s)) out.push(`value '${id}': scale ${s}`);
      if (z < qmin || z > qmax) out.push(`value '${id}': zero point ${z} outside [${qmin}, ${qmax}]`);
      if (grid.scaleConstraint === "power-of-two" && 2 ** Math.round(Math.log2(s)) !== s)
        out.push(`value '${id}': scale ${s} is not a power of two`);
    }
  }
  return out;
}

/**
 * Requantization error in output steps: half a step for the rounding, up to half more for gemmlowp's
 * second rounding, and half for a ReLU6 bound whose code was itself rounded.
 */
const REQUANT_STEPS = 1.5;

/** Dequantized weights of a conv/linear step as a float tensor of the weight's shape. */
function realWeights(s: Extract<ProgramStep, { op: "conv2d" | "linear" }>): T.Tensor {
  const w = s.weights;
  const perChannel = w.size / w.shape[0]!;
  const out = new Float32Array(w.size);
  const sc = s.weightQParams.scale;
  for (let i = 0; i < w.size; i++) {
    const c = Math.floor(i / perChannel);
    out[i] = (weightCode(w, i) - weightZeroPoint(w, c)) * sc[sc.length === 1 ? 0 : c]!;
  }
  return T.fromData(out, [...w.shape]);
}

/** One scale (per input sample) as a tensor broadcasting over [N, ...shape]. */
function perSample(values: readonly number[], rank: number): T.Tensor {
  return T.fromData(Float32Array.from(values), [values.length, ...new Array<number>(rank - 1).fill(1)]);
}

function abs(t: T.Tensor): T.Tensor {
  return T.abs(t);
}

/**
 * The measured error of every integer step's output against the float model may not exceed what its
 * grids allow, given the measured error of its inputs (d = |x̂ − x|):
 *   quantize:      d_in + s/2 + clipping beyond the grid's range
 *   conv / linear: Σ|ŵ|·d_in + Σ|x|·s_w/2 + s_in·s_w/2 (bias) + 1.5·s_out (requantization) + clipping
 *   add:           d_a + d_b + 1.5·s_out + clipping;   mul: |b̂|·d_a + |a|·d_b + 1.5·s_out + clipping
 *   clamp:         d_in + 1.5·s_out + clipping;  max-pool: window max of d_in;  avg-pool: mean of d_in + s/2
 * (clipping: how far the float value, widened by the propagated error, lies outside the codes' real
 * range). Returns one message per step that breaks its bound.
 */
export function stepBoundViolations(
  program: IntegerProgram,
  fp: ReadonlyMap<string, T.Tensor>,
  inter: Readonly<Record<string, T.Tensor>>,
  qparams: Readonly<Record<string, readonly PlainQParams[]>>,
  skip: ReadonlySet<number> = new Set(),
): string[] {
  const out: string[] = [];
  const grid = program.profile.activation;
  const { qmin, qmax } = qRange(grid);
  const real = (id: string) => inter[id]!;
  const ref = (id: string) => fp.get(program.values[id]!.source)!;
  const err = (id: string) => abs(T.sub(real(id), ref(id)));
  const scales = (id: string) => qparams[id]!.map((q) => q.scale[0]!);
  const zps = (id: string) => qparams[id]!.map((q) => q.zeroPoint[0]!);
  /** How far [y − e, y + e] reaches outside the codes' real range of value `id`. */
  const clipping = (id: string, y: T.Tensor, e: T.Tensor) => {
    const r = y.ndim;
    const s = perSample(scales(id), r);
    const z = perSample(zps(id), r);
    const lo = T.mul(T.sub(qmin, z), s);
    const hi = T.mul(T.sub(qmax, z), s);
    return T.add(T.relu(T.sub(T.add(y, e), hi)), T.relu(T.sub(lo, T.sub(y, e))));
  };
  program.steps.forEach((s, index) => {
    if (s.device !== "npu" || s.op === "dequantize" || s.op === "reshape" || skip.has(index)) return;
    const y = ref(s.output);
    const rank = y.ndim;
    // A float output (dequantized accumulators) has no output grid: no requantization, no clipping.
    const floatOut = program.values[s.output]!.domain === "float";
    const sOut = floatOut ? T.zeros([1]) : perSample(scales(s.output), rank);
    let bound: T.Tensor;
    switch (s.op) {
      case "quantize": {
        const dIn = err(s.inputs[0]!);
        bound = T.add(T.add(dIn, T.mul(sOut, 0.5)), clipping(s.output, y, dIn));
        break;
      }
      case "conv2d":
      case "linear": {
        const x = s.inputs[0]!;
        const dIn = err(x);
        const w = realWeights(s);
        const sw = s.weightQParams.scale;
        const c = w.shape[0]!;
        // Nearest rounding on a grid that covers the weights: half a step; an asymmetric grid's rounded
        // zero point can shift the grid by another half step past the range's end.
        const wStep = s.weightGrid.symmetric ? 0.5 : 1;
        const halfStep = T.fromData(
          Float32Array.from(
            { length: w.size },
            (_, i) => sw[sw.length === 1 ? 0 : Math.floor(i / (w.size / c))]! * wStep,
          ),
          [...w.shape],
        );
        const apply = (a: T.Tensor, k: T.Tensor) =>
          s.op === "conv2d"
            ? T.conv2d(a, k, null, {
                stride: [...s.stride] as [number, number],
                padding: [...s.padding] as [number, number],
                dilation: [...s.dilation] as [number, number],
                groups: s.groups,
              })
            : T.matmul(a, T.transpose(k));
        const sIn = perSample(scales(x), rank);
        const swT = T.fromData(
          Float32Array.from({ length: c }, (_, k) => sw[sw.length === 1 ? 0 : k]!),
          s.op === "conv2d" ? [1, c, 1, 1] : [1, c],
        );
        const biasTerm = T.mul(T.mul(sIn, swT), 0.5);
        const linear = T.add(T.add(apply(dIn, abs(w)), apply(abs(ref(x)), halfStep)), biasTerm);
        const e = T.add(linear, T.mul(sOut, REQUANT_STEPS));
        bound = floatOut ? e : T.add(e, clipping(s.output, y, e));
        break;
      }
      case "add":
      case "mul": {
        const [a, b] = s.inputs as [string, string];
        const da = err(a);
        const db = err(b);
        const lin = s.op === "add" ? T.add(da, db) : T.add(T.mul(abs(real(b)), da), T.mul(abs(ref(a)), db));
        const e = T.add(lin, T.mul(sOut, REQUANT_STEPS));
        bound = T.add(e, clipping(s.output, y, e));
        break;
      }
      case "clamp": {
        const e = T.add(err(s.inputs[0]!), T.mul(sOut, REQUANT_STEPS));
        bound = T.add(e, clipping(s.output, y, e));
        break;
      }
      case "max-pool":
        bound = T.maxPool2d(err(s.inputs[0]!), {
          kernel: [...s.kernel] as [number, number],
          stride: [...s.stride] as [number, number],
          padding: [...s.padding] as [number, number],
        }).out;
        break;
      case "avg-pool":
        bound = T.add(
          T.avgPool2d(err(s.inputs[0]!), {
            kernel: [...s.kernel] as [number, number],
            stride: [...s.stride] as [number, number],
            padding: [...s.padding] as [number, number],
            countIncludePad: false,
          }),
          T.mul(sOut, 0.5),
        );
        break;
      default:
        return;
    }
    // Float32 evaluation of both sides: a relative slack far below one grid step.
    const measured = err(s.output).toFloat32Array();
    const b = T.add(T.add(bound, T.mul(abs(y), 1e-5)), 1e-6).toFloat32Array();
    for (let i = 0; i < measured.length; i++) {
      if (!(measured[i]! <= b[i]!)) {
        out.push(
          `step '${s.name || s.op}' (${s.op}) element ${i}: error ${measured[i]} exceeds its grid bound ${b[i]}`,
        );
        break;
      }
    }
  });
  return out;
}
