import { irVersionForOpset, MAX_KNOWN_OPSET } from "../builder/opset.js";
import { checkModel } from "../proto/check.js";
import { elementCount } from "../proto/tensor-data.js";
import {
  AttributeType,
  DataType,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from "../proto/types.js";

/*
 * The rules of ONNX's model checker (onnx.checker.check_model) that decide whether a runtime or a vendor
 * tool accepts a file, for the operators this package writes and reads:
 * - the opset is declared: the default domain is imported at a version this table knows, the IR version
 *   is new enough for it, every node's domain is imported and every op exists at the imported version
 *   (and 4-bit tensors only from opset 21, per-axis Q/DQ only from 13);
 * - every input is defined: graph inputs, initializers and node outputs each define a name once (SSA),
 *   nodes read only names defined before them, graph outputs are defined;
 * - types are consistent: each node's inputs satisfy its type constraints, its attributes are ones the
 *   op has with the right kind, and declared graph outputs have the element type the graph produces.
 * The first broken rule throws an Error naming the node and the rule.
 */

const FLOATS: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]);
const Q8: ReadonlySet<number> = new Set([DataType.UINT8, DataType.INT8]);
const Q21: ReadonlySet<number> = new Set([
  DataType.UINT8,
  DataType.INT8,
  DataType.UINT16,
  DataType.INT16,
  DataType.UINT4,
  DataType.INT4,
]);

type Kind = number;
interface OpRule {
  /** First opset of the default domain that has the op. */
  readonly since: number;
  readonly inputs: readonly [number, number];
  readonly outputs: readonly [number, number];
  /** Attribute name → AttributeType. */
  readonly attributes: Readonly<Record<string, Kind>>;
  /** Element types of the outputs from those of the inputs (undefined: an omitted optional input). */
  readonly types: (inputs: (number | undefined)[], c: NodeContext) => number[];
}

interface NodeContext {
  readonly opset: number;
  fail(problem: string): never;
  /** The initializer feeding input k, when it is one. */
  constant(k: number): TensorProto | undefined;
  attribute(name: string): NodeProto["attribute"][number] | undefined;
}

const { FLOAT, INT, INTS, STRING, TENSOR, FLOATS: FLOAT_LIST } = AttributeType;

/** All present inputs share one float type, which every output has. */
function sameFloat(outputs = 1) {
  return (types: (number | undefined)[], c: NodeContext): number[] => {
    const present = types.filter((t): t is number => t !== undefined);
    const t = present[0]!;
    if (!FLOATS.has(t)) c.fail(`input 0 must be a float tensor, got ${typeName(t)}`);
    present.forEach((u, k) => {
      if (u !== t) c.fail(`inputs must share one type: input ${k} is ${typeName(u)}, input 0 ${typeName(t)}`);
    });
    return Array<number>(outputs).fill(t);
  };
}

const POOL_ATTRS = { auto_pad: STRING, kernel_shape: INTS, pads: INTS, strides: INTS, ceil_mode: INT };

const RULES: Readonly<Record<string, OpRule>> = {
  Gemm: {
    since: 1,
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { alpha: FLOAT, beta: FLOAT, transA: INT, transB: INT },
    types: sameFloat(),
  },
  MatMul: { since: 1, inputs: [2, 2], outputs: [1, 1], attributes: {}, types: sameFloat() },
  Conv: {
    since: 1,
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { ...POOL_ATTRS, dilations: INTS, group: INT },
    types: sameFloat(),
  },
  Relu: { since: 1, inputs: [1, 1], outputs: [1, 1], attributes: {}, types: sameFloat() },
  Clip: {
    since: 1,
    inputs: [1, 3],
    outputs: [1, 1],
    attributes: { min: FLOAT, max: FLOAT },
    types: sameFloat(),
  },
  MaxPool: {
    since: 1,
    inputs: [1, 1],
    outputs: [1, 2],
    attributes: { ...POOL_ATTRS, dilations: INTS, storage_order: INT },
    types: (t, c) => [sameFloat()(t, c)[0]!, DataType.INT64],
  },
  AveragePool: {
    since: 1,
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { ...POOL_ATTRS, count_include_pad: INT, dilations: INTS },
    types: sameFloat(),
  },
  BatchNormalization: {
    since: 1,
    inputs: [5, 5],
    outputs: [1, 3],
    attributes: { epsilon: FLOAT, momentum: FLOAT, training_mode: INT, spatial: INT },
    types: (t, c) => {
      const out = sameFloat()(t, c)[0]!;
      return [out, out, out];
    },
  },
  Add: { since: 1, inputs: [2, 2], outputs: [1, 1], attributes: {}, types: sameFloat() },
  Mul: { since: 1, inputs: [2, 2], outputs: [1, 1], attributes: {}, types: sameFloat() },
  Identity: { since: 1, inputs: [1, 1], outputs: [1, 1], attributes: {}, types: (t) => [t[0]!] },
  Flatten: { since: 1, inputs: [1, 1], outputs: [1, 1], attributes: { axis: INT }, types: sameFloat() },
  Reshape: {
    since: 5,
    inputs: [2, 2],
    outputs: [1, 1],
    attributes: { allowzero: INT },
    types: ([data, shape], c) => {
      if (shape !== DataType.INT64) c.fail(`input 1 (shape) must be int64, got ${typeName(shape)}`);
      return [data!];
    },
  },
  Constant: {
    since: 1,
    inputs: [0, 0],
    outputs: [1, 1],
    attributes: {
      value: TENSOR,
      value_float: FLOAT,
      value_floats: FLOAT_LIST,
      value_int: INT,
      value_ints: INTS,
    },
    types: (_t, c) => {
      const v = c.attribute("value");
      if (v?.t !== undefined) return [v.t.dataType];
      if (c.attribute("value_float") || c.attribute("value_floats")) return [DataType.FLOAT];
      if (c.attribute("value_int") || c.attribute("value_ints")) return [DataType.INT64];
      return c.fail("has no value attribute");
    },
  },
  QuantizeLinear: {
    since: 10,
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { axis: INT, block_size: INT, saturate: INT, output_dtype: INT },
    types: ([x, scale, zp], c) => {
      if (x === undefined || !(FLOATS.has(x) || x === DataType.INT32)) {
        c.fail(`input 0 must be float or int32, got ${typeName(x)}`);
      }
      if (scale === undefined || !FLOATS.has(scale)) c.fail(`scale must be float, got ${typeName(scale)}`);
      checkAxisParams(c);
      const out = zp ?? DataType.UINT8;
      const allowed = c.opset >= 21 ? Q21 : Q8;
      if (!allowed.has(out)) {
        c.fail(`zero point type ${typeName(out)} is not a QuantizeLinear output type at opset ${c.opset}`);
      }
      return [out];
    },
  },
  DequantizeLinear: {
    since: 10,
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { axis: INT, block_size: INT, output_dtype: INT },
    types: ([x, scale, zp], c) => {
      const allowed = c.opset >= 21 ? Q21 : Q8;
      if (x === undefined || !(allowed.has(x) || x === DataType.INT32)) {
        c.fail(`input 0 type ${typeName(x)} is not a DequantizeLinear input type at opset ${c.opset}`);
      }
      if (zp !== undefined && zp !== x) {
        c.fail(`zero point type ${typeName(zp)} differs from the input type ${typeName(x)}`);
      }
      if (scale === undefined || !FLOATS.has(scale)) c.fail(`scale must be float, got ${typeName(scale)}`);
      checkAxisParams(c);
      return [scale!];
    },
  },
};

/** The default-domain operators this checker knows. */
export const CHECKED_OPS: readonly string[] = Object.freeze(Object.keys(RULES));

/** Scale and zero point of Q/DQ: a scalar, or a 1-D tensor matching the quantized axis. */
function checkAxisParams(c: NodeContext): void {
  const scale = c.constant(1);
  const zp = c.constant(2);
  if (scale === undefined) return;
  if (scale.dims.length > 1) c.fail(`scale must be a scalar or 1-D, got dims [${scale.dims.join(", ")}]`);
  if (zp !== undefined && zp.dims.join(",") !== scale.dims.join(",")) {
    c.fail(`zero point dims [${zp.dims.join(", ")}] differ from the scale's [${scale.dims.join(", ")}]`);
  }
  if (scale.dims.length === 1) {
    if (c.opset < 13) c.fail(`per-axis scales need opset 13 or later (the model imports ${c.opset})`);
    const x = c.constant(0);
    if (x !== undefined) {
      const axisAttr = c.attribute("axis");
      const rank = x.dims.length;
      const raw = axisAttr?.i ?? 1;
      const axis = raw < 0 ? raw + rank : raw;
      if (axis < 0 || axis >= rank) c.fail(`axis ${raw} is outside the input's rank ${rank}`);
      if (x.dims[axis] !== scale.dims[0]) {
        c.fail(`scale has ${scale.dims[0]} entries but axis ${axis} of the input has ${x.dims[axis]}`);
      }
    }
  }
}

function typeName(t: number | undefined): string {
  if (t === undefined) return "(missing)";
  const entry = Object.entries(DataType).find(([, code]) => code === t);
  return entry ? entry[0].toLowerCase() : `type ${t}`;
}

function is4Bit(t: number): boolean {
  return t === DataType.INT4 || t === DataType.UINT4;
}

/**
 * Throws an Error starting with `fn` unless `model` follows the checker rules above (after the structural
 * checks of `encodeModel`). Operators outside `CHECKED_OPS` are refused by name.
 */
export function checkOnnxModel(model: ModelProto, fn = "checkOnnxModel"): void {
  checkModel(model, fn);
  const fail: (where: string, problem: string) => never = (where, problem) => {
    throw new Error(`${fn}: ${where}: ${problem}`);
  };
  const defaultImport = model.opsetImport.find(
    (o) => o.domain === undefined || o.domain === "" || o.domain === "ai.onnx",
  );
  if (defaultImport === undefined) fail("opsetImport", "does not import the default domain (ai.onnx)");
  const opset = defaultImport.version;
  if (opset > MAX_KNOWN_OPSET)
    fail("opsetImport", `opset ${opset} is newer than this checker knows (≤ ${MAX_KNOWN_OPSET})`);
  const minIr = irVersionForOpset(opset);
  if (model.irVersion < minIr) {
    fail("irVersion", `IR version ${model.irVersion} is too old for opset ${opset} (needs ≥ ${minIr})`);
  }
  const g = model.graph;
  const types = new Map<string, number>();
  const constants = new Map<string, TensorProto>();
  const define = (name: string, type: number, what: string): void => {
    if (types.has(name)) fail(what, `'${name}' is defined more than once`);
    if (is4Bit(type) && opset < 21)
      fail(what, `'${name}' is a 4-bit tensor, which needs opset 21 (the model imports ${opset})`);
    types.set(name, type);
  };
  const initializerNames = new Set(g.initializer.map((t) => t.name!));
  g.input.forEach((v, i) => {
    const t = v.type?.tensorType?.elemType;
    if (t === undefined) fail(`graph input ${i} '${v.name}'`, "has no tensor type");
    // Inputs that repeat an initializer (IR < 4 style) give it a default; the initializer defines it.
    if (!initializerNames.has(v.name)) define(v.name, t, `graph input ${i}`);
  });
  g.initializer.forEach((t, i) => {
    elementCount(t.dims, `${fn}: initializer ${i}`);
    define(t.name!, t.dataType, `initializer ${i}`);
    constants.set(t.name!, t);
  });
  g.node.forEach((n, i) => {
    const where = `node ${i} '${n.name ?? ""}' (${n.opType})`;
    const domain = n.domain ?? "";
    if (domain !== "" && domain !== "ai.onnx") {
      if (!model.opsetImport.some((o) => o.domain === domain))
        fail(where, `domain '${domain}' is not imported`);
      fail(where, `domain '${domain}' is outside the operators this checker knows`);
    }
    const rule = RULES[n.opType];
    if (rule === undefined)
      fail(where, `op ${n.opType} is not one this checker knows (${CHECKED_OPS.join(", ")})`);
    if (rule.since > opset)
      fail(where, `op ${n.opType} first appears in opset ${rule.since}; the model imports ${opset}`);
    const [minIn, maxIn] = rule.inputs;
    if (n.input.length < minIn || n.input.length > maxIn) {
      fail(where, `takes ${minIn === maxIn ? minIn : `${minIn} to ${maxIn}`} inputs, got ${n.input.length}`);
    }
    const [minOut, maxOut] = rule.outputs;
    if (n.output.length < minOut || n.output.length > maxOut) {
      fail(
        where,
        `has ${minOut === maxOut ? minOut : `${minOut} to ${maxOut}`} outputs, got ${n.output.length}`,
      );
    }
    for (const a of n.attribute) {
      const kind = rule.attributes[a.name];
      if (kind === undefined) fail(where, `attribute '${a.name}' is not an attribute of ${n.opType}`);
      if (kind !== a.type)
        fail(where, `attribute '${a.name}' has attribute type ${a.type}, expected ${kind}`);
    }
    const inputTypes = n.input.map((name, k) => {
      if (name === "") return undefined;
      const t = types.get(name);
      if (t === undefined) fail(where, `input ${k} '${name}' is not defined before the node`);
      return t;
    });
    const ctx: NodeContext = {
      opset,
      fail: (problem) => fail(where, problem),
      constant: (k) => (n.input[k] ? constants.get(n.input[k]!) : undefined),
      attribute: (name) => n.attribute.find((a) => a.name === name),
    };
    const outTypes = rule.types(inputTypes, ctx);
    n.output.forEach((name, k) => {
      if (name !== "") define(name, outTypes[k]!, where);
    });
  });
  g.output.forEach((v, i) => {
    const t = types.get(v.name);
    if (t === undefined) fail(`graph output ${i}`, `'${v.name}' is never defined`);
    const declared = v.type?.tensorType?.elemType;
    if (declared !== undefined && declared !== t) {
      fail(
        `graph output ${i} '${v.name}'`,
        `is declared ${typeName(declared)} but the graph produces ${typeName(t)}`,
      );
    }
  });
}
