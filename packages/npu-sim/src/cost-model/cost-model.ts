import type { IntegerProgram, ProgramStep } from "../program/program.js";

/*
 * A first-order cost model, per inference (one input), labelled as a model everywhere it is shown:
 *
 *   latency = Σ_npu MACs / rate(precision) + Σ_cpu MACs / cpu rate + bytes moved / bandwidth
 *             + steps · op overhead + partition hand-overs · switch cost
 *   energy  = Σ_npu MACs · pJ/MAC(precision) + Σ_cpu MACs · pJ/MAC(cpu) + bytes moved · pJ/byte
 *
 * Bytes moved = every step's input and output activations at their storage width (codes of b bits
 * take b/8 bytes, float32 4) plus every weight and bias read once. Packed INT4 weights count half a
 * byte each. The constants come from the profile (`cost`); see docs/npu-sim.md.
 */

export interface StepCost {
  readonly step: number;
  readonly name: string;
  readonly op: string;
  readonly device: "npu" | "cpu";
  /** Weight × activation precision of the MACs ("w8a8", "w4a8", "f32"), or "" without MACs. */
  readonly precision: string;
  readonly macs: number;
  readonly weightBytes: number;
  readonly activationBytes: number;
}

export interface CostEstimate {
  /** Always "first-order model": these are estimates from per-profile constants, not measurements. */
  readonly kind: "first-order model";
  readonly profile: string;
  /** MACs per inference by precision ("w8a8", "w4a8", "w4a4", "f32", …). */
  readonly macs: Readonly<Record<string, number>>;
  readonly weightBytes: number;
  readonly activationBytes: number;
  readonly latencySeconds: number;
  readonly energyJoules: number;
  readonly steps: readonly StepCost[];
}

function size(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function valueBytes(program: IntegerProgram, id: string): number {
  const v = program.values[id];
  if (!v) return 0;
  const perElement = v.domain === "float" ? 4 : v.grid!.bits / 8;
  return size(v.shape) * perElement;
}

function stepCost(program: IntegerProgram, s: ProgramStep, index: number): StepCost {
  const outShape = program.values[s.output]!.shape;
  const activationBytes =
    s.inputs.reduce((b, id) => b + (id === "" ? 0 : valueBytes(program, id)), 0) +
    valueBytes(program, s.output);
  let macs = 0;
  let weightBytes = 0;
  let precision = "";
  if (s.op === "conv2d" || s.op === "linear") {
    const w = s.weights;
    const perOutput = w.size / w.shape[0]!;
    macs = size(outShape) * perOutput;
    weightBytes = (w.size * s.weightGrid.bits) / 8 + 4 * w.shape[0]!;
    const a = program.values[s.inputs[0]!]!.grid!;
    precision = `w${s.weightGrid.bits}a${a.bits}`;
  } else if (s.op === "float") {
    if (s.weight) {
      const wSize = size(s.weight.shape);
      const perOutput = wSize / s.weight.shape[0]!;
      macs = s.type === "scale-shift" ? size(outShape) : size(outShape) * perOutput;
      weightBytes = 4 * wSize + (s.bias ? 4 * size(s.bias.shape) : 0);
    }
    if (macs > 0) precision = "f32";
  }
  return {
    step: index,
    name: s.name,
    op: s.op,
    device: s.device,
    precision,
    macs,
    weightBytes,
    activationBytes,
  };
}

/** The cost model of one inference of `program` on its profile (see the file comment). */
export function estimateCost(program: IntegerProgram): CostEstimate {
  const c = program.profile.cost;
  const steps = program.steps.map((s, i) => stepCost(program, s, i));
  const macs: Record<string, number> = {};
  let weightBytes = 0;
  let activationBytes = 0;
  let computeSeconds = 0;
  let computeJoules = 0;
  for (const s of steps) {
    weightBytes += s.weightBytes;
    activationBytes += s.activationBytes;
    if (s.macs === 0) continue;
    macs[s.precision] = (macs[s.precision] ?? 0) + s.macs;
    if (s.device === "cpu") {
      computeSeconds += s.macs / c.cpuMacsPerSecond;
      computeJoules += s.macs * c.cpuPicojoulesPerMac * 1e-12;
    } else {
      const bits = Math.max(...(s.precision.match(/\d+/g) ?? ["8"]).map(Number));
      const cls = bits <= 4 ? "int4" : "int8";
      computeSeconds += s.macs / c.npuMacsPerSecond[cls];
      computeJoules += s.macs * c.npuPicojoulesPerMac[cls] * 1e-12;
    }
  }
  const bytes = weightBytes + activationBytes;
  const switches = Math.max(0, program.partitions.length - 1);
  return {
    kind: "first-order model",
    profile: program.profile.name,
    macs,
    weightBytes,
    activationBytes,
    latencySeconds:
      computeSeconds +
      bytes / c.bytesPerSecond +
      steps.length * c.opOverheadSeconds +
      switches * c.partitionSwitchSeconds,
    energyJoules: computeJoules + bytes * c.picojoulesPerByte * 1e-12,
    steps,
  };
}
