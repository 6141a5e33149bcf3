import * as T from "@quant-trim/tensor";
import { record, type Variable } from "../variable.js";

/**
 * maxPool2d(relu(conv2d(x, w, b, convOpts)), poolOpts) as one recorded op: the fused forward (one pass
 * over the convolution's output, which the `wasm` backend never copies out) and its backward (one
 * masked scatter through the pool's indices, then the convolution's gradient kernels) side by side.
 * Values, selections and gradients are those of the three ops in sequence, see
 * @quant-trim/tensor's conv-relu-pool.ts for the exact contract.
 */
export function convReluMaxPool(
  x: Variable,
  w: Variable,
  b: Variable | null,
  convOpts: T.Conv2dOptions,
  poolOpts: T.Pool2dOptions,
): Variable {
  const fwd = T.conv2dReluMaxPool(x.data, w.data, b ? b.data : null, convOpts, poolOpts);
  const inputs = b ? [x, w, b] : [x, w];
  return record(
    "convReluMaxPool",
    inputs,
    fwd.out,
    (g) => {
      const { dx, dw, dbias } = T.conv2dReluMaxPoolBackward(g, fwd, x.data, w.data, convOpts, {
        x: x.requiresGrad,
        w: w.requiresGrad,
        bias: b?.requiresGrad ?? false,
      });
      return b ? [dx, dw, dbias] : [dx, dw];
    },
    { conv: { ...convOpts }, pool: { ...poolOpts } },
  );
}
