import type { NpuOp, OpConstraints } from "../profiles/schema.js";

/** The geometry of one op that profile constraints talk about. */
export interface OpGeometry {
  readonly stride?: readonly [number, number];
  readonly kernel?: readonly [number, number];
  readonly dilation?: readonly [number, number];
  readonly inChannels?: number;
  readonly outChannels?: number;
}

/**
 * Every limit of `constraints` that an op with this geometry breaks, as readable sentences (empty when
 * the accelerator may run it). The compiler uses it to place ops; the conformance suite uses it to check
 * that no accelerator step of a compiled program breaks its profile's limits.
 */
export function constraintViolations(op: NpuOp, geometry: OpGeometry, constraints: OpConstraints): string[] {
  const out: string[] = [];
  const { stride, kernel, dilation = [1, 1], inChannels, outChannels } = geometry;
  if (constraints.stride && stride) {
    const [lo, hi] = constraints.stride;
    if (stride.some((s) => s < lo || s > hi)) {
      out.push(`${op} stride [${stride.join(", ")}] is outside the supported range ${lo}..${hi}`);
    }
  }
  if (constraints.maxKernel && kernel) {
    const [mh, mw] = constraints.maxKernel;
    if (kernel[0] > mh || kernel[1] > mw) {
      out.push(`${op} kernel ${kernel[0]}×${kernel[1]} exceeds the largest supported ${mh}×${mw}`);
    }
  }
  if (kernel) {
    const dh = (kernel[0] - 1) * dilation[0] + 1;
    const dw = (kernel[1] - 1) * dilation[1] + 1;
    if (constraints.maxDilatedKernelHeight !== undefined && dh > constraints.maxDilatedKernelHeight) {
      out.push(`${op} dilated kernel height ${dh} exceeds ${constraints.maxDilatedKernelHeight}`);
    }
    if (constraints.maxDilatedKernelArea !== undefined && dh * dw > constraints.maxDilatedKernelArea) {
      out.push(`${op} dilated kernel area ${dh * dw} exceeds ${constraints.maxDilatedKernelArea}`);
    }
  }
  if (constraints.maxChannels !== undefined) {
    const most = Math.max(inChannels ?? 0, outChannels ?? 0);
    if (most > constraints.maxChannels) {
      out.push(`${op} has ${most} channels, more than the supported ${constraints.maxChannels}`);
    }
  }
  return out;
}
