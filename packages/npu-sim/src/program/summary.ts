import { type GridSpec, qRange } from "@quant-trim/quant";
import type { IntegerProgram, PlainQParams, ProgramStep, ProgramValue, StepActivation } from "./program.js";

/** A grid in a few words: "int8 narrow symmetric per-channel, power-of-two scales". */
export function describeGrid(g: GridSpec): string {
  const { qmin, qmax } = qRange(g);
  const parts = [
    `${g.signed ? "int" : "uint"}${g.bits}${g.reduceRange ? " reduced" : ""}${g.narrowRange ? " narrow" : ""} [${qmin}, ${qmax}]`,
    g.symmetric ? "symmetric" : "asymmetric",
    g.granularity,
    `round ${g.rounding}`,
  ];
  if (g.scaleConstraint === "power-of-two") parts.push("power-of-two scales");
  return parts.join(" ");
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e4 ? String(Number(v.toPrecision(4))) : v.toExponential(3);
}

function qparamsText(q: PlainQParams | "dynamic" | undefined): string {
  if (q === undefined) return "";
  if (q === "dynamic") return "dynamic";
  if (q.scale.length === 1) return `s=${fmt(q.scale[0]!)} zp=${q.zeroPoint[0]}`;
  const lo = Math.min(...q.scale);
  const hi = Math.max(...q.scale);
  return `s=${fmt(lo)}…${fmt(hi)} (${q.scale.length} ch)`;
}

function activationText(a: StepActivation): string {
  if (a === "none") return "";
  if (typeof a === "string") return `+${a}`;
  return `+clamp[${a.lo}, ${a.hi}]`;
}

function opText(s: ProgramStep): string {
  switch (s.op) {
    case "conv2d":
      return `${s.kind}${activationText(s.activation)}`;
    case "linear":
    case "add":
    case "mul":
    case "clamp":
      return `${s.op}${activationText(s.activation)}`;
    case "float":
      return `float ${s.type}${activationText(s.activation)}`;
    default:
      return s.op;
  }
}

function containerText(v: ProgramValue): string {
  if (v.domain === "float") return "f32";
  const g = v.grid!;
  return `${g.signed ? "int" : "uint"}${g.bits}`;
}

function precisionText(program: IntegerProgram, s: ProgramStep): string {
  const inV = s.inputs[0] ? program.values[s.inputs[0]] : undefined;
  const outV = program.values[s.output]!;
  if (s.op === "conv2d" || s.op === "linear") {
    const w = s.weightGrid;
    return `w ${w.signed ? "int" : "uint"}${w.bits}${w.granularity === "per-channel" ? "/ch" : ""} × a ${containerText(inV!)}→${containerText(outV)}`;
  }
  return `${inV ? containerText(inV) : "const"}→${containerText(outV)}`;
}

/**
 * A readable listing of a program: the profile and its arithmetic, one line per step (device, op with
 * its fused activation, model op name, output shape, precisions, output qparams and their quantization
 * point), the partitions, what was folded and fused, and every warning.
 */
export function summarizeProgram(program: IntegerProgram): string {
  const p = program.profile;
  const lines: string[] = [];
  lines.push(`integer program for '${p.name}': ${p.summary}`);
  lines.push(`  weights:     ${describeGrid(p.weight)}`);
  for (const [op, c] of Object.entries(p.ops)) {
    if (c?.weight) lines.push(`               ${op}: ${describeGrid(c.weight)}`);
  }
  lines.push(
    `  activations: ${describeGrid(p.activation)} (${p.activationScaling}, ${p.calibration.method} calibration)`,
  );
  lines.push(
    `  arithmetic:  requant ${p.requant.mode}${p.requant.shiftRounding ? ` (${p.requant.shiftRounding})` : ""}, ${p.accumulator.bits}-bit ${p.accumulator.overflow} accumulator${p.pairSaturation ? ", int16 pair saturation" : ""}, ${p.bias.bits}-bit bias`,
  );
  const rows = program.steps.map((s, i) => {
    const out = program.values[s.output]!;
    return [
      String(i),
      s.device,
      opText(s),
      s.name || (s.op === "quantize" ? `(${out.point})` : "(output)"),
      out.shape.join("×") || "scalar",
      precisionText(program, s),
      out.domain === "int" ? `${qparamsText(out.qparams)}${out.point ? ` ← ${out.point}` : ""}` : "",
    ];
  });
  const header = ["#", "dev", "op", "name", "shape", "precision", "output qparams"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    `  ${r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(widths[c]!))).join("  ")}`.trimEnd();
  lines.push(line(header));
  for (const r of rows) lines.push(line(r));
  lines.push(
    `  partitions:  ${program.partitions.map((q) => `${q.device} ${q.first}–${q.last}`).join(" | ")}`,
  );
  for (const f of program.fused) lines.push(`  fused:       ${f.name} ← ${f.members.join(" + ")}`);
  if (program.warnings.length === 0) lines.push("  warnings:    none");
  else {
    lines.push(`  warnings (${program.warnings.length}):`);
    for (const w of program.warnings) lines.push(`    - ${w}`);
  }
  return lines.join("\n");
}
