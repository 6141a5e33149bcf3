import * as T from "@quant-trim/tensor";
import type { FloatStep, StepActivation } from "./program.js";

/*
 * The CPU fallback: a float step runs the model's own op in float32 on [N, ...] tensors, with the
 * tensor package's kernels (the same ones autograd's forward uses), then its fused activation.
 */

function constantTensor(c: { shape: readonly number[]; values: Float32Array }): T.Tensor {
  return T.fromData(c.values, c.shape);
}

export function applyActivation(x: T.Tensor, a: StepActivation): T.Tensor {
  if (a === "none") return x;
  if (a === "relu") return T.relu(x);
  if (a === "relu6") return T.clamp(x, 0, 6);
  return T.clamp(x, a.lo, a.hi);
}

function perChannel(v: Float32Array, rank: number): T.Tensor {
  return T.fromData(v, [1, v.length, ...new Array<number>(rank - 2).fill(1)]);
}

export function runFloatStep(step: FloatStep, inputs: readonly (T.Tensor | null)[]): T.Tensor {
  const operands = inputs.map((t, k) => t ?? constantTensor(step.constants[k]!));
  const [x, y] = operands;
  const a = step.attrs;
  let out: T.Tensor;
  switch (step.type) {
    case "conv2d":
      out = T.conv2d(x!, constantTensor(step.weight!), step.bias ? constantTensor(step.bias) : null, {
        stride: a.stride as number | [number, number],
        padding: a.padding as number | [number, number],
        dilation: a.dilation as number | [number, number],
        groups: a.groups as number,
      });
      break;
    case "linear": {
      out = T.matmul(x!, T.transpose(constantTensor(step.weight!)));
      if (step.bias) out = T.add(out, constantTensor(step.bias));
      break;
    }
    case "scale-shift":
      out = T.add(
        T.mul(x!, perChannel(step.weight!.values, x!.ndim)),
        perChannel(step.bias!.values, x!.ndim),
      );
      break;
    case "max-pool":
    case "maxPool2d":
      out = T.maxPool2d(x!, a as unknown as T.Pool2dOptions).out;
      break;
    case "avg-pool":
    case "avgPool2d":
      out = T.avgPool2d(x!, a as unknown as T.AvgPool2dOptions);
      break;
    case "reshape":
      out = T.reshape(x!.contiguous(), [x!.shape[0]!, ...(a.shape as number[])]);
      break;
    case "activation":
    case "relu":
    case "relu6":
    case "clamp":
      out = x!; // the activation itself is step.activation, applied below
      break;
    case "add":
      out = T.add(x!, y!);
      break;
    case "sub":
      out = T.sub(x!, y!);
      break;
    case "mul":
      out = T.mul(x!, y!);
      break;
    case "div":
      out = T.div(x!, y!);
      break;
    case "maximum":
      out = T.maximum(x!, y!);
      break;
    case "minimum":
      out = T.minimum(x!, y!);
      break;
    case "neg":
      out = T.neg(x!);
      break;
    case "exp":
      out = T.exp(x!);
      break;
    case "log":
      out = T.log(x!);
      break;
    case "sqrt":
      out = T.sqrt(x!);
      break;
    case "abs":
      out = T.abs(x!);
      break;
    case "tanh":
      out = T.tanh(x!);
      break;
    case "sigmoid":
      out = T.sigmoid(x!);
      break;
    case "permute":
      out = T.permute(x!, a.perm as number[]).contiguous();
      break;
    case "concat":
      out = T.concat(operands, a.axis as number);
      break;
    default:
      throw new Error(`run: float step '${step.name}' has an unknown op type '${step.type}'`);
  }
  return applyActivation(out, step.activation);
}
