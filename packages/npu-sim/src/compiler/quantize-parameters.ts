import {
  computeQParams,
  type GridSpec,
  minMax,
  type NearestRounding,
  quantize,
  roundNearest,
} from "@quant-trim/quant";
import type * as T from "@quant-trim/tensor";
import { INT32_MAX } from "../fixed-point.js";
import { type IntWeights, type IntWeightType, packIntWeights } from "../int-weights.js";
import type { PlainQParams } from "../program/program.js";

/*
 * Weights and biases on the integer grid. Weight qparams come from the exact min/max of the (folded)
 * weights through quant's computeQParams, and the codes from quant's quantize: the same two calls a
 * QAT weight point makes, so fake quantization and deployment agree code for code. Biases are int32
 * at scale s_in·s_w[c] (the product taken in float32, as TFLite's converter does), rounded with the
 * weight grid's nearest rule.
 */

export function weightType(grid: GridSpec): IntWeightType {
  if (grid.bits <= 4) return grid.signed ? "int4" : "uint4";
  return grid.signed ? "int8" : "uint8";
}

export interface QuantizedWeights {
  readonly weights: IntWeights;
  readonly qparams: PlainQParams;
}

/** Quantize a [out, ...] weight tensor on `grid` (per-channel grids on axis 0). */
export function quantizeWeights(weight: T.Tensor, grid: GridSpec): QuantizedWeights {
  const w = weight.toFloat32Array();
  const shape = [...weight.shape];
  const r = minMax(w, grid, shape);
  const qp = computeQParams(r.min, r.max, grid);
  const codes = quantize(w, qp, grid, shape);
  const weights = packIntWeights(codes, {
    type: weightType(grid),
    shape,
    zeroPoint: qp.zeroPoint.length === 1 ? qp.zeroPoint[0]! : qp.zeroPoint,
    channelAxis: 0,
  });
  return { weights, qparams: { scale: Array.from(qp.scale), zeroPoint: Array.from(qp.zeroPoint) } };
}

function biasRounding(grid: GridSpec): NearestRounding {
  const r = grid.rounding;
  return r === "half-away" || r === "half-up" ? r : "half-even";
}

export interface QuantizedBias {
  readonly bias: Int32Array;
  /** Channels whose code needed more bits than allowed (before saturation), with the bits needed. */
  readonly outOfRange: { channel: number; bits: number; value: number }[];
}

/** Bits of a signed integer v: the smallest b with |v| ≤ 2^(b−1) − 1. */
function signedBits(v: number): number {
  if (!Number.isFinite(v)) return Number.POSITIVE_INFINITY;
  let b = 2;
  while (Math.abs(v) > 2 ** (b - 1) - 1) b++;
  return b;
}

/**
 * int32 bias codes `round(b[c] / fp32(s_in·s_w[c]))`. Codes that need more than `bits` bits (the
 * profile's width) or more than the int32 container saturate to the nearer limit (±(2^(bits−1) − 1),
 * TFLite's symmetric range) and are reported, never clamped silently.
 */
export function quantizeBias(
  bias: Float32Array | null,
  channels: number,
  inputScale: number,
  weightScale: readonly number[],
  grid: GridSpec,
  bits: number,
): QuantizedBias {
  const out = new Int32Array(channels);
  const outOfRange: QuantizedBias["outOfRange"] = [];
  if (bias === null) return { bias: out, outOfRange };
  const limit = Math.min(2 ** (bits - 1) - 1, INT32_MAX);
  const mode = biasRounding(grid);
  for (let c = 0; c < channels; c++) {
    const s = Math.fround(inputScale * weightScale[weightScale.length === 1 ? 0 : c]!);
    const q = roundNearest(bias[c]! / s, mode);
    if (Math.abs(q) > limit) {
      outOfRange.push({ channel: c, bits: signedBits(q), value: q });
      out[c] = q > 0 ? limit : -limit;
    } else {
      out[c] = q;
    }
  }
  return { bias: out, outOfRange };
}
