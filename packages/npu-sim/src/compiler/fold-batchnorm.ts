import * as T from "@quant-trim/tensor";
import { consumerCounts } from "./graph-utils.js";
import type { IrGraph, IrNode } from "./ir.js";

/*
 * BatchNorm folding, as every deployment toolchain does it before quantizing:
 *   sf = γ / √(running_var + eps)     W' = W · sf (per output channel)     b' = (b − μ) · sf + β
 * computed with the same float32 tensor ops as quant's QAT folding, so a QAT-trained model's fake
 * quantizer saw exactly the weights this compiler quantizes. A BatchNorm that follows no foldable
 * layer becomes a depthwise 1×1 convolution (BatchNorm2d) or stays a float op (BatchNorm1d).
 */

/** sf = γ / √(var + eps), float32. */
export function foldFactor(bn: NonNullable<IrNode["bn"]>): T.Tensor {
  return T.div(bn.gamma, T.sqrt(T.add(bn.variance, bn.eps)));
}

/** b' = (b − μ)·sf + β, float32 (b = 0 when the layer has no bias). */
function foldedBias(
  bn: NonNullable<IrNode["bn"]>,
  sf: T.Tensor,
  bias: T.Tensor | null | undefined,
): T.Tensor {
  const b = bias ?? T.zeros(bn.mean.shape);
  return T.add(T.mul(T.sub(b, bn.mean), sf), bn.beta);
}

export function foldBatchNorms(ir: IrGraph): IrGraph {
  const uses = consumerCounts(ir);
  const producer = new Map(ir.nodes.map((n) => [n.output, n]));
  const removed = new Set<IrNode>();
  for (const node of ir.nodes) {
    if (node.kind !== "batchnorm") continue;
    const bn = node.bn!;
    const src = node.inputs[0];
    const p = src ? producer.get(src) : undefined;
    const foldable =
      p !== undefined &&
      !removed.has(p) &&
      (p.kind === "conv2d" || (p.kind === "linear" && node.inputShapes[0]!.length === 1)) &&
      p.activation === "none" &&
      uses.get(p.output) === 1 &&
      src !== ir.output;
    if (foldable) {
      const sf = foldFactor(bn);
      const out = p.weight!.shape[0]!;
      const perChannel = p.kind === "conv2d" ? [out, 1, 1, 1] : [out, 1];
      p.weight = T.mul(p.weight!, T.reshape(sf, perChannel));
      p.bias = foldedBias(bn, sf, p.bias);
      p.output = node.output;
      p.name = node.name;
      p.members.push(...node.members);
      p.shape = node.shape;
      removed.add(node);
      producer.set(p.output, p);
      continue;
    }
    if (node.inputShapes[0]!.length === 3) {
      // Stand-alone BatchNorm2d: a per-channel scale and shift is a depthwise 1×1 convolution.
      const sf = foldFactor(bn);
      const c = node.inputShapes[0]![0]!;
      node.kind = "conv2d";
      node.weight = T.reshape(sf, [c, 1, 1, 1]).contiguous();
      node.bias = foldedBias(bn, sf, null);
      node.attrs = { stride: 1, padding: 0, dilation: 1, groups: c, kernel: [1, 1] };
      delete node.bn;
    } else {
      node.kind = "float";
      node.attrs = { op: "batchnorm" };
    }
  }
  return { ...ir, nodes: ir.nodes.filter((n) => !removed.has(n)) };
}
