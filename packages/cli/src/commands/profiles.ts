import {
  describeGrid,
  NPU_OPS,
  type NpuOp,
  type OpConstraints,
  profileNames,
  profiles,
} from "@quant-trim/npu-sim";
import { parse, str, UsageError, wrapList } from "../args.js";
import type { Io } from "../output.js";

export const profilesHelp = `Usage: quant-trim profiles [options]

  Lists the integer backends the simulator knows: their weight and activation grids, requantization,
  accumulator, calibration, supported ops with their limits, fallback and partitioning, and the public
  sources each behaviour comes from (see docs/npu-sim.md). The profiles:
${wrapList(profileNames, 4)}
  --op OP           only the profiles whose accelerator runs OP, one of
${wrapList(NPU_OPS, 20)}
  --json            print the profiles as JSON (the same data parseProfile reads)`;

function constraintText(c: OpConstraints): string {
  const parts: string[] = [];
  if (c.stride) parts.push(`stride ${c.stride[0]}..${c.stride[1]}`);
  if (c.maxKernel) parts.push(`kernel ≤ ${c.maxKernel[0]}×${c.maxKernel[1]}`);
  if (c.maxDilatedKernelHeight) parts.push(`dilated height ≤ ${c.maxDilatedKernelHeight}`);
  if (c.maxDilatedKernelArea) parts.push(`dilated area ≤ ${c.maxDilatedKernelArea}`);
  if (c.maxChannels) parts.push(`channels ≤ ${c.maxChannels}`);
  if (c.weight) parts.push(`weights ${describeGrid(c.weight)}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

export async function profilesCommand(args: string[], io: Io): Promise<void> {
  const v = parse(args, { op: { type: "string" } });
  if (v.help) {
    io.stdout.write(`${profilesHelp}\n`);
    return;
  }
  const op = str(v, "op");
  if (op !== undefined && !(NPU_OPS as readonly string[]).includes(op)) {
    throw new UsageError(`unknown op '${op}'; valid ops: ${NPU_OPS.join(", ")}`);
  }
  const list = Object.values(profiles).filter((p) => op === undefined || p.ops[op as NpuOp] !== undefined);
  if (v.json) {
    io.stdout.write(`${JSON.stringify(list)}\n`);
    return;
  }
  for (const p of list) {
    const lines = [
      `${p.name} — ${p.summary}`,
      `  weights      ${describeGrid(p.weight)}`,
      `  activations  ${describeGrid(p.activation)} (${p.activationScaling}, ${p.calibration.method} calibration)`,
      `  arithmetic   requant ${p.requant.mode}${p.requant.shiftRounding ? ` (${p.requant.shiftRounding})` : ""}, ${p.accumulator.bits}-bit ${p.accumulator.overflow} accumulator${p.pairSaturation ? ", int16 pair saturation" : ""}, ${p.bias.bits}-bit bias, fuses ${p.fusedActivations.join(", ") || "nothing"}`,
      `  ops          ${
        Object.entries(p.ops)
          .map(([name, c]) => `${name}${constraintText(c!)}`)
          .join("; ") || "none"
      }`,
      `  otherwise    ${p.fallback === "cpu-float" ? "CPU in float32" : "compile error"}, ${p.partitioning} partitioning`,
      `  sources      ${p.sources.join("\n               ")}`,
    ];
    io.stdout.write(`${lines.join("\n")}\n\n`);
  }
}
