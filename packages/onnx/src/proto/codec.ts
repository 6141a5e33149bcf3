import protobuf from "protobufjs/light.js";
import { checkModel } from "./check.js";
import { onnxSchemaJson } from "./schema.js";
import type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  StringStringEntryProto,
  TensorProto,
  TensorShapeDimension,
  TypeProto,
  ValueInfoProto,
} from "./types.js";

/*
 * ModelProto ↔ bytes. protobufjs does the wire format; this file maps its messages to the plain types of
 * `types.ts` (int64 numbers checked to be exact, bytes copied out of the input buffer, absent optional
 * fields left absent) and runs the structural checks of `check.ts` on both sides.
 */

const modelType = protobuf.Root.fromJSON(onnxSchemaJson).lookupType("onnx.ModelProto");

/** What protobufjs hands back for an int64: a Long-like pair when the `long` package loaded, else a number. */
type WireLong = number | { low: number; high: number; unsigned?: boolean };
type Wire = Record<string, unknown>;

const TWO_32 = 4294967296n;

function wireToBigInt(v: WireLong, unsigned: boolean, path: string): bigint {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) {
      throw new Error(
        `decodeModel: ${path}: value ${v} cannot be read exactly (beyond 2^53 without Long support)`,
      );
    }
    return BigInt(v);
  }
  const bits = BigInt(v.high >>> 0) * TWO_32 + BigInt(v.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

function wireToNumber(v: WireLong, path: string): number {
  const b = wireToBigInt(v, false, path);
  const n = Number(b);
  if (!Number.isSafeInteger(n)) {
    throw new Error(`decodeModel: ${path}: int64 value ${b} is beyond ±2^53 and cannot be represented here`);
  }
  return n;
}

function bigIntToWire(b: bigint): { low: number; high: number } {
  const bits = BigInt.asUintN(64, b);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0 };
}

const has = (m: Wire, field: string): boolean => Object.hasOwn(m, field) && m[field] !== undefined;
const list = <T>(m: Wire, field: string): T[] => (has(m, field) ? (m[field] as T[]) : []);
const copyBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);

/** Copy the optional string fields that are present on the wire message. */
function strings<T>(m: Wire, target: T, fields: readonly (keyof T & string)[]): T {
  for (const f of fields) if (has(m, f)) (target as Record<string, unknown>)[f] = m[f];
  return target;
}

function entriesFromWire(items: Wire[]): StringStringEntryProto[] {
  return items.map((e) => ({
    key: has(e, "key") ? (e.key as string) : "",
    value: has(e, "value") ? (e.value as string) : "",
  }));
}

function tensorFromWire(m: Wire, path: string): TensorProto {
  const t: TensorProto = {
    dims: list<WireLong>(m, "dims").map((d, i) => wireToNumber(d, `${path}.dims[${i}]`)),
    dataType: has(m, "dataType") ? (m.dataType as number) : 0,
    floatData: [...list<number>(m, "floatData")],
    int32Data: [...list<number>(m, "int32Data")],
    stringData: list<Uint8Array>(m, "stringData").map(copyBytes),
    int64Data: list<WireLong>(m, "int64Data").map((v) => wireToBigInt(v, false, `${path}.int64Data`)),
    doubleData: [...list<number>(m, "doubleData")],
    uint64Data: list<WireLong>(m, "uint64Data").map((v) => wireToBigInt(v, true, `${path}.uint64Data`)),
    externalData: entriesFromWire(list<Wire>(m, "externalData")),
  };
  strings(m, t, ["name", "docString"]);
  if (has(m, "rawData")) t.rawData = copyBytes(m.rawData as Uint8Array);
  if (has(m, "dataLocation")) t.dataLocation = m.dataLocation as number;
  return t;
}

function attributeFromWire(m: Wire, path: string): AttributeProto {
  const p = `${path} '${String(m.name ?? "")}'`;
  const a: AttributeProto = {
    name: has(m, "name") ? (m.name as string) : "",
    type: has(m, "type") ? (m.type as number) : 0,
    floats: [...list<number>(m, "floats")],
    ints: list<WireLong>(m, "ints").map((v, i) => wireToNumber(v, `${p}.ints[${i}]`)),
    strings: list<Uint8Array>(m, "strings").map(copyBytes),
    tensors: list<Wire>(m, "tensors").map((t, i) => tensorFromWire(t, `${p}.tensors[${i}]`)),
    graphs: list<Wire>(m, "graphs").map((g, i) => graphFromWire(g, `${p}.graphs[${i}]`)),
  };
  if (has(m, "f")) a.f = m.f as number;
  if (has(m, "i")) a.i = wireToNumber(m.i as WireLong, `${p}.i`);
  if (has(m, "s")) a.s = copyBytes(m.s as Uint8Array);
  if (has(m, "t")) a.t = tensorFromWire(m.t as Wire, `${p}.t`);
  if (has(m, "g")) a.g = graphFromWire(m.g as Wire, `${p}.g`);
  return strings(m, a, ["docString", "refAttrName"]);
}

function nodeFromWire(m: Wire, path: string): NodeProto {
  const n: NodeProto = {
    input: [...list<string>(m, "input")],
    output: [...list<string>(m, "output")],
    opType: has(m, "opType") ? (m.opType as string) : "",
    attribute: list<Wire>(m, "attribute").map((a) => attributeFromWire(a, `${path}.attribute`)),
  };
  return strings(m, n, ["name", "domain", "docString"]);
}

function dimensionFromWire(m: Wire, path: string): TensorShapeDimension {
  const d: TensorShapeDimension = {};
  if (has(m, "dimValue")) d.dimValue = wireToNumber(m.dimValue as WireLong, `${path}.dimValue`);
  return strings(m, d, ["dimParam", "denotation"]);
}

function typeFromWire(m: Wire, path: string): TypeProto {
  const t: TypeProto = {};
  if (has(m, "tensorType")) {
    const tt = m.tensorType as Wire;
    t.tensorType = { elemType: has(tt, "elemType") ? (tt.elemType as number) : 0 };
    if (has(tt, "shape")) {
      const dims = list<Wire>(tt.shape as Wire, "dim");
      t.tensorType.shape = {
        dim: dims.map((d, i) => dimensionFromWire(d, `${path}.tensorType.shape.dim[${i}]`)),
      };
    }
  }
  return strings(m, t, ["denotation"]);
}

function valueInfoFromWire(m: Wire, path: string): ValueInfoProto {
  const v: ValueInfoProto = { name: has(m, "name") ? (m.name as string) : "" };
  if (has(m, "type")) v.type = typeFromWire(m.type as Wire, `${path} '${v.name}'.type`);
  return strings(m, v, ["docString"]);
}

function graphFromWire(m: Wire, path: string): GraphProto {
  const g: GraphProto = {
    node: list<Wire>(m, "node").map((n, i) => nodeFromWire(n, `${path}.node[${i}]`)),
    initializer: list<Wire>(m, "initializer").map((t, i) => tensorFromWire(t, `${path}.initializer[${i}]`)),
    input: list<Wire>(m, "input").map((v, i) => valueInfoFromWire(v, `${path}.input[${i}]`)),
    output: list<Wire>(m, "output").map((v, i) => valueInfoFromWire(v, `${path}.output[${i}]`)),
    valueInfo: list<Wire>(m, "valueInfo").map((v, i) => valueInfoFromWire(v, `${path}.valueInfo[${i}]`)),
  };
  return strings(m, g, ["name", "docString"]);
}

function modelFromWire(m: Wire): ModelProto {
  const model = {
    irVersion: has(m, "irVersion") ? wireToNumber(m.irVersion as WireLong, "irVersion") : 0,
    opsetImport: list<Wire>(m, "opsetImport").map((o, i): OperatorSetIdProto => {
      const version = has(o, "version")
        ? wireToNumber(o.version as WireLong, `opsetImport[${i}].version`)
        : 0;
      return has(o, "domain") ? { domain: o.domain as string, version } : { version };
    }),
    metadataProps: entriesFromWire(list<Wire>(m, "metadataProps")),
  } as ModelProto;
  if (has(m, "graph")) model.graph = graphFromWire(m.graph as Wire, "graph");
  if (has(m, "modelVersion")) model.modelVersion = wireToNumber(m.modelVersion as WireLong, "modelVersion");
  return strings(m, model, ["producerName", "producerVersion", "domain", "docString"]);
}

// On the way out only the bigint payloads need a different form; protobufjs takes the rest as they are.
function tensorToWire(t: TensorProto): Wire {
  if (t.int64Data.length === 0 && t.uint64Data.length === 0) return t as unknown as Wire;
  return { ...t, int64Data: t.int64Data.map(bigIntToWire), uint64Data: t.uint64Data.map(bigIntToWire) };
}

function graphToWire(g: GraphProto): Wire {
  return {
    ...g,
    initializer: g.initializer.map(tensorToWire),
    node: g.node.map((n) => ({
      ...n,
      attribute: n.attribute.map((a) => ({
        ...a,
        ...(a.t === undefined ? {} : { t: tensorToWire(a.t) }),
        ...(a.g === undefined ? {} : { g: graphToWire(a.g) }),
        tensors: a.tensors.map(tensorToWire),
        graphs: a.graphs.map(graphToWire),
      })),
    })),
  };
}

/** Serialize a model to ONNX protobuf bytes, after checking its structure (see `check.ts`). */
export function encodeModel(model: ModelProto): Uint8Array {
  checkModel(model, "encodeModel");
  const wire = { ...model, graph: graphToWire(model.graph) };
  // A copy: protobufjs may hand out a slice of Node's shared Buffer pool.
  return new Uint8Array(modelType.encode(wire).finish());
}

/**
 * Parse ONNX protobuf bytes. Malformed or truncated input throws an Error starting `decodeModel:` that
 * says what is wrong (a wire-format fault, or the first structural problem found). The returned model
 * shares no memory with `bytes`.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (!(bytes instanceof Uint8Array)) {
    const got =
      bytes === null
        ? "null"
        : typeof bytes === "object"
          ? (bytes as object).constructor?.name
          : typeof bytes;
    throw new Error(`decodeModel: bytes must be a Uint8Array, got ${got}`);
  }
  if (bytes.length === 0) throw new Error("decodeModel: bytes is empty, not an ONNX model");
  let wire: Wire;
  try {
    wire = modelType.decode(bytes) as unknown as Wire;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`decodeModel: malformed or truncated ONNX protobuf (${why})`, { cause: e });
  }
  const model = modelFromWire(wire);
  checkModel(model, "decodeModel");
  return model;
}
