import { type GridSpec, qRange } from "@quant-trim/quant";
import { fusedActivationRange } from "../activation.js";
import type { BackendProfile } from "../profiles/schema.js";
import type {
  FloatStep,
  IntegerProgram,
  Partition,
  PlainQParams,
  ProgramStep,
  ProgramValue,
  StepActivation,
} from "../program/program.js";
import type { OutputStage } from "../requantize.js";
import { foldFactor } from "./fold-batchnorm.js";
import type { IrActivation, IrGraph, IrNode } from "./ir.js";
import { type Placement, pair } from "./placement.js";
import { quantizeBias, quantizeWeights } from "./quantize-parameters.js";

/*
 * Lowering: every placed IR node becomes one program step; integer steps get their quantized weights,
 * biases and output stages, float steps their float parameters; Quantize / Dequantize steps are
 * inserted wherever a value crosses between the integer and the float domain (the model input and
 * output included).
 */

/** An integer value that needs its own scale and zero point, and the name of its quantization point. */
export interface QuantizationPoint {
  /** The program value that will hold the codes. */
  readonly value: string;
  /** The float value of the model it quantizes (a trace id): what calibration observes. */
  readonly source: string;
  /** `input`, `<module>.output` or `<op handle>.output` — the names QAT gives its activation points. */
  readonly point: string;
}

const OWN_QPARAMS = new Set(["conv2d", "linear", "add", "mul", "activation"]);

const quantizedId = (id: string) => `${id}@q`;
const dequantizedId = (id: string) => `${id}@f`;

/**
 * Whether node `k` produces the model output in float32: the profile keeps the output float and the
 * last op is an accelerated convolution or linear layer whose result nothing else reads (its
 * accumulators are dequantized).
 */
export function producesFloatOutput(
  ir: IrGraph,
  placements: readonly Placement[],
  k: number,
  floatOutput: boolean,
): boolean {
  const node = ir.nodes[k]!;
  return (
    floatOutput &&
    node.output === ir.output &&
    placements[k]!.device === "npu" &&
    (node.kind === "conv2d" || node.kind === "linear") &&
    !ir.nodes.some((n) => n.inputs.includes(node.output))
  );
}

/** The quantization points a placement needs (in program order). */
export function quantizationPoints(
  ir: IrGraph,
  placements: readonly Placement[],
  floatOutput: boolean,
): QuantizationPoint[] {
  const points: QuantizationPoint[] = [];
  const producer = new Map<string, { node: IrNode; device: string }>();
  const seenBoundary = new Set<string>();
  ir.nodes.forEach((node, k) => {
    const device = placements[k]!.device;
    if (device === "npu") {
      for (const id of node.inputs) {
        if (id === null || seenBoundary.has(id)) continue;
        const p = producer.get(id);
        if (p === undefined || p.device === "cpu") {
          seenBoundary.add(id);
          points.push({ value: quantizedId(id), source: id, point: p ? `${p.node.name}.output` : "input" });
        }
      }
      if (OWN_QPARAMS.has(node.kind) && !producesFloatOutput(ir, placements, k, floatOutput)) {
        points.push({ value: node.output, source: node.output, point: `${node.name}.output` });
      }
    }
    producer.set(node.output, { node, device });
  });
  return points;
}

function stepActivation(a: IrActivation): StepActivation {
  return typeof a === "string" ? a : { lo: a.lo, hi: a.hi };
}

/** The real interval an activation keeps. */
export function activationBounds(a: StepActivation): [number, number] {
  if (a === "relu") return [0, Number.POSITIVE_INFINITY];
  if (a === "relu6") return [0, 6];
  if (a === "none") return [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  return [a.lo, a.hi];
}

/**
 * The output clamp of an integer op: the grid's range, narrowed by the activation's real bounds (for
 * ReLU/ReLU6 with TFLite's rule, quantizing the bounds half away from zero).
 */
export function activationClamp(
  a: StepActivation,
  scale: number,
  zeroPoint: number,
  grid: GridSpec,
): { qmin: number; qmax: number } {
  if (a === "relu" || a === "relu6") return fusedActivationRange(a, scale, zeroPoint, grid);
  const { qmin, qmax } = qRange(grid);
  if (a === "none") return { qmin, qmax };
  // A general clamp keeps the codes whose real values lie in [lo, hi]; the 1e-9 keeps a bound that is
  // exactly on a code (lo/scale an integer up to float error) from excluding that code.
  const lo = Number.isFinite(a.lo) ? Math.ceil(zeroPoint + a.lo / scale - 1e-9) : qmin;
  const hi = Number.isFinite(a.hi) ? Math.floor(zeroPoint + a.hi / scale + 1e-9) : qmax;
  return { qmin: Math.max(qmin, Math.min(lo, qmax)), qmax: Math.min(qmax, Math.max(hi, qmin)) };
}

/**
 * The output stage of a GEMM/conv: effective scale s_in·s_w[c] / s_out per output channel. The
 * fixed-point modes take it in float64 (TFLite's PopulateConvolutionQuantizationParams); the float32
 * mode multiplies in float32 left to right, as onnxruntime computes a_scale·b_scale / y_scale.
 */
export function gemmOutputStage(
  profile: BackendProfile,
  inScale: number,
  weightScale: readonly number[],
  out: PlainQParams,
  grid: GridSpec,
  activation: StepActivation,
): OutputStage {
  const sOut = out.scale[0]!;
  const zp = out.zeroPoint[0]!;
  const f = Math.fround;
  const effectiveScale = weightScale.map((sw) =>
    profile.requant.mode === "float32" ? f(f(inScale * sw) / sOut) : (inScale * sw) / sOut,
  );
  const { qmin, qmax } = activationClamp(activation, sOut, zp, grid);
  return {
    mode: profile.requant.mode,
    effectiveScale,
    outZeroPoint: zp,
    qmin,
    qmax,
    ...(profile.requant.shiftRounding !== undefined ? { shiftRounding: profile.requant.shiftRounding } : {}),
  };
}

function floatTensor(t: { shape: readonly number[]; toFloat32Array(): Float32Array }) {
  return { shape: [...t.shape], values: t.toFloat32Array() };
}

export interface LowerInput {
  readonly ir: IrGraph;
  readonly placements: readonly Placement[];
  readonly profile: BackendProfile;
  /** qparams of every quantization point's value (or "dynamic"). */
  readonly qparams: ReadonlyMap<string, PlainQParams | "dynamic">;
  readonly points: readonly QuantizationPoint[];
  readonly warnings: string[];
}

export function lower(input: LowerInput): IntegerProgram {
  const { ir, placements, profile, qparams, points, warnings } = input;
  const grid = profile.activation;
  const pointOf = new Map(points.map((p) => [p.value, p]));
  const values: Record<string, ProgramValue> = {};
  const steps: ProgramStep[] = [];
  const floatValue = (id: string, shape: readonly number[], source: string) => {
    values[id] = { shape: [...shape], domain: "float", source };
  };
  const ownIntValue = (id: string, shape: readonly number[], source: string) => {
    const q = qparams.get(id);
    if (q === undefined) throw new Error(`compile: no qparams for value '${id}' (internal error)`);
    values[id] = {
      shape: [...shape],
      domain: "int",
      grid,
      qparams: q,
      point: pointOf.get(id)!.point,
      source,
    };
  };
  floatValue(ir.input, ir.inputShape, ir.input);

  /** The id of `id` in the integer domain, inserting a Quantize step when it is float. */
  const asInt = (id: string): string => {
    if (values[id]!.domain === "int") return id;
    const q = quantizedId(id);
    if (values[q] === undefined) {
      ownIntValue(q, values[id]!.shape, values[id]!.source);
      steps.push({ op: "quantize", name: "", device: "npu", inputs: [id], output: q });
    }
    return q;
  };
  /** The id of `id` in the float domain, inserting a Dequantize step when it holds codes. */
  const asFloat = (id: string, device: "npu" | "cpu"): string => {
    if (values[id]!.domain === "float") return id;
    const f = dequantizedId(id);
    if (values[f] === undefined) {
      floatValue(f, values[id]!.shape, values[id]!.source);
      steps.push({ op: "dequantize", name: "", device, inputs: [id], output: f });
    }
    return f;
  };

  ir.nodes.forEach((node, k) => {
    const placement = placements[k]!;
    const activation = stepActivation(node.activation);
    if (placement.device === "cpu") {
      const inputs = node.inputs.map((id) => (id === null ? "" : asFloat(id, "cpu")));
      floatValue(node.output, node.shape, node.output);
      steps.push(floatStep(node, inputs, activation));
      return;
    }
    const inputs = node.inputs.map((id) => asInt(id!));
    const inQ = values[inputs[0]!]!.qparams!;
    const shared = () => {
      const v = values[inputs[0]!]!;
      values[node.output] = {
        shape: [...node.shape],
        domain: "int",
        grid,
        qparams: inQ,
        point: v.point!,
        source: node.output,
      };
    };
    switch (node.kind) {
      case "conv2d":
      case "linear": {
        const floatOut = producesFloatOutput(ir, placements, k, profile.floatOutput);
        if (floatOut) floatValue(node.output, node.shape, node.output);
        else ownIntValue(node.output, node.shape, node.output);
        const wGrid = profile.ops[placement.npuOp!]?.weight ?? profile.weight;
        const qw = quantizeWeights(node.weight!, wGrid);
        const outQ = floatOut ? null : values[node.output]!.qparams!;
        const channels = node.weight!.shape[0]!;
        const biasFloat = node.bias ? node.bias.toFloat32Array() : null;
        let bias: Int32Array = new Int32Array(channels);
        let outputStage: OutputStage | null = null;
        if (inQ !== "dynamic") {
          const qb = quantizeBias(
            biasFloat,
            channels,
            inQ.scale[0]!,
            qw.qparams.scale,
            wGrid,
            profile.bias.bits,
          );
          bias = qb.bias;
          for (const o of qb.outOfRange) {
            warnings.push(
              `'${node.name}' bias channel ${o.channel} needs ${o.bits} bits (code ${o.value}); the profile allows ${profile.bias.bits}${profile.bias.bits > 32 ? " and the simulator stores int32" : ""}: saturated`,
            );
          }
          if (outQ !== null && outQ !== "dynamic") {
            outputStage = gemmOutputStage(profile, inQ.scale[0]!, qw.qparams.scale, outQ, grid, activation);
          }
        }
        const common = {
          name: node.name,
          device: "npu" as const,
          inputs,
          output: node.output,
          weights: qw.weights,
          weightGrid: wGrid,
          weightQParams: qw.qparams,
          bias,
          biasFloat,
          outputStage,
          activation,
        };
        if (node.kind === "conv2d") {
          steps.push({
            ...common,
            op: "conv2d",
            kind: placement.npuOp!,
            stride: pair(node.attrs.stride, 1),
            padding: pair(node.attrs.padding, 0),
            dilation: pair(node.attrs.dilation, 1),
            groups: (node.attrs.groups as number | undefined) ?? 1,
          });
        } else {
          steps.push({ ...common, op: "linear" });
        }
        return;
      }
      case "add":
      case "mul":
      case "activation": {
        ownIntValue(node.output, node.shape, node.output);
        steps.push({
          op: node.kind === "activation" ? "clamp" : node.kind,
          name: node.name,
          device: "npu",
          inputs,
          output: node.output,
          activation,
        });
        return;
      }
      case "max-pool":
      case "avg-pool": {
        shared();
        const kernel = pair(node.attrs.kernel, 1);
        steps.push({
          op: node.kind,
          name: node.name,
          device: "npu",
          inputs,
          output: node.output,
          kernel,
          stride: node.attrs.stride === undefined ? kernel : pair(node.attrs.stride, 1),
          padding: pair(node.attrs.padding, 0),
        });
        return;
      }
      case "reshape":
        shared();
        steps.push({
          op: "reshape",
          name: node.name,
          device: "npu",
          inputs,
          output: node.output,
          shape: [...(node.attrs.shape as number[])],
        });
        return;
      default:
        throw new Error(
          `compile: '${node.name}' (${node.kind}) was placed on the accelerator but has no lowering`,
        );
    }
  });
  const output = asFloat(ir.output, steps.length > 0 ? steps[steps.length - 1]!.device : "cpu");
  return {
    format: "quant-trim.integer-program/1",
    profile,
    inputShape: [...ir.inputShape],
    input: ir.input,
    output,
    values,
    steps,
    partitions: partitionsOf(steps),
    warnings: [...warnings],
    fused: ir.nodes
      .filter((n) => n.members.length > 1)
      .map((n) => ({ name: n.name, members: [...n.members] })),
  };
}

function floatStep(node: IrNode, inputs: string[], activation: StepActivation): FloatStep {
  const base = {
    op: "float" as const,
    name: node.name,
    device: "cpu" as const,
    inputs,
    output: node.output,
    activation,
    constants: node.constants.map((c) => (c ? { shape: [...c.shape], values: c.values } : null)),
  };
  switch (node.kind) {
    case "conv2d":
      return {
        ...base,
        type: "conv2d",
        attrs: { ...node.attrs },
        weight: floatTensor(node.weight!),
        bias: node.bias ? floatTensor(node.bias) : null,
      };
    case "linear":
      return {
        ...base,
        type: "linear",
        attrs: {},
        weight: floatTensor(node.weight!),
        bias: node.bias ? floatTensor(node.bias) : null,
      };
    case "float":
      if (node.attrs.op === "batchnorm" && node.bn) {
        // A stand-alone BatchNorm1d: y = x·sf + (β − μ·sf) per feature.
        const sf = foldFactor(node.bn);
        const shift = node.bn.beta
          .toFloat32Array()
          .map((b, c) => b - node.bn!.mean.toFloat32Array()[c]! * sf.toFloat32Array()[c]!);
        return {
          ...base,
          type: "scale-shift",
          attrs: {},
          weight: floatTensor(sf),
          bias: { shape: [shift.length], values: shift },
        };
      }
      return { ...base, type: String(node.attrs.op), attrs: { ...node.attrs } };
    default:
      return { ...base, type: node.kind, attrs: { ...node.attrs } };
  }
}

function partitionsOf(steps: readonly ProgramStep[]): Partition[] {
  const out: Partition[] = [];
  steps.forEach((s, i) => {
    const last = out[out.length - 1];
    if (last && last.device === s.device) out[out.length - 1] = { ...last, last: i };
    else out.push({ device: s.device, first: i, last: i });
  });
  return out;
}
