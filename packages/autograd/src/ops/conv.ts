import * as T from "@quant-trim/tensor";
import { record, type Variable } from "../variable.js";

export function conv2d(x: Variable, w: Variable, b: Variable | null, opts: T.Conv2dOptions = {}): Variable {
  const out = T.conv2d(x.data, w.data, b ? b.data : null, opts);
  const inputs = b ? [x, w, b] : [x, w];
  return record(
    "conv2d",
    inputs,
    out,
    (g) => [
      x.requiresGrad ? T.conv2dBackwardInput(g, w.data, x.shape, opts) : null,
      w.requiresGrad ? T.conv2dBackwardWeight(g, x.data, w.shape, opts) : null,
      b?.requiresGrad ? T.sum(g, [0, 2, 3]) : null,
    ],
    { ...opts },
  );
}

export function maxPool2d(x: Variable, opts: T.Pool2dOptions): Variable {
  const { out, indices } = T.maxPool2d(x.data, opts);
  return record("maxPool2d", [x], out, (g) => [T.maxPool2dBackward(g, indices, x.shape)], { ...opts });
}

export function avgPool2d(x: Variable, opts: T.Pool2dOptions & { countIncludePad?: boolean }): Variable {
  return record("avgPool2d", [x], T.avgPool2d(x.data, opts), (g) => [T.avgPool2dBackward(g, x.shape, opts)], {
    ...opts,
  });
}
