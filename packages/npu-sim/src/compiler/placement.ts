import type { BackendProfile, NpuOp } from "../profiles/schema.js";
import { constraintViolations, type OpGeometry } from "./constraints.js";
import type { IrNode } from "./ir.js";

/*
 * Which device runs each op. An op runs on the accelerator when the profile lists it, its geometry
 * respects the profile's limits and the simulator has an integer lowering for it; otherwise it falls
 * back to the CPU in float32, with a warning saying why. Under single-cut partitioning (Edge TPU) the
 * first fallback also sends every later op to the CPU.
 */

export interface Placement {
  readonly device: "npu" | "cpu";
  /** The profile's name for the op, when it has an integer lowering. */
  readonly npuOp: NpuOp | null;
  readonly geometry: OpGeometry;
}

export function pair(v: unknown, dflt: number): [number, number] {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === "number") return [v, v];
  const a = v as readonly number[];
  return [a[0]!, a[1]!];
}

/** The profile op and geometry of an IR node (null: no integer lowering exists for it at all). */
export function npuOpOf(node: IrNode): { op: NpuOp; geometry: OpGeometry; lowerable: string | null } | null {
  const a = node.attrs;
  switch (node.kind) {
    case "conv2d": {
      const inChannels = node.inputShapes[0]![0]!;
      const groups = (a.groups as number | undefined) ?? 1;
      const op: NpuOp = groups > 1 && groups === inChannels ? "depthwise-conv2d" : "conv2d";
      const geometry: OpGeometry = {
        stride: pair(a.stride, 1),
        kernel: pair(a.kernel, 1),
        dilation: pair(a.dilation, 1),
        inChannels,
        outChannels: node.shape[0]!,
      };
      const lowerable = node.inputShapes[0]!.length === 3 ? null : "its input is not [C, H, W]";
      return { op, geometry, lowerable };
    }
    case "linear":
      return {
        op: "linear",
        geometry: { inChannels: node.inputShapes[0]!.at(-1)!, outChannels: node.shape.at(-1)! },
        lowerable: node.inputShapes[0]!.length === 1 ? null : "its input is not [features]",
      };
    case "add":
    case "mul":
      return { op: node.kind, geometry: {}, lowerable: null };
    case "max-pool":
    case "avg-pool": {
      const kernel = pair(a.kernel, 1);
      const stride = a.stride === undefined ? kernel : pair(a.stride, 1);
      const padding = pair(a.padding, 0);
      const dilation = pair(a.dilation, 1);
      let lowerable: string | null = null;
      if (node.inputShapes[0]!.length !== 3) lowerable = "its input is not [C, H, W]";
      else if (dilation[0] !== 1 || dilation[1] !== 1) lowerable = "integer pooling has no dilation";
      else if (
        node.kind === "avg-pool" &&
        (padding[0] > 0 || padding[1] > 0) &&
        (a.countIncludePad ?? true) === true
      ) {
        lowerable = "an average that counts padding (countIncludePad) has no integer kernel";
      }
      return { op: node.kind, geometry: { stride, kernel, inChannels: node.inputShapes[0]![0] }, lowerable };
    }
    case "activation":
      return { op: "clamp", geometry: {}, lowerable: null };
    case "reshape":
      return { op: "reshape", geometry: {}, lowerable: null };
    default:
      return null;
  }
}

/** Place every node; warnings explain each fallback. */
export function placeNodes(
  nodes: readonly IrNode[],
  profile: BackendProfile,
  warnings: string[],
): Placement[] {
  const out: Placement[] = [];
  let cut: string | null = null;
  for (const node of nodes) {
    const info = npuOpOf(node);
    const where = `'${node.name}'`;
    let reason: string | null = null;
    if (info === null) {
      reason = `${node.kind === "float" ? String(node.attrs.op) : node.kind} has no integer kernel in this simulator`;
    } else if (info.lowerable !== null) {
      reason = `${info.op}: ${info.lowerable}`;
    } else {
      const c = profile.ops[info.op];
      if (c === undefined) reason = `the profile does not support ${info.op}`;
      else {
        const v = constraintViolations(info.op, info.geometry, c);
        if (v.length > 0) reason = v.join("; ");
      }
    }
    if (cut !== null && reason === null) {
      reason = `single-cut partitioning: it follows ${cut}, the first op the accelerator cannot run`;
    }
    if (reason !== null) {
      if (profile.fallback === "error") {
        throw new Error(
          `compile: ${where} cannot run on '${profile.name}' and the profile has no fallback: ${reason}`,
        );
      }
      warnings.push(`${where} runs on the CPU in float32: ${reason}`);
      if (profile.partitioning === "single-cut" && cut === null) cut = where;
    }
    out.push({
      device: reason === null ? "npu" : "cpu",
      npuOp: info?.op ?? null,
      geometry: info?.geometry ?? {},
    });
  }
  return out;
}
