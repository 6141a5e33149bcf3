import { record, type Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { blendInto, checkLambda, type FakeQuantOptions, float32Values } from "./fake-quant-op.js";
import { learnedQParams } from "./grid/qparams.js";
import { fakeQuantizeInto } from "./grid/quantize.js";
import { channelLayout, type GridSpec, qRange } from "./grid/spec.js";

/**
 * Learned step size quantization (LSQ, Esser et al. 2019) with the progressive blend. The scale (one
 * per channel for per-channel grids) and, for asymmetric grids, the zero point are trainable values.
 *
 * Forward: the grid's fake quantization with s = max(scale, eps) and z = clamp(round_half_even(zp),
 * qmin, qmax); the output is x + λ·(x̂ − x).
 * Backward, with gradient scale gf = 1/√(numel·qmax) and λ carried through:
 *   ∂/∂x = 1 (or the in-range mask with `clipMask`)
 *   ∂x̂/∂s = (x̂ − x)/s inside the range, qmin − z below it, qmax − z above it
 *   ∂x̂/∂z = 0 inside the range, −s outside it
 * The zero point is rounded the same way (half-even) in forward and backward.
 */
export function lsqFakeQuant(
  x: Variable,
  scale: Variable,
  zeroPoint: Variable | null,
  spec: GridSpec,
  opts: FakeQuantOptions = {},
): Variable {
  const fn = "lsqFakeQuant";
  const lambda = opts.lambda ?? 1;
  checkLambda(fn, lambda);
  if (spec.scaleConstraint !== "float")
    throw new Error(`${fn}: LSQ learns a float scale; the grid asks for '${spec.scaleConstraint}' scales`);
  if (spec.rounding === "stochastic")
    throw new Error(`${fn}: stochastic rounding is not supported with learned scales`);
  const xs = float32Values(x.data);
  const layout = channelLayout(fn, xs.length, spec.granularity, spec.axis, x.shape);
  const channels = layout.channels;
  if (scale.size !== channels)
    throw new Error(`${fn}: ${scale.size} scales for ${channels} channel(s) of input ${T.fmtShape(x.shape)}`);
  if (zeroPoint && zeroPoint.size !== channels) {
    throw new Error(
      `${fn}: ${zeroPoint.size} zero points for ${channels} channel(s) of input ${T.fmtShape(x.shape)}`,
    );
  }
  if (spec.symmetric && zeroPoint)
    throw new Error(`${fn}: a symmetric grid has a fixed zero point; pass null`);
  const { qmin, qmax } = qRange(spec);
  const { scale: s, zeroPoint: z } = learnedQParams(
    fn,
    scale.data.values(),
    zeroPoint ? zeroPoint.data.values() : null,
    spec,
  );
  const xhat = new Float32Array(xs.length);
  const mask = new Uint8Array(xs.length);
  fakeQuantizeInto(xhat, xs, { scale: s, zeroPoint: z }, spec, x.shape, { mask });
  let out = xhat;
  if (lambda !== 1) {
    out = new Float32Array(xs.length);
    blendInto(out, xs, xhat, lambda);
  }
  const clipMask = opts.clipMask ?? false;
  const gf = 1 / Math.sqrt(xs.length * qmax);
  const inputs = zeroPoint ? [x, scale, zeroPoint] : [x, scale];
  return record(
    "lsqFakeQuant",
    inputs,
    new T.Tensor(out, x.shape),
    (gt) => {
      const g = gt.values();
      const ds = new Float64Array(channels);
      const dz = new Float64Array(channels);
      const { outer, inner } = layout;
      for (let o = 0; o < outer; o++) {
        for (let c = 0; c < channels; c++) {
          const base = (o * channels + c) * inner;
          const sc = s[c]!;
          const zc = z[c]!;
          let accS = 0;
          let accZ = 0;
          for (let k = 0; k < inner; k++) {
            const i = base + k;
            const gi = g[i]!;
            if (mask[i]) accS += gi * ((xhat[i]! - xs[i]!) / sc);
            else if (xs[i]! < xhat[i]!) {
              accS += gi * (qmin - zc);
              accZ -= gi * sc;
            } else if (xs[i]! > xhat[i]!) {
              accS += gi * (qmax - zc);
              accZ -= gi * sc;
            }
          }
          ds[c] = ds[c]! + accS;
          dz[c] = dz[c]! + accZ;
        }
      }
      const f = lambda * gf;
      const dScale = T.allocData(scale.data.dtype, channels);
      const dZero = zeroPoint ? T.allocData(zeroPoint.data.dtype, channels) : null;
      for (let c = 0; c < channels; c++) {
        dScale[c] = ds[c]! * f;
        if (dZero) dZero[c] = dz[c]! * f;
      }
      const dx = clipMask ? T.mul(gt, new T.Tensor(Float32Array.from(mask), x.shape)) : gt;
      return [dx, new T.Tensor(dScale, scale.shape), dZero ? new T.Tensor(dZero, zeroPoint!.shape) : null];
    },
    { lambda, clipMask },
  );
}
