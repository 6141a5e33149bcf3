/*
 * Plain TypeScript shapes of the ONNX messages in `schema.ts`. `decodeModel` returns them and
 * `encodeModel` takes them. Conventions:
 * - repeated fields are always arrays (empty when absent on the wire);
 * - optional singular fields are present only when set, so a decoded model compares equal to the one
 *   that was encoded;
 * - int64 scalars and lists (dims, ints, versions) are numbers and must be safe integers; the int64 and
 *   uint64 tensor payloads (`int64Data`, `uint64Data`) are bigints, because real models store values
 *   such as INT64_MAX there.
 */

/** `TensorProto.DataType` codes (onnx.proto). */
export const DataType = Object.freeze({
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
} as const);
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** `AttributeProto.AttributeType` codes for the attribute kinds in the subset. */
export const AttributeType = Object.freeze({
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const);
export type AttributeTypeCode = (typeof AttributeType)[keyof typeof AttributeType];

/** `TensorProto.DataLocation`: 1 means the payload lives in another file. */
export const DATA_LOCATION_EXTERNAL = 1;

export interface StringStringEntryProto {
  key: string;
  value: string;
}

export interface OperatorSetIdProto {
  /** "" (or absent) is the default ONNX domain `ai.onnx`. */
  domain?: string;
  version: number;
}

export interface TensorShapeDimension {
  /** A fixed size. */
  dimValue?: number;
  /** A symbolic size such as "batch" (dynamic). A dimension with neither is unknown. */
  dimParam?: string;
  denotation?: string;
}

export interface TensorShapeProto {
  dim: TensorShapeDimension[];
}

export interface TypeProtoTensor {
  elemType: number;
  /** Absent: the rank is unknown too. */
  shape?: TensorShapeProto;
}

export interface TypeProto {
  /** Absent for the non-tensor types (sequence, map, optional, sparse), which this subset does not read. */
  tensorType?: TypeProtoTensor;
  denotation?: string;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto;
  docString?: string;
}

export interface TensorProto {
  name?: string;
  dims: number[];
  dataType: number;
  /** Fixed-width little-endian elements (4-bit types: two per byte, low nibble first). */
  rawData?: Uint8Array;
  floatData: number[];
  /** int32/int16/int8/uint16/uint8/bool/float16 bits, and packed int4/uint4 bytes, one per entry. */
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: bigint[];
  doubleData: number[];
  /** uint32 and uint64 elements. */
  uint64Data: bigint[];
  docString?: string;
  externalData: StringStringEntryProto[];
  dataLocation?: number;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  /** STRING attributes are bytes on the wire (UTF-8 by convention). */
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  docString?: string;
  refAttrName?: string;
}

export interface NodeProto {
  /** "" marks an omitted optional input. */
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute: AttributeProto[];
  docString?: string;
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: GraphProto;
  metadataProps: StringStringEntryProto[];
}
