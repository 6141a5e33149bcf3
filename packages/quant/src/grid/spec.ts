/**
 * The integer grid: which integers a quantized tensor may hold and the arithmetic conventions that map
 * real values onto them. Every other part of the project (fake quantization in training, the NPU
 * simulator at deployment) reads these fields; no second copy of the conventions exists.
 *
 * A `GridSpec` is plain, frozen, JSON-serialisable data so it can be written into checkpoint metadata
 * and compared field by field. Build one with `gridSpec(partial)`; the named specs in `presets.ts`
 * spell whole specs, and the `*Compat` presets in `compat.ts` reproduce PyTorch, ONNX and TFLite.
 */

export type RoundingMode = "half-even" | "half-away" | "half-up" | "floor" | "stochastic";
/** Deterministic round-to-nearest modes; zero points are always rounded with one of these. */
export type NearestRounding = "half-even" | "half-away" | "half-up";
export type Granularity = "per-tensor" | "per-channel";
export type ScaleConstraint = "float" | "power-of-two";
/**
 * How `x / s` is evaluated in float32. `divide`: one float32 division (ONNX QuantizeLinear, TFLite
 * Quantize). `multiply-reciprocal`: `x * fp32(1/s)` (PyTorch). The two differ near ties, e.g.
 * 1.55 / 0.1 gives 15.499999 (→ 15) but 1.55 · fp32(1/0.1) gives 15.5 (→ 16).
 */
export type ScaleApplication = "divide" | "multiply-reciprocal";
/**
 * The step of a symmetric grid for an absolute maximum `a`. `half-range`: `a / ((qmax − qmin) / 2)`
 * (PyTorch, onnxruntime; 127.5 for [-128, 127]). `positive-range`: `a / (qmax − zp)` (TFLite,
 * TensorRT; 127 for [-128, 127]) so that `+a` lands exactly on the largest code.
 */
export type SymmetricDivisor = "half-range" | "positive-range";
/**
 * How an asymmetric grid places its zero point, with `R` = `zeroPointRounding`, `s` the scale and
 * `[lo, hi]` the range widened to include zero:
 * - `qmin-minus-rounded`: `qmin − R(lo / s)` (PyTorch observers);
 * - `round-from-min`: `R(qmin − lo / s)` (ONNX DynamicQuantizeLinear, onnxruntime's quantizer);
 * - `round-from-nearer-end`: `R(qmin − lo / s)` or `R(qmax − hi / s)`, whichever candidate has the
 *   smaller `|q| + |r / s|`; ties take the max end (TFLite `ChooseQuantizationParams`).
 * The two "min" forms differ when qmin is odd (narrow ranges) or the rounding is not shift-invariant.
 */
export type ZeroPointRule = "qmin-minus-rounded" | "round-from-min" | "round-from-nearer-end";
/**
 * Precision of the scale / zero-point computation; the final scale is always stored as float32.
 * `float32`: every step in float32 (PyTorch observers, ONNX DynamicQuantizeLinear). `float64`: every
 * step in float64 (TFLite `ChooseQuantizationParams`). `mixed`: the range width `hi − lo` (and the
 * `minRange` sum) in float32, as the observed tensors are float32, then scale and zero point in
 * float64 (onnxruntime's quantizer).
 */
export type QParamsArithmetic = "float32" | "float64" | "mixed";

export interface GridSpec {
  /** Bit width, 2–16. */
  readonly bits: number;
  /** Signed integers `[-2^(b-1), 2^(b-1) − 1]` or unsigned `[0, 2^b − 1]`. */
  readonly signed: boolean;
  /** Symmetric grids fix the zero point at the middle code (0 for signed) and use `max(|min|, |max|)`. */
  readonly symmetric: boolean;
  /** Drop the lowest code: [-127, 127] instead of [-128, 127]; [1, 255] instead of [0, 255]. */
  readonly narrowRange: boolean;
  /** Use one bit less (PyTorch/fbgemm `reduce_range`): quint8 → [0, 127], qint8 → [-64, 63]. */
  readonly reduceRange: boolean;
  readonly granularity: Granularity;
  /** Channel axis for per-channel grids (negative counts from the end); ignored per-tensor. */
  readonly axis: number;
  /** Rounding of `x / s` to an integer. `stochastic` needs a seeded `Rng` passed in the options. */
  readonly rounding: RoundingMode;
  readonly scaleConstraint: ScaleConstraint;
  readonly scaleApplication: ScaleApplication;
  readonly symmetricDivisor: SymmetricDivisor;
  readonly zeroPointRule: ZeroPointRule;
  readonly zeroPointRounding: NearestRounding;
  readonly qparamsArithmetic: QParamsArithmetic;
  /** Smallest scale `computeQParams` returns (PyTorch's float32 machine epsilon by default). */
  readonly eps: number;
  /** Smallest real range `hi − lo` (onnxruntime `MinimumRealRange`, SNPE's 0.01); 0 disables it. */
  readonly minRange: number;
}

/** Float32 machine epsilon, 2^-23: the default smallest scale. */
export const FLOAT32_EPS = 1.1920928955078125e-7;
/** Smallest normal float32, 2^-126. Scales below it have no finite float32 reciprocal. */
export const MIN_NORMAL_FLOAT32 = 1.1754943508222875e-38;

export const ROUNDING_MODES: readonly RoundingMode[] = [
  "half-even",
  "half-away",
  "half-up",
  "floor",
  "stochastic",
];
export const NEAREST_ROUNDINGS: readonly NearestRounding[] = ["half-even", "half-away", "half-up"];
const GRANULARITIES: readonly Granularity[] = ["per-tensor", "per-channel"];
const SCALE_CONSTRAINTS: readonly ScaleConstraint[] = ["float", "power-of-two"];
const SCALE_APPLICATIONS: readonly ScaleApplication[] = ["divide", "multiply-reciprocal"];
const SYMMETRIC_DIVISORS: readonly SymmetricDivisor[] = ["half-range", "positive-range"];
const ZERO_POINT_RULES: readonly ZeroPointRule[] = [
  "qmin-minus-rounded",
  "round-from-min",
  "round-from-nearer-end",
];
const ARITHMETICS: readonly QParamsArithmetic[] = ["float32", "float64", "mixed"];

/**
 * Defaults of `gridSpec`: signed symmetric per-tensor INT8 on the full range, round half to even,
 * float scales applied by division, PyTorch's symmetric divisor and zero-point rule in float32.
 */
export const GRID_DEFAULTS: GridSpec = Object.freeze({
  bits: 8,
  signed: true,
  symmetric: true,
  narrowRange: false,
  reduceRange: false,
  granularity: "per-tensor",
  axis: 0,
  rounding: "half-even",
  scaleConstraint: "float",
  scaleApplication: "divide",
  symmetricDivisor: "half-range",
  zeroPointRule: "qmin-minus-rounded",
  zeroPointRounding: "half-even",
  qparamsArithmetic: "float32",
  eps: FLOAT32_EPS,
  minRange: 0,
});

const KNOWN_FIELDS = new Set(Object.keys(GRID_DEFAULTS));

/** Specs that passed validation. Only frozen objects are remembered, so a cached spec cannot change. */
const validated = new WeakSet<object>();

/**
 * Build a validated, frozen `GridSpec` from a partial one; missing fields take `GRID_DEFAULTS`.
 * Unknown field names are rejected so that a typo (`bit: 4`) does not silently give INT8.
 */
export function gridSpec(partial: Partial<GridSpec> = {}): GridSpec {
  if (partial === null || typeof partial !== "object") {
    throw new Error(`gridSpec: expected an object of GridSpec fields, got ${String(partial)}`);
  }
  for (const key of Object.keys(partial)) {
    if (!KNOWN_FIELDS.has(key)) {
      throw new Error(`gridSpec: unknown field '${key}'; known fields: ${[...KNOWN_FIELDS].join(", ")}`);
    }
  }
  const spec: GridSpec = Object.freeze({ ...GRID_DEFAULTS, ...stripUndefined(partial) });
  checkGridSpec(spec, "gridSpec");
  return spec;
}

function stripUndefined(partial: Partial<GridSpec>): Partial<GridSpec> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) out[k] = v;
  return out as Partial<GridSpec>;
}

/**
 * Throw an Error naming `fn` and the offending field unless `spec` is a complete, consistent GridSpec.
 * Cheap for specs made by `gridSpec` (remembered after the first check).
 */
export function checkGridSpec(spec: GridSpec, fn: string): void {
  if (validated.has(spec)) return;
  if (spec === null || typeof spec !== "object") {
    throw new Error(`${fn}: spec must be a GridSpec object, got ${String(spec)}`);
  }
  const { bits } = spec;
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) {
    throw new Error(`${fn}: spec.bits must be an integer in [2, 16], got ${String(bits)}`);
  }
  for (const flag of ["signed", "symmetric", "narrowRange", "reduceRange"] as const) {
    if (typeof spec[flag] !== "boolean") {
      throw new Error(`${fn}: spec.${flag} must be a boolean, got ${String(spec[flag])}`);
    }
  }
  if (spec.reduceRange && bits < 3) {
    throw new Error(`${fn}: spec.reduceRange needs at least 3 bits (it drops one), got bits = ${bits}`);
  }
  checkChoice(fn, "granularity", spec.granularity, GRANULARITIES);
  if (!Number.isInteger(spec.axis)) {
    throw new Error(`${fn}: spec.axis must be an integer, got ${String(spec.axis)}`);
  }
  checkChoice(fn, "rounding", spec.rounding, ROUNDING_MODES);
  checkChoice(fn, "scaleConstraint", spec.scaleConstraint, SCALE_CONSTRAINTS);
  checkChoice(fn, "scaleApplication", spec.scaleApplication, SCALE_APPLICATIONS);
  checkChoice(fn, "symmetricDivisor", spec.symmetricDivisor, SYMMETRIC_DIVISORS);
  checkChoice(fn, "zeroPointRule", spec.zeroPointRule, ZERO_POINT_RULES);
  checkChoice(fn, "zeroPointRounding", spec.zeroPointRounding, NEAREST_ROUNDINGS);
  checkChoice(fn, "qparamsArithmetic", spec.qparamsArithmetic, ARITHMETICS);
  if (typeof spec.eps !== "number" || !Number.isFinite(spec.eps) || spec.eps < MIN_NORMAL_FLOAT32) {
    throw new Error(
      `${fn}: spec.eps must be a finite number ≥ ${MIN_NORMAL_FLOAT32} (smallest normal float32), got ${String(spec.eps)}`,
    );
  }
  if (typeof spec.minRange !== "number" || !Number.isFinite(spec.minRange) || spec.minRange < 0) {
    throw new Error(`${fn}: spec.minRange must be a finite number ≥ 0, got ${String(spec.minRange)}`);
  }
  const { qmin, qmax } = qRange(spec);
  if (spec.symmetric && spec.symmetricDivisor === "positive-range" && qmax - symmetricZeroPoint(spec) < 1) {
    throw new Error(`${fn}: symmetric grid [${qmin}, ${qmax}] has no positive code above its zero point`);
  }
  if (Object.isFrozen(spec)) validated.add(spec);
}

function checkChoice<T extends string>(
  fn: string,
  field: string,
  value: unknown,
  allowed: readonly T[],
): void {
  if (!allowed.includes(value as T)) {
    throw new Error(
      `${fn}: spec.${field} must be one of ${allowed.map((a) => `'${a}'`).join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
}

/** The integer range of a grid. Reduce-range grids use `bits − 1`; narrow grids drop the lowest code. */
export function qRange(spec: GridSpec): { qmin: number; qmax: number } {
  const b = spec.reduceRange ? spec.bits - 1 : spec.bits;
  const drop = spec.narrowRange ? 1 : 0;
  if (spec.signed) return { qmin: -(2 ** (b - 1)) + drop, qmax: 2 ** (b - 1) - 1 };
  return { qmin: drop, qmax: 2 ** b - 1 };
}

/**
 * The zero point of a symmetric grid: the middle code, rounded up, `ceil((qmin + qmax) / 2)`.
 * 0 for every signed grid; 128 for [0, 255] (PyTorch quint8 symmetric), 127 for [0, 254]
 * (onnxruntime's symmetric uint8), 8 for [0, 15].
 */
export function symmetricZeroPoint(spec: GridSpec): number {
  const { qmin, qmax } = qRange(spec);
  return Math.ceil((qmin + qmax) / 2) + 0; // + 0 turns ceil(-0.5) = -0 into 0
}

/** The channel count and row-major segment layout of `x` under a spec. */
export interface ChannelLayout {
  /** Product of the dimensions before the channel axis. */
  readonly outer: number;
  /** Number of channels (1 per-tensor). */
  readonly channels: number;
  /** Product of the dimensions after the channel axis (contiguous run of one channel). */
  readonly inner: number;
}

/** A channel axis counted from the front: negative axes count from the end of a rank-`rank` shape. */
export function resolveAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * Resolve how a flat row-major array of `length` elements splits into channels. Per-tensor grids are
 * one channel; per-channel grids need `shape` (its product must equal `length`).
 */
export function channelLayout(
  fn: string,
  length: number,
  granularity: Granularity,
  axis: number,
  shape: readonly number[] | undefined,
): ChannelLayout {
  if (shape !== undefined) {
    let n = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new Error(`${fn}: shape [${shape.join(", ")}] must contain non-negative integers`);
      }
      n *= d;
    }
    if (n !== length) {
      throw new Error(`${fn}: shape [${shape.join(", ")}] has ${n} elements but the data has ${length}`);
    }
  }
  if (granularity === "per-tensor") return { outer: 1, channels: 1, inner: length };
  if (shape === undefined) {
    throw new Error(`${fn}: a per-channel grid needs the shape of the data (channel axis ${axis})`);
  }
  const a = resolveAxis(axis, shape.length);
  if (a < 0 || a >= shape.length) {
    throw new Error(`${fn}: channel axis ${axis} is out of range for shape [${shape.join(", ")}]`);
  }
  let outer = 1;
  for (let i = 0; i < a; i++) outer *= shape[i]!;
  let inner = 1;
  for (let i = a + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, channels: shape[a]!, inner };
}
