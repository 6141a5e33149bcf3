import { nn, ops, type Variable } from "@quant-trim/autograd";

/*
 * Layers for the two ONNX ops of the subset that `nn` has no module for. Their forward is the one
 * functional op, so the tracer (which opens modules it does not know) records that op: the exporters
 * write it back as the same ONNX op, and the npu-sim compiler lowers it like any functional op.
 */

/** Reshape each sample to `sampleShape`, keeping the batch axis (ONNX Reshape with a leading 0). */
export class ReshapeSamples extends nn.Module {
  readonly sampleShape: readonly number[];
  constructor(sampleShape: readonly number[]) {
    super();
    if (!sampleShape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(
        `ReshapeSamples: sampleShape must list non-negative integers, got [${sampleShape.join(", ")}]`,
      );
    }
    this.sampleShape = [...sampleShape];
  }
  forward(x: Variable): Variable {
    return ops.reshape(x, [x.shape[0]!, ...this.sampleShape]);
  }
}

/** Clamp to [lo, hi] (an ONNX Clip whose bounds are neither ReLU's nor ReLU6's). */
export class ClampRange extends nn.Module {
  constructor(
    readonly lo: number,
    readonly hi: number,
  ) {
    super();
    if (!(lo <= hi)) throw new Error(`ClampRange: lo (${lo}) must be <= hi (${hi})`);
  }
  forward(x: Variable): Variable {
    return ops.clamp(x, this.lo, this.hi);
  }
}
