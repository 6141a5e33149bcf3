import {
  checkGridSpec,
  checkQParams,
  type GridSpec,
  gridSpec,
  makeQParams,
  qRange,
  quantizeValue,
} from "@quant-trim/quant";

/*
 * A fused activation on an integer backend is only a clamp of the output codes: TFLite's
 * CalculateActivationRangeQuantized intersects the output type's range with the codes of the
 * activation's real bounds (0 for ReLU, 0 and 6 for ReLU6, ±1 for ReLU_N1_TO_1). Those codes come from
 * TFLite's own quantization, `zp + round_half_away(f / scale)` with the division in float32, so the
 * bound is computed through quant's grid with exactly those conventions.
 */

/** Activations an integer kernel applies as an output clamp (TFLite names; a superset of what profiles fuse). */
export type ActivationClamp = "none" | "relu" | "relu6" | "relu-n1-to-1";
export const ACTIVATION_CLAMPS: readonly ActivationClamp[] = Object.freeze([
  "none",
  "relu",
  "relu6",
  "relu-n1-to-1",
]);

/** The real interval each activation keeps (NaN-free; ±Infinity = unbounded). */
const BOUNDS: Readonly<Record<ActivationClamp, readonly [number, number]>> = Object.freeze({
  none: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
  relu: [0, Number.POSITIVE_INFINITY],
  relu6: [0, 6],
  "relu-n1-to-1": [-1, 1],
});

/**
 * The output clamp `{ qmin, qmax }` of a fused activation on an output grid with the given scale and
 * zero point: the grid's range intersected with `[Q(lo), Q(hi)]`, `Q(f) = zp + round_half_away(f / s)`
 * in float32 (TFLite). `spec` supplies the range (bits, signedness, narrow range); its rounding and
 * scale-application fields are replaced by TFLite's. The scale is used as a float32 value.
 */
export function fusedActivationRange(
  activation: ActivationClamp,
  scale: number,
  zeroPoint: number,
  spec: GridSpec,
): { qmin: number; qmax: number } {
  const fn = "fusedActivationRange";
  if (!ACTIVATION_CLAMPS.includes(activation)) {
    throw new Error(
      `${fn}: activation must be one of ${ACTIVATION_CLAMPS.map((a) => `'${a}'`).join(", ")}, got ${JSON.stringify(activation)}`,
    );
  }
  checkGridSpec(spec, fn);
  if (typeof scale !== "number" || !Number.isFinite(scale) || !(scale > 0)) {
    throw new Error(`${fn}: scale must be a finite number > 0, got ${String(scale)}`);
  }
  if (!Number.isInteger(zeroPoint)) {
    throw new Error(`${fn}: zeroPoint must be an integer, got ${String(zeroPoint)}`);
  }
  const tflite = gridSpec({
    ...spec,
    granularity: "per-tensor",
    rounding: "half-away",
    scaleApplication: "divide",
  });
  checkQParams(fn, makeQParams(scale, zeroPoint), tflite, 1);
  const { qmin, qmax } = qRange(tflite);
  const [lo, hi] = BOUNDS[activation];
  // quantizeValue clamps to [qmin, qmax]; max(qmin, clamp(v)) equals max(qmin, v), so nothing changes.
  const low = lo === Number.NEGATIVE_INFINITY ? qmin : quantizeValue(lo, scale, zeroPoint, tflite);
  const high = hi === Number.POSITIVE_INFINITY ? qmax : quantizeValue(hi, scale, zeroPoint, tflite);
  return { qmin: Math.max(qmin, low), qmax: Math.min(qmax, high) };
}
