import { isKnownDataType, rawByteLength } from "./tensor-data.js";
import {
  AttributeType,
  DATA_LOCATION_EXTERNAL,
  DataType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "./types.js";

/*
 * Structural checks of a model, run by `encodeModel` before writing and by `decodeModel` after reading.
 * Protobuf has no framing beyond its fields, so a truncated or corrupted file often still parses; these
 * checks are what turns such input into an error naming the broken part. They cover the message shapes
 * and payload sizes, not operator semantics (that is ONNX Runtime's job) and not the graph's wiring
 * (the graph builder checks that).
 */

class Checker {
  constructor(private readonly fn: string) {}

  fail(path: string, problem: string): never {
    throw new Error(`${this.fn}: ${path}: ${problem}`);
  }

  object(path: string, v: unknown): void {
    if (v === null || typeof v !== "object" || Array.isArray(v)) this.fail(path, "must be an object");
  }

  array(path: string, v: unknown): void {
    if (!Array.isArray(v)) this.fail(path, "must be an array");
  }

  optionalString(path: string, v: unknown): void {
    if (v !== undefined && typeof v !== "string") this.fail(path, `must be a string, got ${typeof v}`);
  }

  name(path: string, v: unknown): void {
    if (typeof v !== "string" || v === "") this.fail(path, "must be a non-empty string");
  }

  safeInteger(path: string, v: unknown, min = Number.MIN_SAFE_INTEGER): void {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      this.fail(
        path,
        `must be an integer${min > Number.MIN_SAFE_INTEGER ? ` ≥ ${min}` : ""}, got ${String(v)}`,
      );
    }
  }

  bytes(path: string, v: unknown): void {
    if (!(v instanceof Uint8Array)) this.fail(path, "must be a Uint8Array");
  }

  model(m: ModelProto): void {
    this.object("model", m);
    this.safeInteger("irVersion", m.irVersion, 1);
    this.array("opsetImport", m.opsetImport);
    if (m.opsetImport.length === 0)
      this.fail("opsetImport", "is empty: a model must import at least one opset");
    const domains = new Set<string>();
    m.opsetImport.forEach((o, i) => {
      const path = `opsetImport[${i}]`;
      this.object(path, o);
      this.optionalString(`${path}.domain`, o.domain);
      this.safeInteger(`${path}.version`, o.version, 1);
      const domain = o.domain === undefined || o.domain === "ai.onnx" ? "" : o.domain;
      if (domains.has(domain)) this.fail(path, `domain '${domain || "ai.onnx"}' is imported twice`);
      domains.add(domain);
    });
    for (const f of ["producerName", "producerVersion", "domain", "docString"] as const) {
      this.optionalString(f, m[f]);
    }
    if (m.modelVersion !== undefined) this.safeInteger("modelVersion", m.modelVersion);
    this.entries("metadataProps", m.metadataProps, true);
    if (m.graph === undefined) this.fail("graph", "is missing");
    this.graph("graph", m.graph);
  }

  entries(path: string, list: unknown, distinct: boolean): void {
    this.array(path, list);
    const keys = new Set<string>();
    (list as { key: unknown; value: unknown }[]).forEach((e, i) => {
      this.object(`${path}[${i}]`, e);
      if (typeof e.key !== "string") this.fail(`${path}[${i}].key`, "must be a string");
      if (typeof e.value !== "string") this.fail(`${path}[${i}].value`, "must be a string");
      if (distinct && keys.has(e.key)) this.fail(`${path}[${i}]`, `key '${e.key}' appears twice`);
      keys.add(e.key);
    });
  }

  graph(path: string, g: GraphProto): void {
    this.object(path, g);
    this.optionalString(`${path}.name`, g.name);
    this.optionalString(`${path}.docString`, g.docString);
    for (const f of ["node", "initializer", "input", "output", "valueInfo"] as const)
      this.array(`${path}.${f}`, g[f]);
    this.distinctNames(
      `${path}.initializer`,
      g.initializer.map((t, i) => this.tensor(`${path}.initializer[${i}]`, t, true)),
    );
    for (const f of ["input", "output", "valueInfo"] as const) {
      this.distinctNames(
        `${path}.${f}`,
        g[f].map((v, i) => this.valueInfo(`${path}.${f}[${i}]`, v)),
      );
    }
    const produced = new Set<string>();
    g.node.forEach((n, i) => {
      const p = `${path}.node[${i}]`;
      this.node(p, n);
      for (const out of n.output) {
        if (out === "") continue;
        if (produced.has(out)) this.fail(p, `output '${out}' is already produced by an earlier node`);
        produced.add(out);
      }
    });
  }

  distinctNames(path: string, names: string[]): void {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) this.fail(path, `name '${n}' appears twice`);
      seen.add(n);
    }
  }

  valueInfo(path: string, v: ValueInfoProto): string {
    this.object(path, v);
    this.name(`${path}.name`, v.name);
    this.optionalString(`${path}.docString`, v.docString);
    if (v.type === undefined) return v.name;
    this.object(`${path}.type`, v.type);
    this.optionalString(`${path}.type.denotation`, v.type.denotation);
    const tt = v.type.tensorType;
    if (tt === undefined) return v.name;
    this.object(`${path}.type.tensorType`, tt);
    if (!isKnownDataType(tt.elemType) || tt.elemType === DataType.UNDEFINED) {
      this.fail(`${path}.type.tensorType.elemType`, `unknown data type ${String(tt.elemType)}`);
    }
    if (tt.shape === undefined) return v.name;
    this.object(`${path}.type.tensorType.shape`, tt.shape);
    this.array(`${path}.type.tensorType.shape.dim`, tt.shape.dim);
    tt.shape.dim.forEach((d, i) => {
      const p = `${path}.type.tensorType.shape.dim[${i}]`;
      this.object(p, d);
      if (d.dimValue !== undefined && d.dimParam !== undefined)
        this.fail(p, "has both dimValue and dimParam");
      if (d.dimValue !== undefined) this.safeInteger(`${p}.dimValue`, d.dimValue, 0);
      this.optionalString(`${p}.dimParam`, d.dimParam);
      this.optionalString(`${p}.denotation`, d.denotation);
    });
    return v.name;
  }

  node(path: string, n: NodeProto): void {
    this.object(path, n);
    this.name(`${path}.opType`, n.opType);
    const label = `${path} (${n.opType}${n.name ? ` '${n.name}'` : ""})`;
    this.optionalString(`${label}.name`, n.name);
    this.optionalString(`${label}.domain`, n.domain);
    this.optionalString(`${label}.docString`, n.docString);
    for (const f of ["input", "output", "attribute"] as const) this.array(`${label}.${f}`, n[f]);
    n.input.forEach((s, i) => {
      if (typeof s !== "string") this.fail(`${label}.input[${i}]`, "must be a string");
    });
    n.output.forEach((s, i) => {
      if (typeof s !== "string") this.fail(`${label}.output[${i}]`, "must be a string");
    });
    const names = new Set<string>();
    n.attribute.forEach((a, i) => {
      const p = `${label}.attribute[${i}]`;
      this.object(p, a);
      this.name(`${p}.name`, a.name);
      if (names.has(a.name)) this.fail(p, `attribute '${a.name}' appears twice`);
      names.add(a.name);
      this.attribute(`${label}.attribute '${a.name}'`, a);
    });
  }

  attribute(path: string, a: NodeProto["attribute"][number]): void {
    this.optionalString(`${path}.docString`, a.docString);
    this.optionalString(`${path}.refAttrName`, a.refAttrName);
    for (const f of ["floats", "ints", "strings", "tensors", "graphs"] as const)
      this.array(`${path}.${f}`, a[f]);
    // A reference to a function attribute carries no value of its own.
    if (a.refAttrName !== undefined && a.refAttrName !== "") return;
    switch (a.type) {
      case AttributeType.FLOAT:
        if (typeof a.f !== "number") this.fail(path, "type FLOAT needs a number in f");
        return;
      case AttributeType.INT:
        if (a.i === undefined) this.fail(path, "type INT needs an integer in i");
        this.safeInteger(`${path}.i`, a.i);
        return;
      case AttributeType.STRING:
        this.bytes(`${path}.s`, a.s);
        return;
      case AttributeType.TENSOR:
        if (a.t === undefined) this.fail(path, "type TENSOR needs a tensor in t");
        this.tensor(`${path}.t`, a.t, false);
        return;
      case AttributeType.GRAPH:
        if (a.g === undefined) this.fail(path, "type GRAPH needs a graph in g");
        this.graph(`${path}.g`, a.g);
        return;
      case AttributeType.FLOATS:
        a.floats.forEach((f, i) => {
          if (typeof f !== "number") this.fail(`${path}.floats[${i}]`, "must be a number");
        });
        return;
      case AttributeType.INTS:
        a.ints.forEach((v, i) => {
          this.safeInteger(`${path}.ints[${i}]`, v);
        });
        return;
      case AttributeType.STRINGS:
        a.strings.forEach((s, i) => {
          this.bytes(`${path}.strings[${i}]`, s);
        });
        return;
      case AttributeType.TENSORS:
        a.tensors.forEach((t, i) => {
          this.tensor(`${path}.tensors[${i}]`, t, false);
        });
        return;
      case AttributeType.GRAPHS:
        a.graphs.forEach((g, i) => {
          this.graph(`${path}.graphs[${i}]`, g);
        });
        return;
      default:
        this.fail(`${path}.type`, `unsupported attribute type ${String(a.type)}`);
    }
  }

  /** Returns the tensor's name (required for initializers). */
  tensor(path: string, t: TensorProto, named: boolean): string {
    this.object(path, t);
    if (named) this.name(`${path}.name`, t.name);
    else this.optionalString(`${path}.name`, t.name);
    const label = t.name ? `${path} '${t.name}'` : path;
    this.optionalString(`${label}.docString`, t.docString);
    this.array(`${label}.dims`, t.dims);
    let count = 1;
    t.dims.forEach((d, i) => {
      this.safeInteger(`${label}.dims[${i}]`, d, 0);
      count *= d;
    });
    if (!Number.isSafeInteger(count)) this.fail(`${label}.dims`, "hold too many elements");
    if (!isKnownDataType(t.dataType) || t.dataType === DataType.UNDEFINED) {
      this.fail(`${label}.dataType`, `unknown data type ${String(t.dataType)}`);
    }
    for (const f of [
      "floatData",
      "int32Data",
      "stringData",
      "int64Data",
      "doubleData",
      "uint64Data",
      "externalData",
    ] as const) {
      this.array(`${label}.${f}`, t[f]);
    }
    if (t.dataLocation === DATA_LOCATION_EXTERNAL || t.externalData.length > 0) {
      this.fail(label, "stores its data in an external file, which this package does not support");
    }
    if (t.dataLocation !== undefined && t.dataLocation !== 0) {
      this.fail(`${label}.dataLocation`, `unknown data location ${String(t.dataLocation)}`);
    }
    const fields = this.payloads(t);
    if (fields.length > 1) this.fail(label, `has data in more than one field (${fields.join(", ")})`);
    const field = fields[0];
    if (field === undefined) {
      if (count > 0) this.fail(label, `has no data for its ${count} element(s)`);
      return t.name ?? "";
    }
    const [length, expected] = this.payloadLength(label, t, field, count);
    if (length !== expected) {
      this.fail(
        `${label}.${field}`,
        `holds ${length} ${field === "rawData" ? "bytes" : "entries"} but dims [${t.dims.join(", ")}] need ${expected}`,
      );
    }
    return t.name ?? "";
  }

  payloads(t: TensorProto): string[] {
    const set: string[] = [];
    if (t.rawData !== undefined) {
      this.bytes("rawData", t.rawData);
      set.push("rawData");
    }
    for (const f of [
      "floatData",
      "int32Data",
      "stringData",
      "int64Data",
      "doubleData",
      "uint64Data",
    ] as const) {
      if (t[f].length > 0) set.push(f);
    }
    return set;
  }

  /** [actual, expected] length of the payload field for `count` elements, after checking its element kind. */
  payloadLength(label: string, t: TensorProto, field: string, count: number): [number, number] {
    const dt = t.dataType;
    const complexFactor = dt === DataType.COMPLEX64 || dt === DataType.COMPLEX128 ? 2 : 1;
    const packed4 = dt === DataType.INT4 || dt === DataType.UINT4 || dt === DataType.FLOAT4E2M1;
    const allowed: Record<string, readonly number[]> = {
      floatData: [DataType.FLOAT, DataType.COMPLEX64],
      doubleData: [DataType.DOUBLE, DataType.COMPLEX128],
      int64Data: [DataType.INT64],
      uint64Data: [DataType.UINT32, DataType.UINT64],
      stringData: [DataType.STRING],
      int32Data: [
        DataType.INT32,
        DataType.INT16,
        DataType.INT8,
        DataType.UINT16,
        DataType.UINT8,
        DataType.BOOL,
        DataType.FLOAT16,
        DataType.BFLOAT16,
        DataType.FLOAT8E4M3FN,
        DataType.FLOAT8E4M3FNUZ,
        DataType.FLOAT8E5M2,
        DataType.FLOAT8E5M2FNUZ,
        DataType.INT4,
        DataType.UINT4,
        DataType.FLOAT4E2M1,
      ],
    };
    if (field === "rawData") {
      if (dt === DataType.STRING) this.fail(label, "STRING tensors cannot use rawData");
      return [t.rawData!.length, rawByteLength(dt, count)];
    }
    if (!allowed[field]!.includes(dt)) this.fail(`${label}.${field}`, `cannot hold data type ${dt}`);
    const values = t[field as "floatData"] as unknown[];
    values.forEach((v, i) => {
      const ok =
        field === "stringData"
          ? v instanceof Uint8Array
          : field === "int64Data" || field === "uint64Data"
            ? typeof v === "bigint"
            : field === "int32Data"
              ? Number.isInteger(v) && (v as number) >= -2147483648 && (v as number) <= 2147483647
              : typeof v === "number";
      if (!ok) this.fail(`${label}.${field}[${i}]`, `has the wrong kind of value (${typeof v})`);
    });
    return [values.length, packed4 && field === "int32Data" ? Math.ceil(count / 2) : count * complexFactor];
  }
}

/** Throw an Error naming `fn` and the offending part unless `model` is a structurally sound ModelProto. */
export function checkModel(model: ModelProto, fn: string): void {
  new Checker(fn).model(model);
}
