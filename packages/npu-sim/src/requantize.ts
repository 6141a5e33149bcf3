import { roundHalfEven } from "@quant-trim/quant";
import {
  INT32_MAX,
  INT32_MIN,
  MAX_MULTIPLIER_SHIFT,
  MIN_MULTIPLIER_SHIFT,
  mbqmDouble,
  mbqmSingle,
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierSingleRounding,
  quantizeMultiplier,
} from "./fixed-point.js";
import { containerRange } from "./int-container.js";
import type { IntArray, OverflowCounts } from "./overflow.js";

/*
 * Requantization: an int32 accumulator (a sum of products at scale s_in·s_w[c]) becomes an output code at
 * scale s_out. Backends agree on the real map `acc · s_in·s_w[c] / s_out` and disagree on how they
 * approximate and round it; each mode below is one backend family's arithmetic, bit for bit:
 *
 * - "gemmlowp": TFLite reference kernels and TFLM (fixed-point multiplier, two roundings);
 * - "single-rounding": TFLite under TFLITE_SINGLE_ROUNDING, XNNPACK/ruy-style (one rounding, ties up);
 * - "float32": onnxruntime's MLAS (float32 product, clamp in float, round half to even);
 * - "power-of-two": fixed-point DPUs (TI TIDL, Vitis AI) whose scales are powers of two, so requantizing
 *   is an arithmetic shift with the backend's tie rule.
 */

export type RequantMode = "gemmlowp" | "single-rounding" | "float32" | "power-of-two";
export const REQUANT_MODES: readonly RequantMode[] = Object.freeze([
  "gemmlowp",
  "single-rounding",
  "float32",
  "power-of-two",
]);
/** Tie rule of the power-of-two mode's arithmetic right shift. */
export type ShiftRounding = "half-up" | "half-away" | "half-even";
export const SHIFT_ROUNDINGS: readonly ShiftRounding[] = Object.freeze(["half-up", "half-away", "half-even"]);

export interface OutputStage {
  mode: RequantMode;
  /** Real multiplier per output channel (s_in·s_w[c]/s_out), length 1 (per-tensor) or C. float64 values. */
  effectiveScale: ArrayLike<number>;
  outZeroPoint: number;
  /** Output clamp after adding the zero point: the type range intersected with a fused activation's range. */
  qmin: number;
  qmax: number;
  /** Only for mode "power-of-two" (default "half-up"). */
  shiftRounding?: ShiftRounding;
}

/** Precomputed per-channel multipliers/shifts (or float32 scales); validate inputs here, once. */
export interface PreparedOutputStage {
  readonly stage: OutputStage;
  /** Number of per-channel parameter sets (1 for a per-tensor stage). */
  readonly channels: number;
  /** Fixed-point multipliers (modes "gemmlowp", "single-rounding"), else zeros. */
  readonly multiplier: Int32Array;
  /**
   * Modes "gemmlowp"/"single-rounding": TFLite's signed shift (negative = right). Mode "power-of-two":
   * the exponent k of the scale 2^k. Otherwise zeros.
   */
  readonly shift: Int32Array;
  /** The effective scales rounded to float32 (mode "float32"), else zeros. */
  readonly scaleF32: Float32Array;
}

const STAGE_FIELDS = new Set(["mode", "effectiveScale", "outZeroPoint", "qmin", "qmax", "shiftRounding"]);

/**
 * Validate an output stage and precompute its per-channel constants: quantized multipliers for the
 * fixed-point modes, float32 scales for "float32", exponents for "power-of-two". Throws, naming the
 * field and the channel, on an unknown mode or field, a scale that is not finite and > 0, a multiplier
 * whose shift leaves [−31, 30], a "power-of-two" scale that is not an exact power of two (or whose
 * exponent leaves [−31, 31]), non-integer or inverted clamps, or a zero point outside int32.
 */
export function prepareOutputStage(stage: OutputStage): PreparedOutputStage {
  const fn = "prepareOutputStage";
  if (stage === null || typeof stage !== "object") {
    throw new Error(`${fn}: stage must be an OutputStage object, got ${String(stage)}`);
  }
  for (const key of Object.keys(stage)) {
    if (!STAGE_FIELDS.has(key)) {
      throw new Error(`${fn}: unknown field '${key}'; known fields: ${[...STAGE_FIELDS].join(", ")}`);
    }
  }
  const { mode, effectiveScale, outZeroPoint, qmin, qmax } = stage;
  if (!REQUANT_MODES.includes(mode)) {
    throw new Error(
      `${fn}: mode must be one of ${REQUANT_MODES.map((m) => `'${m}'`).join(", ")}, got ${JSON.stringify(mode)}`,
    );
  }
  if (stage.shiftRounding !== undefined) {
    if (mode !== "power-of-two") {
      throw new Error(`${fn}: shiftRounding applies to mode 'power-of-two' only, got mode '${mode}'`);
    }
    if (!SHIFT_ROUNDINGS.includes(stage.shiftRounding)) {
      throw new Error(
        `${fn}: shiftRounding must be one of ${SHIFT_ROUNDINGS.map((m) => `'${m}'`).join(", ")}, got ${JSON.stringify(stage.shiftRounding)}`,
      );
    }
  }
  for (const [name, v] of [
    ["outZeroPoint", outZeroPoint],
    ["qmin", qmin],
    ["qmax", qmax],
  ] as const) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
      throw new Error(`${fn}: ${name} must be an int32 integer, got ${String(v)}`);
    }
  }
  if (qmin > qmax) throw new Error(`${fn}: qmin ${qmin} is above qmax ${qmax}`);
  if (
    effectiveScale === null ||
    typeof effectiveScale !== "object" ||
    typeof effectiveScale.length !== "number"
  ) {
    throw new Error(`${fn}: effectiveScale must be an array of numbers`);
  }
  const channels = effectiveScale.length;
  if (channels < 1) throw new Error(`${fn}: effectiveScale must hold at least one scale`);
  const multiplier = new Int32Array(channels);
  const shift = new Int32Array(channels);
  const scaleF32 = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = effectiveScale[c]!;
    if (typeof s !== "number" || !Number.isFinite(s) || !(s > 0)) {
      throw new Error(`${fn}: effectiveScale[${c}] = ${String(s)} must be a finite number > 0`);
    }
    if (mode === "gemmlowp" || mode === "single-rounding") {
      const q = quantizeMultiplier(s);
      if (q.shift > MAX_MULTIPLIER_SHIFT || q.shift < MIN_MULTIPLIER_SHIFT) {
        throw new Error(
          `${fn}: effectiveScale[${c}] = ${s} needs shift ${q.shift}, outside [${MIN_MULTIPLIER_SHIFT}, ${MAX_MULTIPLIER_SHIFT}]`,
        );
      }
      multiplier[c] = q.multiplier;
      shift[c] = q.shift;
    } else if (mode === "float32") {
      const f = Math.fround(s);
      if (!(f > 0) || !Number.isFinite(f)) {
        throw new Error(`${fn}: effectiveScale[${c}] = ${s} is 0 or infinite in float32`);
      }
      scaleF32[c] = f;
    } else {
      const k = Math.log2(s);
      if (!Number.isInteger(k) || 2 ** k !== s) {
        throw new Error(
          `${fn}: mode 'power-of-two' needs effectiveScale[${c}] to be an exact power of two, got ${s}`,
        );
      }
      if (k < -31 || k > 31) {
        throw new Error(`${fn}: effectiveScale[${c}] = 2^${k}: the exponent must lie in [-31, 31]`);
      }
      shift[c] = k;
    }
  }
  const frozen: OutputStage = Object.freeze({
    mode,
    effectiveScale: Object.freeze(Array.from(effectiveScale)),
    outZeroPoint,
    qmin,
    qmax,
    ...(stage.shiftRounding !== undefined ? { shiftRounding: stage.shiftRounding } : {}),
  });
  return Object.freeze({ stage: frozen, channels, multiplier, shift, scaleF32 });
}

/* ----------------------------------------------------------------------------------------------------
 * The four modes as plain scalar functions (validated). They return the requantized value before the
 * zero point and the clamp.
 */

/** TFLite default requantization (gemmlowp double rounding); see `multiplyByQuantizedMultiplier`. */
export function requantizeGemmlowp(x: number, multiplier: number, shift: number): number {
  return multiplyByQuantizedMultiplier(x, multiplier, shift);
}

/** TFLite single-rounding requantization; see `multiplyByQuantizedMultiplierSingleRounding`. */
export function requantizeSingleRounding(x: number, multiplier: number, shift: number): number {
  return multiplyByQuantizedMultiplierSingleRounding(x, multiplier, shift);
}

/**
 * onnxruntime MLAS requantization without the clamp: `round_half_even(fp32(fp32(x) · scaleF32))`.
 * `scaleF32` must be a float32 value (ORT computes a_scale·b_scale/y_scale in float32). The result may
 * be any integer; the output stage clamps it (MLAS clamps the float first, which gives the same code).
 */
export function requantizeFloat32(x: number, scaleF32: number): number {
  const fn = "requantizeFloat32";
  if (!Number.isInteger(x) || x < INT32_MIN || x > INT32_MAX) {
    throw new Error(`${fn}: x must be an int32 integer, got ${x}`);
  }
  if (!Number.isFinite(scaleF32) || !(scaleF32 > 0) || Math.fround(scaleF32) !== scaleF32) {
    throw new Error(`${fn}: scaleF32 must be a finite float32 value > 0, got ${scaleF32}`);
  }
  return roundHalfEven(Math.fround(Math.fround(x) * scaleF32));
}

/**
 * Power-of-two requantization: `x · 2^shift` (negative shift = arithmetic right shift) rounded with the
 * given tie rule. Exact; a left shift is not wrapped (the output clamp saturates it).
 */
export function requantizePowerOfTwo(x: number, shift: number, rounding: ShiftRounding = "half-up"): number {
  const fn = "requantizePowerOfTwo";
  if (!Number.isInteger(x) || x < INT32_MIN || x > INT32_MAX) {
    throw new Error(`${fn}: x must be an int32 integer, got ${x}`);
  }
  if (!Number.isInteger(shift) || shift < -31 || shift > 31) {
    throw new Error(`${fn}: shift must be an integer in [-31, 31], got ${shift}`);
  }
  const code = shiftRoundingCode(fn, rounding);
  return shiftPowerOfTwo(x, shift, code);
}

const HALF_UP = 0;
const HALF_AWAY = 1;
const HALF_EVEN = 2;

function shiftRoundingCode(fn: string, rounding: ShiftRounding): number {
  if (rounding === "half-up") return HALF_UP;
  if (rounding === "half-away") return HALF_AWAY;
  if (rounding === "half-even") return HALF_EVEN;
  throw new Error(
    `${fn}: rounding must be one of ${SHIFT_ROUNDINGS.map((m) => `'${m}'`).join(", ")}, got ${JSON.stringify(rounding)}`,
  );
}

/** `x · 2^k` rounded by `code`, int32 x, k in [−31, 31]. */
function shiftPowerOfTwo(x: number, k: number, code: number): number {
  if (k >= 0) return x * POWERS_OF_TWO[k]!;
  const s = -k;
  const floor = x >> s; // s ≤ 31: JavaScript shifts by s mod 32, which is s
  const rem = x & (((1 << s) - 1) | 0); // x − floor·2^s, in [0, 2^s)
  const half = 1 << (s - 1);
  if (rem > half) return floor + 1;
  if (rem < half) return floor;
  if (code === HALF_UP) return floor + 1;
  if (code === HALF_AWAY) return x < 0 ? floor : floor + 1;
  return (floor & 1) === 0 ? floor : floor + 1;
}

/** 2^0 … 2^31, so a left shift is one exact multiply (no int32 wrap, no Math.pow per element). */
const POWERS_OF_TWO = Float64Array.from({ length: 32 }, (_, k) => 2 ** k);

/* ----------------------------------------------------------------------------------------------------
 * Output stages.
 */

function checkPrepared(fn: string, prepared: PreparedOutputStage): void {
  if (
    prepared === null ||
    typeof prepared !== "object" ||
    !(prepared.multiplier instanceof Int32Array) ||
    !(prepared.scaleF32 instanceof Float32Array) ||
    !Object.isFrozen(prepared)
  ) {
    throw new Error(`${fn}: prepared must come from prepareOutputStage`);
  }
}

/** Scalar form for tests and references: `clamp(requant(acc, channel) + outZeroPoint, qmin, qmax)`. */
export function requantizeValue(acc: number, prepared: PreparedOutputStage, channel: number): number {
  const fn = "requantizeValue";
  checkPrepared(fn, prepared);
  if (!Number.isInteger(acc) || acc < INT32_MIN || acc > INT32_MAX) {
    throw new Error(`${fn}: acc must be an int32 integer, got ${acc}`);
  }
  if (!Number.isInteger(channel) || channel < 0) {
    throw new Error(`${fn}: channel must be a non-negative integer, got ${channel}`);
  }
  const c = prepared.channels === 1 ? 0 : channel;
  if (c >= prepared.channels) {
    throw new Error(`${fn}: channel ${channel} is out of range for ${prepared.channels} channels`);
  }
  const { mode, outZeroPoint: zp, qmin, qmax } = prepared.stage;
  let v: number;
  if (mode === "gemmlowp") v = mbqmDouble(acc, prepared.multiplier[c]!, prepared.shift[c]!);
  else if (mode === "single-rounding") v = mbqmSingle(acc, prepared.multiplier[c]!, prepared.shift[c]!);
  else if (mode === "float32") v = roundHalfEven(Math.fround(Math.fround(acc) * prepared.scaleF32[c]!));
  else v = shiftPowerOfTwo(acc, prepared.shift[c]!, shiftCode(prepared));
  return Math.min(Math.max(v + zp, qmin), qmax);
}

function shiftCode(prepared: PreparedOutputStage): number {
  return shiftRoundingCode("requantize", prepared.stage.shiftRounding ?? "half-up");
}

/**
 * out[i] = clamp(requant(acc[i], channel(i)) + outZeroPoint, qmin, qmax), where the channel of flat
 * element i is floor(i / inner) % channels (GEMM [M,N]: channels=N, inner=1; conv NCHW: channels=C,
 * inner=H*W). Counts output clamps and elements into `overflow` when given.
 *
 * A per-tensor stage (one scale) accepts any `layout.channels`; a per-channel stage needs it equal to
 * its channel count. `acc.length` must be a multiple of channels·inner and equal `out.length`; the
 * clamp range and zero point must fit `out`'s container type (nothing is wrapped silently).
 */
export function requantizeInto(
  acc: Int32Array,
  prepared: PreparedOutputStage,
  out: IntArray,
  layout: { channels: number; inner: number },
  overflow?: OverflowCounts,
): void {
  const fn = "requantizeInto";
  checkPrepared(fn, prepared);
  if (!(acc instanceof Int32Array)) throw new Error(`${fn}: acc must be an Int32Array`);
  const range = containerRange(out);
  if (out.length !== acc.length) {
    throw new Error(`${fn}: out has length ${out.length} but acc has ${acc.length}`);
  }
  if (layout === null || typeof layout !== "object") {
    throw new Error(`${fn}: layout must be { channels, inner }`);
  }
  const { channels, inner } = layout;
  if (!Number.isInteger(channels) || channels < 1 || !Number.isInteger(inner) || inner < 1) {
    throw new Error(
      `${fn}: layout.channels and layout.inner must be positive integers, got ${channels}, ${inner}`,
    );
  }
  if (prepared.channels !== 1 && prepared.channels !== channels) {
    throw new Error(
      `${fn}: layout.channels = ${channels} but the stage has ${prepared.channels} per-channel scales`,
    );
  }
  if (acc.length % (channels * inner) !== 0) {
    throw new Error(
      `${fn}: acc length ${acc.length} is not a multiple of layout.channels·layout.inner = ${channels * inner}`,
    );
  }
  const { mode, outZeroPoint: zp, qmin, qmax } = prepared.stage;
  if (qmin < range.min || qmax > range.max) {
    throw new Error(
      `${fn}: clamp [${qmin}, ${qmax}] does not fit the output container's range [${range.min}, ${range.max}]`,
    );
  }
  if (zp < range.min || zp > range.max) {
    throw new Error(
      `${fn}: outZeroPoint ${zp} is outside the output container's range [${range.min}, ${range.max}]`,
    );
  }
  // A per-tensor stage is one channel over the whole array: one long inner loop.
  const perTensor = prepared.channels === 1;
  const ch = perTensor ? 1 : channels;
  const run = perTensor ? acc.length : inner;
  let clamps: number;
  if (mode === "gemmlowp") {
    clamps = requantizeGemmlowpLoop(acc, out, prepared.multiplier, prepared.shift, ch, run, zp, qmin, qmax);
  } else if (mode === "single-rounding") {
    clamps = requantizeSingleLoop(acc, out, prepared.multiplier, prepared.shift, ch, run, zp, qmin, qmax);
  } else if (mode === "float32") {
    clamps = requantizeMlas(acc, out, prepared.scaleF32, ch, run, zp, qmin, qmax);
  } else {
    clamps = requantizeShift(acc, out, prepared.shift, ch, run, zp, qmin, qmax, shiftCode(prepared));
  }
  if (overflow !== undefined) {
    overflow.outputClamps += clamps;
    overflow.elements += acc.length;
  }
}

/**
 * gemmlowp double rounding over one run of elements per channel, through fixed-point.ts's unchecked
 * `mbqmDouble` (the one copy of SRDHM/RDBPOT).
 */
function requantizeGemmlowpLoop(
  acc: Int32Array,
  out: IntArray,
  multiplier: Int32Array,
  shift: Int32Array,
  channels: number,
  inner: number,
  zp: number,
  qmin: number,
  qmax: number,
): number {
  let clamps = 0;
  const n = acc.length;
  for (let start = 0; start < n; ) {
    for (let c = 0; c < channels; c++) {
      const m = multiplier[c]!;
      const s = shift[c]!;
      const end = start + inner;
      for (let i = start; i < end; i++) {
        let v = mbqmDouble(acc[i]!, m, s) + zp;
        if (v < qmin) {
          v = qmin;
          clamps++;
        } else if (v > qmax) {
          v = qmax;
          clamps++;
        }
        out[i] = v;
      }
      start = end;
    }
  }
  return clamps;
}

/** Single rounding through fixed-point.ts's unchecked `mbqmSingle`. */
function requantizeSingleLoop(
  acc: Int32Array,
  out: IntArray,
  multiplier: Int32Array,
  shift: Int32Array,
  channels: number,
  inner: number,
  zp: number,
  qmin: number,
  qmax: number,
): number {
  let clamps = 0;
  const n = acc.length;
  for (let start = 0; start < n; ) {
    for (let c = 0; c < channels; c++) {
      const m = multiplier[c]!;
      const s = shift[c]!;
      const end = start + inner;
      for (let i = start; i < end; i++) {
        let v = mbqmSingle(acc[i]!, m, s) + zp;
        if (v < qmin) {
          v = qmin;
          clamps++;
        } else if (v > qmax) {
          v = qmax;
          clamps++;
        }
        out[i] = v;
      }
      start = end;
    }
  }
  return clamps;
}

/**
 * 1.5 · 2^52: adding and subtracting it rounds a double below 2^51 in magnitude half to even (the
 * float32 product is held in a double, so MLAS's float32 constant 1.5 · 2^23 would not round it).
 */
const RNE_MAGIC = 6755399441055744;

/**
 * MLAS `MlasRequantizeOutput`: f = fp32(fp32(acc) · scale), clamped to [qmin − zp, qmax − zp] in float,
 * rounded half to even, plus zp. The clamp is one step wider here so the count can see whether the
 * rounded code left the range; rounding commutes with clamping to integer bounds, so the codes agree.
 */
function requantizeMlas(
  acc: Int32Array,
  out: IntArray,
  scale: Float32Array,
  channels: number,
  inner: number,
  zp: number,
  qmin: number,
  qmax: number,
): number {
  let clamps = 0;
  const n = acc.length;
  const lo = qmin - zp;
  const hi = qmax - zp;
  const below = lo - 1;
  const above = hi + 1;
  const magic = RNE_MAGIC;
  for (let start = 0; start < n; ) {
    for (let c = 0; c < channels; c++) {
      const s = scale[c]!;
      const end = start + inner;
      for (let i = start; i < end; i++) {
        let f = Math.fround(Math.fround(acc[i]!) * s);
        if (f < below) f = below;
        else if (f > above) f = above;
        let r = f + magic - magic;
        if (r < lo) {
          r = lo;
          clamps++;
        } else if (r > hi) {
          r = hi;
          clamps++;
        }
        out[i] = r + zp;
      }
      start = end;
    }
  }
  return clamps;
}

function requantizeShift(
  acc: Int32Array,
  out: IntArray,
  shift: Int32Array,
  channels: number,
  inner: number,
  zp: number,
  qmin: number,
  qmax: number,
  code: number,
): number {
  let clamps = 0;
  const n = acc.length;
  for (let start = 0; start < n; ) {
    for (let c = 0; c < channels; c++) {
      const k = shift[c]!;
      const end = start + inner;
      for (let i = start; i < end; i++) {
        let v = shiftPowerOfTwo(acc[i]!, k, code) + zp;
        if (v < qmin) {
          v = qmin;
          clamps++;
        } else if (v > qmax) {
          v = qmax;
          clamps++;
        }
        out[i] = v;
      }
      start = end;
    }
  }
  return clamps;
}
