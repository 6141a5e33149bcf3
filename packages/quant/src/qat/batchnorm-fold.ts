import { type nn, ops, Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";

/** sf = γ / √(running_var + eps) per output channel, the factor folding scales a conv's weights by. */
export function foldFactor(bn: nn.BatchNorm2d): Variable {
  return ops.div(bn.weight, new Variable(T.sqrt(T.add(bn.runningVar, bn.eps))));
}

/** W·sf, the weight the deployed folded conv holds. */
export function foldWeight(w: Variable, sf: Variable, conv: nn.Conv2d): Variable {
  return ops.mul(w, ops.reshape(sf, [conv.outChannels, 1, 1, 1]));
}

/**
 * Conv + BatchNorm folding for QAT (the approximate scheme PyTorch's ConvBn QAT modules use):
 *   sf = γ / √(running_var + eps)
 *   conv output = conv(x, fakeQuant(W·sf)) / sf   (the conv bias is added back unscaled)
 * and the BatchNorm then normalises as usual (batch statistics in training unless frozen). With running
 * statistics this equals the deployed folded conv W' = W·sf, b' = (b − μ)·sf + β exactly, so the fake
 * quantizer sees the weights the integer backend will quantize.
 * Returns the weight hook and the output hook to install on the conv.
 */
export function batchNormFoldHooks(
  conv: nn.Conv2d,
  bn: nn.BatchNorm2d,
  quantizeWeight: (w: Variable) => Variable,
): { weightHook: (w: Variable) => Variable; outputHook: (y: Variable) => Variable } {
  let sf: Variable | null = null;
  return {
    weightHook: (w) => {
      sf = foldFactor(bn);
      return quantizeWeight(foldWeight(w, sf, conv));
    },
    outputHook: (y) => {
      const s = ops.reshape(sf!, [1, conv.outChannels, 1, 1]);
      if (!conv.bias) return ops.div(y, s);
      const b = ops.reshape(conv.bias, [1, conv.outChannels, 1, 1]);
      return ops.add(ops.div(ops.sub(y, b), s), b);
    },
  };
}
