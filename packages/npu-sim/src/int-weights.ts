import { packInt4 } from "@quant-trim/quant";

/*
 * Integer weights as the kernels read them: 8-bit codes one a byte, or 4-bit codes packed two a byte
 * (element 2i in the low nibble, 2i+1 in the high nibble, the layout of ONNX int4/uint4 and TFLite
 * kTfLiteInt4), with a per-tensor zero point or one per output channel. Kernels read packed codes
 * nibble by nibble into their own small panels; the whole tensor is never unpacked.
 */

export type IntWeightType = "int8" | "uint8" | "int4" | "uint4";

export interface IntWeights {
  readonly type: IntWeightType;
  /** `Int8Array` for int8, `Uint8Array` for uint8, packed `Uint8Array` (ceil(size/2) bytes) for 4-bit. */
  readonly data: Int8Array | Uint8Array;
  readonly shape: readonly number[];
  /** Element count (the product of `shape`), which a packed array's length alone does not tell. */
  readonly size: number;
  /** One zero point (per tensor) or one per index of `channelAxis`, each inside the type's range. */
  readonly zeroPoint: Int32Array;
  /** The axis per-channel zero points run along (0 for [M, C, kh, kw] conv and [N, K] weights). */
  readonly channelAxis: number;
}

export interface IntWeightsInit {
  type: IntWeightType;
  data: Int8Array | Uint8Array;
  shape: readonly number[];
  /** Default 0. A number or a one-element array is per tensor; longer arrays are per channel. */
  zeroPoint?: number | ArrayLike<number>;
  /** Default 0. */
  channelAxis?: number;
}

const WEIGHT_TYPES: readonly IntWeightType[] = ["int8", "uint8", "int4", "uint4"];
const INIT_FIELDS = new Set(["type", "data", "shape", "zeroPoint", "channelAxis"]);

/** The codes each weight type can hold. */
export function weightTypeRange(type: IntWeightType): { min: number; max: number } {
  switch (type) {
    case "int8":
      return { min: -128, max: 127 };
    case "uint8":
      return { min: 0, max: 255 };
    case "int4":
      return { min: -8, max: 7 };
    case "uint4":
      return { min: 0, max: 15 };
  }
}

export function isPackedWeightType(type: IntWeightType): boolean {
  return type === "int4" || type === "uint4";
}

/**
 * Validate stored codes and wrap them as `IntWeights`. Throws, naming the field, on an unknown type or
 * field, a data array of the wrong class or length (packed: ceil(size/2) bytes), a bad shape, a zero
 * point outside the type or a zero-point count that is neither 1 nor the channel axis' length.
 */
export function intWeights(init: IntWeightsInit): IntWeights {
  const fn = "intWeights";
  if (init === null || typeof init !== "object") throw new Error(`${fn}: init must be an object`);
  for (const key of Object.keys(init)) {
    if (!INIT_FIELDS.has(key)) {
      throw new Error(`${fn}: unknown field '${key}'; known fields: ${[...INIT_FIELDS].join(", ")}`);
    }
  }
  const { type, data } = init;
  if (!WEIGHT_TYPES.includes(type)) {
    throw new Error(`${fn}: type must be one of ${WEIGHT_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
  }
  const shape = checkShape(fn, "shape", init.shape);
  const size = shape.reduce((p, d) => p * d, 1);
  if (type === "int8") {
    if (!(data instanceof Int8Array)) throw new Error(`${fn}: data must be an Int8Array for type int8`);
  } else if (!(data instanceof Uint8Array)) {
    throw new Error(`${fn}: data must be a Uint8Array for type ${type}`);
  }
  const expected = isPackedWeightType(type) ? Math.ceil(size / 2) : size;
  if (data.length !== expected) {
    throw new Error(
      `${fn}: data has length ${data.length} but shape [${shape.join(", ")}] of ${type} needs ${expected}` +
        (isPackedWeightType(type) ? ` (ceil(${size}/2) packed bytes)` : ""),
    );
  }
  const channelAxis = init.channelAxis ?? 0;
  if (!Number.isInteger(channelAxis) || channelAxis < 0 || channelAxis >= Math.max(shape.length, 1)) {
    throw new Error(`${fn}: channelAxis must be an integer in [0, ${shape.length}), got ${channelAxis}`);
  }
  const zeroPoint = checkZeroPoints(fn, type, init.zeroPoint ?? 0);
  if (zeroPoint.length !== 1 && zeroPoint.length !== shape[channelAxis]) {
    throw new Error(
      `${fn}: zeroPoint has ${zeroPoint.length} values but channel axis ${channelAxis} has length ${shape[channelAxis]}`,
    );
  }
  return Object.freeze({ type, data, shape: Object.freeze(shape), size, zeroPoint, channelAxis });
}

/**
 * Store integer codes (e.g. quant's `quantize` output) as `IntWeights` of the given type: 8-bit codes
 * are copied, 4-bit codes are packed with quant's `packInt4`. Throws on a code outside the type.
 */
export function packIntWeights(codes: ArrayLike<number>, init: Omit<IntWeightsInit, "data">): IntWeights {
  const fn = "packIntWeights";
  if (init === null || typeof init !== "object") throw new Error(`${fn}: init must be an object`);
  if (!WEIGHT_TYPES.includes(init.type)) {
    throw new Error(
      `${fn}: type must be one of ${WEIGHT_TYPES.join(", ")}, got ${JSON.stringify(init.type)}`,
    );
  }
  const { min, max } = weightTypeRange(init.type);
  const n = codes.length;
  const values = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = codes[i]!;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new Error(`${fn}: codes[${i}] = ${v} is outside the ${init.type} range [${min}, ${max}]`);
    }
    // packInt4 takes signed nibbles; an unsigned code ≥ 8 has the same nibble as its value − 16.
    values[i] = init.type === "uint4" && v > 7 ? v - 16 : v;
  }
  let data: Int8Array | Uint8Array;
  if (init.type === "int8") data = Int8Array.from(values);
  else if (init.type === "uint8") data = Uint8Array.from(values);
  else data = packInt4(values);
  return intWeights({ ...init, data });
}

/**
 * Re-validate weights handed to a kernel (the zero points live in a mutable Int32Array, and an object
 * literal can pose as `IntWeights`); errors name `fn` and the argument `name`.
 */
export function checkIntWeights(fn: string, name: string, w: IntWeights): void {
  if (w === null || typeof w !== "object")
    throw new Error(`${fn}: ${name} must be IntWeights (see intWeights)`);
  if (!(w.zeroPoint instanceof Int32Array)) {
    throw new Error(`${fn}: ${name}.zeroPoint must be an Int32Array (build weights with intWeights)`);
  }
  try {
    const checked = intWeights({
      type: w.type,
      data: w.data,
      shape: w.shape,
      zeroPoint: w.zeroPoint,
      channelAxis: w.channelAxis,
    });
    if (checked.size !== w.size) throw new Error(`size ${w.size} does not match the shape's ${checked.size}`);
  } catch (e) {
    throw new Error(`${fn}: ${name}: ${(e as Error).message.replace(/^intWeights: /, "")}`);
  }
}

/** The stored code of element `index` (row-major), without its zero point. For references and tests. */
export function weightCode(w: IntWeights, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= w.size) {
    throw new Error(`weightCode: index ${index} is outside [0, ${w.size})`);
  }
  return readCode(w.type, w.data, index);
}

/** Unchecked element read shared by the kernels' panel packers. */
export function readCode(type: IntWeightType, data: Int8Array | Uint8Array, index: number): number {
  if (type === "int8" || type === "uint8") return data[index]!;
  const byte = data[index >>> 1]!;
  const nibble = (index & 1) === 0 ? byte & 0x0f : byte >> 4;
  return type === "int4" ? (nibble << 28) >> 28 : nibble;
}

/** The zero point of output channel `channel` (any channel for a per-tensor zero point). */
export function weightZeroPoint(w: IntWeights, channel: number): number {
  return w.zeroPoint.length === 1 ? w.zeroPoint[0]! : w.zeroPoint[channel]!;
}

function checkShape(fn: string, name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length === 0) {
    throw new Error(`${fn}: ${name} must be a non-empty array of dimensions`);
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${fn}: ${name} [${shape.join(", ")}] must hold non-negative integers`);
    }
  }
  return [...(shape as number[])];
}

function checkZeroPoints(fn: string, type: IntWeightType, zp: number | ArrayLike<number>): Int32Array {
  const values = typeof zp === "number" ? [zp] : zp;
  if (values === null || typeof values !== "object" || typeof values.length !== "number") {
    throw new Error(`${fn}: zeroPoint must be a number or an array of numbers`);
  }
  if (values.length === 0) throw new Error(`${fn}: zeroPoint must hold at least one value`);
  const { min, max } = weightTypeRange(type);
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new Error(`${fn}: zeroPoint[${i}] = ${String(v)} is outside the ${type} range [${min}, ${max}]`);
    }
    out[i] = v;
  }
  return out;
}
