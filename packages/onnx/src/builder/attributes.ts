import { type AttributeProto, AttributeType, type GraphProto, type TensorProto } from "../proto/types.js";

/*
 * Node attributes from plain values. A number is an INT when it is an integer and a FLOAT otherwise, a
 * number array likewise INTS or FLOATS, a string is a STRING, a TensorProto a TENSOR. Where that guess
 * would be wrong (a float attribute with an integral value, such as Gemm's alpha = 1) or impossible (an
 * empty list), say the type with `attr.float(1)`, `attr.ints([])`, …
 */

type Kind = "float" | "int" | "string" | "floats" | "ints" | "strings" | "tensor" | "tensors" | "graph";

/** An attribute value whose ONNX type is stated rather than guessed. */
export interface TypedAttribute {
  readonly attributeKind: Kind;
  readonly value: unknown;
}

export type AttributeValue =
  | number
  | string
  | readonly number[]
  | readonly string[]
  | TensorProto
  | TypedAttribute;

const typed = (attributeKind: Kind, value: unknown): TypedAttribute =>
  Object.freeze({ attributeKind, value });

/** Attribute values with an explicit ONNX type. */
export const attr = Object.freeze({
  float: (v: number): TypedAttribute => typed("float", v),
  int: (v: number): TypedAttribute => typed("int", v),
  string: (v: string): TypedAttribute => typed("string", v),
  floats: (v: readonly number[]): TypedAttribute => typed("floats", v),
  ints: (v: readonly number[]): TypedAttribute => typed("ints", v),
  strings: (v: readonly string[]): TypedAttribute => typed("strings", v),
  tensor: (v: TensorProto): TypedAttribute => typed("tensor", v),
  tensors: (v: readonly TensorProto[]): TypedAttribute => typed("tensors", v),
  graph: (v: GraphProto): TypedAttribute => typed("graph", v),
});

const utf8 = new TextEncoder();

function isTyped(v: unknown): v is TypedAttribute {
  return typeof v === "object" && v !== null && "attributeKind" in v;
}

function isTensor(v: unknown): v is TensorProto {
  return typeof v === "object" && v !== null && "dataType" in v && "dims" in v;
}

function inferKind(value: unknown, where: string): Kind {
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "string") return "string";
  if (Array.isArray(value)) {
    if (value.length === 0) throw new Error(`${where}: an empty list needs a stated type (attr.ints([]), …)`);
    if (value.every((v) => typeof v === "string")) return "strings";
    if (value.every((v) => typeof v === "number")) return value.every(Number.isInteger) ? "ints" : "floats";
    throw new Error(`${where}: a list must hold only numbers or only strings`);
  }
  if (isTensor(value)) return "tensor";
  throw new Error(`${where}: unsupported attribute value ${String(value)}`);
}

function numbers(value: unknown, where: string, integer: boolean): number[] {
  if (!Array.isArray(value)) throw new Error(`${where}: expected a list of numbers`);
  return value.map((v, i) => number(v, `${where}[${i}]`, integer));
}

function number(v: unknown, where: string, integer: boolean): number {
  if (typeof v !== "number" || (integer ? !Number.isSafeInteger(v) : false)) {
    throw new Error(`${where}: expected ${integer ? "an integer" : "a number"}, got ${String(v)}`);
  }
  return v;
}

/** The AttributeProto for one named value (`fn` names the caller in errors). */
export function attributeProto(name: string, value: AttributeValue, fn: string): AttributeProto {
  const where = `${fn}: attribute '${name}'`;
  if (typeof name !== "string" || name === "")
    throw new Error(`${fn}: attribute names must be non-empty strings`);
  const kind = isTyped(value) ? value.attributeKind : inferKind(value, where);
  const v = isTyped(value) ? value.value : value;
  const a: AttributeProto = { name, type: 0, floats: [], ints: [], strings: [], tensors: [], graphs: [] };
  switch (kind) {
    case "float":
      a.type = AttributeType.FLOAT;
      a.f = number(v, where, false);
      break;
    case "int":
      a.type = AttributeType.INT;
      a.i = number(v, where, true);
      break;
    case "string":
      if (typeof v !== "string") throw new Error(`${where}: expected a string`);
      a.type = AttributeType.STRING;
      a.s = utf8.encode(v);
      break;
    case "floats":
      a.type = AttributeType.FLOATS;
      a.floats = numbers(v, where, false);
      break;
    case "ints":
      a.type = AttributeType.INTS;
      a.ints = numbers(v, where, true);
      break;
    case "strings":
      if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
        throw new Error(`${where}: expected a list of strings`);
      }
      a.type = AttributeType.STRINGS;
      a.strings = v.map((s) => utf8.encode(s));
      break;
    case "tensor":
      if (!isTensor(v)) throw new Error(`${where}: expected a TensorProto`);
      a.type = AttributeType.TENSOR;
      a.t = v;
      break;
    case "tensors":
      if (!Array.isArray(v) || !v.every(isTensor))
        throw new Error(`${where}: expected a list of TensorProtos`);
      a.type = AttributeType.TENSORS;
      a.tensors = [...v];
      break;
    case "graph":
      a.type = AttributeType.GRAPH;
      a.g = v as GraphProto;
      break;
    default:
      throw new Error(`${where}: unknown attribute kind ${String(kind)}`);
  }
  return a;
}
