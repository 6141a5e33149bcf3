import { packInt4, unpackInt4 } from "@quant-trim/quant";
import { DataType, type TensorProto } from "./types.js";

/*
 * Tensor payloads: typed arrays in, TensorProto out (always as little-endian `rawData`, the layout every
 * exporter uses), and back, from whichever storage field a producer chose.
 */

/** Element types by the names this package uses in its API. */
export const ELEMENT_TYPES = Object.freeze({
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int16: DataType.INT16,
  uint16: DataType.UINT16,
  int32: DataType.INT32,
  uint32: DataType.UINT32,
  int64: DataType.INT64,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  int4: DataType.INT4,
  uint4: DataType.UINT4,
} as const);
export type ElementType = keyof typeof ELEMENT_TYPES;

/** What `tensorToArray` returns for each element type (4-bit types come back unpacked, one per element). */
export interface ElementArrays {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  int4: Int8Array;
  uint4: Uint8Array;
}
export type TensorArray = ElementArrays[ElementType];
/** Everything `tensorProto` accepts as values. */
export type TensorValues = TensorArray | Int32Array | readonly number[] | readonly bigint[];

const NAME_BY_CODE = new Map<number, ElementType>(
  (Object.entries(ELEMENT_TYPES) as [ElementType, number][]).map(([name, code]) => [code, name]),
);

/** The element type name of a DataType code, or undefined for types this package does not convert. */
export function elementTypeOf(dataType: number): ElementType | undefined {
  return NAME_BY_CODE.get(dataType);
}

/** The DataType code of an element type name (throws naming `fn` on an unknown name). */
export function dataTypeCode(type: ElementType, fn: string): number {
  const code = Object.hasOwn(ELEMENT_TYPES, type) ? ELEMENT_TYPES[type] : undefined;
  if (code === undefined) {
    throw new Error(
      `${fn}: unknown element type ${JSON.stringify(type)}; known: ${Object.keys(ELEMENT_TYPES).join(", ")}`,
    );
  }
  return code;
}

/** Bytes per element in `rawData` by DataType code (0.5 for the 4-bit types; absent: no raw form). */
const RAW_BYTES: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.COMPLEX64]: 8,
  [DataType.COMPLEX128]: 16,
  [DataType.BFLOAT16]: 2,
  [DataType.FLOAT8E4M3FN]: 1,
  [DataType.FLOAT8E4M3FNUZ]: 1,
  [DataType.FLOAT8E5M2]: 1,
  [DataType.FLOAT8E5M2FNUZ]: 1,
  [DataType.UINT4]: 0.5,
  [DataType.INT4]: 0.5,
  [DataType.FLOAT4E2M1]: 0.5,
};

/** Whether a DataType code is one onnx.proto defines (the ones this package knows by name or size). */
export function isKnownDataType(dataType: number): boolean {
  return dataType === DataType.STRING || RAW_BYTES[dataType] !== undefined;
}

/** Byte length of `count` elements of `dataType` in `rawData` (4-bit types pad to a whole byte). */
export function rawByteLength(dataType: number, count: number): number {
  const bytes = RAW_BYTES[dataType];
  if (bytes === undefined) throw new Error(`rawByteLength: data type ${dataType} has no raw form`);
  return Math.ceil(count * bytes);
}

/** Number of elements of a shape; throws naming `fn` unless every dim is a non-negative safe integer. */
export function elementCount(dims: readonly number[], fn: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`${fn}: dims [${dims.join(", ")}] must be non-negative integers`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new Error(`${fn}: dims [${dims.join(", ")}] have too many elements`);
  return n;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Layout {
  /** Bytes per element. */
  readonly size: number;
  readonly make: (n: number) => TensorArray;
  /** DataView reader for big-endian hosts. */
  readonly get: (v: DataView, offset: number) => number | bigint;
  readonly set: (v: DataView, offset: number, x: number | bigint) => void;
}

const layout = (
  size: number,
  make: (n: number) => TensorArray,
  get: Layout["get"],
  set: Layout["set"],
): Layout => ({ size, make, get, set });

/** Whole-byte element types: how their elements sit in memory and in `rawData`. */
const LAYOUTS: Partial<Record<ElementType, Layout>> = {
  float32: layout(
    4,
    (n) => new Float32Array(n),
    (v, o) => v.getFloat32(o, true),
    (v, o, x) => v.setFloat32(o, x as number, true),
  ),
  float64: layout(
    8,
    (n) => new Float64Array(n),
    (v, o) => v.getFloat64(o, true),
    (v, o, x) => v.setFloat64(o, x as number, true),
  ),
  float16: layout(
    2,
    (n) => new Uint16Array(n),
    (v, o) => v.getUint16(o, true),
    (v, o, x) => v.setUint16(o, x as number, true),
  ),
  bfloat16: layout(
    2,
    (n) => new Uint16Array(n),
    (v, o) => v.getUint16(o, true),
    (v, o, x) => v.setUint16(o, x as number, true),
  ),
  int8: layout(
    1,
    (n) => new Int8Array(n),
    (v, o) => v.getInt8(o),
    (v, o, x) => v.setInt8(o, x as number),
  ),
  uint8: layout(
    1,
    (n) => new Uint8Array(n),
    (v, o) => v.getUint8(o),
    (v, o, x) => v.setUint8(o, x as number),
  ),
  bool: layout(
    1,
    (n) => new Uint8Array(n),
    (v, o) => v.getUint8(o),
    (v, o, x) => v.setUint8(o, x as number),
  ),
  int16: layout(
    2,
    (n) => new Int16Array(n),
    (v, o) => v.getInt16(o, true),
    (v, o, x) => v.setInt16(o, x as number, true),
  ),
  uint16: layout(
    2,
    (n) => new Uint16Array(n),
    (v, o) => v.getUint16(o, true),
    (v, o, x) => v.setUint16(o, x as number, true),
  ),
  int32: layout(
    4,
    (n) => new Int32Array(n),
    (v, o) => v.getInt32(o, true),
    (v, o, x) => v.setInt32(o, x as number, true),
  ),
  uint32: layout(
    4,
    (n) => new Uint32Array(n),
    (v, o) => v.getUint32(o, true),
    (v, o, x) => v.setUint32(o, x as number, true),
  ),
  int64: layout(
    8,
    (n) => new BigInt64Array(n),
    (v, o) => v.getBigInt64(o, true),
    (v, o, x) => v.setBigInt64(o, x as bigint, true),
  ),
  uint64: layout(
    8,
    (n) => new BigUint64Array(n),
    (v, o) => v.getBigUint64(o, true),
    (v, o, x) => v.setBigUint64(o, x as bigint, true),
  ),
};

/** Integer ranges of the types whose values must be checked on the way in (nothing is wrapped silently). */
const INT_RANGES: Partial<Record<ElementType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  bool: [0, 1],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  float16: [0, 65535],
  bfloat16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int4: [-8, 7],
  uint4: [0, 15],
};
const BIG_RANGES: Partial<Record<ElementType, readonly [bigint, bigint]>> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

function defaultElementType(values: TensorValues, fn: string): ElementType {
  if (values instanceof Float32Array) return "float32";
  if (values instanceof Float64Array) return "float64";
  if (values instanceof Int8Array) return "int8";
  if (values instanceof Uint8Array) return "uint8";
  if (values instanceof Int16Array) return "int16";
  if (values instanceof Uint16Array) return "uint16";
  if (values instanceof Int32Array) return "int32";
  if (values instanceof Uint32Array) return "uint32";
  if (values instanceof BigInt64Array) return "int64";
  if (values instanceof BigUint64Array) return "uint64";
  throw new Error(`${fn}: values given as a plain array need an explicit element type`);
}

function isAcceptedContainer(values: unknown): values is TensorValues {
  if (Array.isArray(values)) return true;
  return (
    ArrayBuffer.isView(values) && !(values instanceof DataView) && !(values instanceof Uint8ClampedArray)
  );
}

/**
 * Convert `values` into a fresh array of `type`, checking every element: integer types need integers in
 * their range, float types take any number (rounded to float32 for float32), 4-bit types stay unpacked.
 */
function convertValues(values: TensorValues, type: ElementType, fn: string): TensorArray {
  const n = values.length;
  const big = BIG_RANGES[type];
  if (big !== undefined) {
    const out = type === "int64" ? new BigInt64Array(n) : new BigUint64Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      const b = typeof v === "bigint" ? v : Number.isSafeInteger(v) ? BigInt(v) : undefined;
      if (b === undefined || b < big[0] || b > big[1]) {
        throw new Error(`${fn}: values[${i}] = ${String(v)} is not a ${type} integer`);
      }
      out[i] = b;
    }
    return out;
  }
  const target =
    type === "int4" ? new Int8Array(n) : type === "uint4" ? new Uint8Array(n) : LAYOUTS[type]!.make(n);
  const range = INT_RANGES[type];
  for (let i = 0; i < n; i++) {
    const raw = values[i]!;
    const v = typeof raw === "bigint" ? Number(raw) : raw;
    if (range !== undefined) {
      if (
        !Number.isInteger(v) ||
        v < range[0] ||
        v > range[1] ||
        (typeof raw === "bigint" && BigInt(v) !== raw)
      ) {
        throw new Error(
          `${fn}: values[${i}] = ${String(raw)} is outside the ${type} range [${range[0]}, ${range[1]}]`,
        );
      }
    } else if (typeof raw === "bigint") {
      throw new Error(`${fn}: values[${i}] is a bigint but the element type ${type} is floating point`);
    }
    (target as Float64Array)[i] = v;
  }
  return target;
}

/** The little-endian bytes of a whole-byte typed array (a copy). */
function toLittleEndianBytes(array: TensorArray, type: ElementType): Uint8Array {
  const { size, set } = LAYOUTS[type]!;
  if (LITTLE_ENDIAN)
    return new Uint8Array(array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength));
  const bytes = new Uint8Array(array.length * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < array.length; i++) set(view, i * size, array[i]!);
  return bytes;
}

/**
 * A TensorProto holding `values` with shape `dims` as raw little-endian data. The element type defaults
 * to the typed array's own; give it for plain arrays, for bool/float16 (bits in a Uint16Array) and for
 * the 4-bit types (values one per element, packed here two per byte, low nibble first). Values that do
 * not fit the type are rejected, never wrapped.
 */
export function tensorProto(
  name: string,
  values: TensorValues,
  dims: readonly number[],
  type?: ElementType,
): TensorProto {
  const fn = `tensorProto('${name}')`;
  if (typeof name !== "string") throw new Error(`tensorProto: name must be a string, got ${String(name)}`);
  if (!isAcceptedContainer(values)) {
    throw new Error(`${fn}: values must be a typed array or an array of numbers`);
  }
  if (!Array.isArray(dims)) throw new Error(`${fn}: dims must be an array of integers`);
  const elementType = type ?? defaultElementType(values, fn);
  const dataType = dataTypeCode(elementType, fn);
  const count = elementCount(dims, fn);
  if (values.length !== count) {
    throw new Error(
      `${fn}: dims [${dims.join(", ")}] hold ${count} elements but values has ${values.length}`,
    );
  }
  const converted = convertValues(values, elementType, fn);
  let rawData: Uint8Array;
  if (elementType === "int4") rawData = packInt4(converted as Int8Array);
  else if (elementType === "uint4") {
    // packInt4 takes signed nibbles; u and u − 16 share the same low four bits.
    rawData = packInt4(Int8Array.from(converted as Uint8Array, (u) => (u > 7 ? u - 16 : u)));
  } else rawData = toLittleEndianBytes(converted, elementType);
  return {
    name,
    dims: [...dims],
    dataType,
    rawData,
    floatData: [],
    int32Data: [],
    stringData: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    externalData: [],
  };
}

function unpackNibbles(bytes: Uint8Array, count: number, type: "int4" | "uint4"): Int8Array | Uint8Array {
  const signed = unpackInt4(bytes, count);
  return type === "int4" ? signed : Uint8Array.from(signed, (v) => v & 0x0f);
}

function where(t: TensorProto): string {
  return t.name === undefined || t.name === "" ? "tensor" : `tensor '${t.name}'`;
}

/**
 * The elements of a TensorProto as a typed array (see `ElementArrays`), whichever field holds them.
 * Throws naming the tensor for external data, unsupported types, a payload whose length does not match
 * `dims`, or values outside the element type.
 */
export function tensorToArray(t: TensorProto): TensorArray {
  const fn = `tensorToArray(${where(t)})`;
  const type = elementTypeOf(t.dataType);
  if (type === undefined) throw new Error(`${fn}: data type ${t.dataType} is not supported`);
  if (t.dataLocation === 1 || t.externalData.length > 0) {
    throw new Error(`${fn}: the data is stored in an external file, which this reader does not load`);
  }
  const count = elementCount(t.dims, fn);
  if (t.rawData !== undefined) {
    const expected = rawByteLength(t.dataType, count);
    if (t.rawData.length !== expected) {
      throw new Error(
        `${fn}: rawData has ${t.rawData.length} bytes but ${count} ${type} elements need ${expected}`,
      );
    }
    if (type === "int4" || type === "uint4") return unpackNibbles(t.rawData, count, type);
    const { size, make, get } = LAYOUTS[type]!;
    if (LITTLE_ENDIAN) {
      const copy = t.rawData.slice();
      const out = make(0).constructor as new (b: ArrayBuffer, o: number, n: number) => TensorArray;
      return new out(copy.buffer, 0, count);
    }
    const out = make(count);
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    for (let i = 0; i < count; i++) (out as Float64Array)[i] = get(view, i * size) as number;
    return out;
  }
  const field = typedField(t, type);
  const expected = type === "int4" || type === "uint4" ? Math.ceil(count / 2) : count;
  if (field.values.length !== expected) {
    throw new Error(
      `${fn}: ${field.name} has ${field.values.length} entries but ${count} ${type} elements need ${expected}`,
    );
  }
  if (type === "int4" || type === "uint4") {
    const bytes = convertValues(field.values, "uint8", `${fn} ${field.name}`) as Uint8Array;
    return unpackNibbles(bytes, count, type);
  }
  return convertValues(field.values, type, `${fn} ${field.name}`);
}

/** The typed storage field onnx.proto assigns to an element type. */
function typedField(
  t: TensorProto,
  type: ElementType,
): { name: string; values: readonly number[] | readonly bigint[] } {
  switch (type) {
    case "float32":
      return { name: "floatData", values: t.floatData };
    case "float64":
      return { name: "doubleData", values: t.doubleData };
    case "int64":
      return { name: "int64Data", values: t.int64Data };
    case "uint32":
    case "uint64":
      return { name: "uint64Data", values: t.uint64Data };
    default:
      return { name: "int32Data", values: t.int32Data };
  }
}
