import {
  type ChannelLayout,
  channelLayout,
  checkGridSpec,
  checkQParams,
  dequantize,
  type GridOptions,
  type GridSpec,
  type QParams,
  qRange,
  quantize,
} from "@quant-trim/quant";
import { allocateIntArray, checkCodesInRange, isIntArray } from "./int-container.js";
import type { IntArray, OverflowCounts } from "./overflow.js";
import {
  type PreparedOutputStage,
  prepareOutputStage,
  type RequantMode,
  requantizeInto,
  type ShiftRounding,
} from "./requantize.js";

/*
 * The boundary between real and integer tensors on the simulated device. Float→int and int→float go
 * through quant's grid (the project's only quantization arithmetic); this file only picks the
 * container and checks that codes and specs agree. Int→int requantization uses the requantization
 * modes, as a backend's QUANTIZE op on an integer input does.
 */

/** A grid and its parameters: how one integer tensor maps to real values. */
export interface TensorQuantization {
  readonly qparams: QParams;
  readonly spec: GridSpec;
}

/**
 * Quantize `x` with quant's `quantize` and store the codes in the grid's container (Int8Array for
 * signed ≤ 8-bit grids, Uint8Array for unsigned ≤ 8-bit, Int16Array for signed ≤ 16-bit, Int32Array for
 * unsigned 9–16-bit). `shape` is required for per-channel grids.
 */
export function quantizeTensor(
  x: Float32Array,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
  options?: GridOptions,
): IntArray {
  const codes = quantize(x, qparams, spec, shape, options);
  const out = allocateIntArray(spec, codes.length);
  out.set(codes);
  return out;
}

/**
 * Real values of integer codes through quant's `dequantize`. Every code must lie in the grid's range:
 * a code outside it means the tensor was not produced on this grid.
 */
export function dequantizeTensor(
  q: IntArray,
  qparams: QParams,
  spec: GridSpec,
  shape?: readonly number[],
): Float32Array {
  const fn = "dequantizeTensor";
  if (!isIntArray(q)) throw new Error(`${fn}: q must be an Int8Array, Uint8Array, Int16Array or Int32Array`);
  checkGridSpec(spec, fn);
  checkCodesInRange(fn, "q", q, spec);
  return dequantize(q instanceof Int32Array ? q : Int32Array.from(q), qparams, spec, shape);
}

export interface RequantizeTensorOptions {
  /** Required when either grid is per-channel. */
  readonly shape?: readonly number[];
  /** Output clamp (e.g. from `fusedActivationRange`); defaults to the output grid's range and must lie in it. */
  readonly clamp?: { readonly qmin: number; readonly qmax: number };
  /** Tie rule of mode "power-of-two". */
  readonly shiftRounding?: ShiftRounding;
  readonly overflow?: OverflowCounts;
}

const REQUANTIZE_OPTIONS = new Set(["shape", "clamp", "shiftRounding", "overflow"]);

/**
 * Integer→integer requantization (TFLite's QUANTIZE on an integer input):
 * `out = clamp(requant(q − zp_in, s_in / s_out) + zp_out)` with the named mode, the real multiplier
 * computed in float64 from the float32 scales as TFLite does. Per-channel grids (on either side, on
 * the same axis) requantize each channel with its own multiplier and zero points. Returns the codes in
 * the output grid's container.
 */
export function requantizeTensor(
  q: IntArray,
  inQ: TensorQuantization,
  outQ: TensorQuantization,
  mode: RequantMode,
  options: RequantizeTensorOptions = {},
): IntArray {
  const fn = "requantizeTensor";
  if (!isIntArray(q)) throw new Error(`${fn}: q must be an Int8Array, Uint8Array, Int16Array or Int32Array`);
  for (const key of Object.keys(options)) {
    if (!REQUANTIZE_OPTIONS.has(key)) {
      throw new Error(`${fn}: unknown option '${key}'; known options: ${[...REQUANTIZE_OPTIONS].join(", ")}`);
    }
  }
  if (inQ === null || typeof inQ !== "object") throw new Error(`${fn}: inQ must be { qparams, spec }`);
  if (outQ === null || typeof outQ !== "object") throw new Error(`${fn}: outQ must be { qparams, spec }`);
  checkGridSpec(inQ.spec, `${fn} (inQ)`);
  checkGridSpec(outQ.spec, `${fn} (outQ)`);
  const n = q.length;
  const inLayout = channelLayout(`${fn} (inQ)`, n, inQ.spec.granularity, inQ.spec.axis, options.shape);
  const outLayout = channelLayout(`${fn} (outQ)`, n, outQ.spec.granularity, outQ.spec.axis, options.shape);
  checkQParams(`${fn} (inQ)`, inQ.qparams, inQ.spec, inLayout.channels);
  checkQParams(`${fn} (outQ)`, outQ.qparams, outQ.spec, outLayout.channels);
  const layout = commonLayout(fn, inLayout, outLayout, n);
  checkCodesInRange(fn, "q", q, inQ.spec);

  const range = qRange(outQ.spec);
  const clamp = options.clamp ?? range;
  if (
    clamp === null ||
    typeof clamp !== "object" ||
    !Number.isInteger(clamp.qmin) ||
    !Number.isInteger(clamp.qmax) ||
    clamp.qmin < range.qmin ||
    clamp.qmax > range.qmax
  ) {
    throw new Error(
      `${fn}: clamp must be integers inside the output grid's range [${range.qmin}, ${range.qmax}], got ${JSON.stringify(clamp)}`,
    );
  }

  const inPerChannel = inLayout.channels > 1 || inQ.spec.granularity === "per-channel";
  const outPerChannel = outLayout.channels > 1 || outQ.spec.granularity === "per-channel";
  const stages: PreparedOutputStage[] = [];
  for (let c = 0; c < layout.channels; c++) {
    const sIn = inQ.qparams.scale[inPerChannel ? c : 0]!;
    const sOut = outQ.qparams.scale[outPerChannel ? c : 0]!;
    stages.push(
      prepareOutputStage({
        mode,
        effectiveScale: [sIn / sOut],
        outZeroPoint: outQ.qparams.zeroPoint[outPerChannel ? c : 0]!,
        qmin: clamp.qmin,
        qmax: clamp.qmax,
        ...(options.shiftRounding !== undefined ? { shiftRounding: options.shiftRounding } : {}),
      }),
    );
  }

  const out = allocateIntArray(outQ.spec, n);
  if (n === 0) return out;
  const acc = new Int32Array(n);
  const { outer, channels, inner } = layout;
  let start = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const zpIn = inQ.qparams.zeroPoint[inPerChannel ? c : 0]!;
      const end = start + inner;
      for (let i = start; i < end; i++) acc[i] = q[i]! - zpIn;
      requantizeInto(
        acc.subarray(start, end),
        stages[c]!,
        out.subarray(start, end),
        { channels: 1, inner },
        options.overflow,
      );
      start = end;
    }
  }
  return out;
}

/** The finer of two layouts of the same data; two per-channel layouts must agree. */
function commonLayout(fn: string, a: ChannelLayout, b: ChannelLayout, n: number): ChannelLayout {
  const aPer = a.channels > 1 || a.inner !== n;
  const bPer = b.channels > 1 || b.inner !== n;
  if (aPer && bPer && (a.outer !== b.outer || a.channels !== b.channels || a.inner !== b.inner)) {
    throw new Error(
      `${fn}: the input grid has ${a.channels} channels (inner ${a.inner}) but the output grid ${b.channels} (inner ${b.inner}); per-channel grids must share the axis`,
    );
  }
  if (bPer) return b;
  if (aPer) return a;
  return { outer: 1, channels: 1, inner: Math.max(n, 1) };
}
