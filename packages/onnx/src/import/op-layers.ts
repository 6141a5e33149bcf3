import { nn, type Parameter } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { AttributeType, type NodeProto } from "../proto/types.js";
import { float32Decimal, NodeAttributes } from "./node-attributes.js";
import { ClampRange, ReshapeSamples } from "./replay-modules.js";

/*
 * One ONNX node of the float subset → one trainable `nn` layer holding the node's weights. Each builder
 * reads only what it understands and refuses, by name, any attribute value or input arrangement the
 * layer cannot reproduce exactly (asymmetric pads, ceil_mode, a transposed A, a constant added to an
 * activation, …).
 */

const { FLOAT, INT, INTS, STRING } = AttributeType;

/** What a builder may ask about the node being imported. */
export interface OpContext {
  readonly where: string;
  readonly node: NodeProto;
  /** Per-sample shape of activation input k (undefined: input k is a constant or omitted). */
  inputShape(k: number): readonly number[] | undefined;
  /** Float constant input k (an initializer or a Constant node), refused by `role` if it is not one. */
  floatConstant(k: number, role: string): { values: Float32Array; dims: number[] } | undefined;
  /** int64 constant input k. */
  intConstant(k: number, role: string): number[];
  /**
   * When this node's only reader is an Add of a constant vector of `length` (a MatMul's bias, as some
   * exporters write a Linear), that Add: its output and the vector.
   */
  biasAddAfter(length: number): { node: NodeProto; values: Float32Array } | undefined;
  fail(problem: string): never;
}

export interface OpLayer {
  readonly module: nn.Module;
  /** Activation inputs, in the order the module's forward takes them. */
  readonly inputs: readonly string[];
  /** The value the layer writes (the fused Add's output when a bias was folded in). */
  readonly output: string;
  /** Later nodes this layer absorbed. */
  readonly absorbed: readonly NodeProto[];
  /** Name of the weight initializer (its prefix names the layer when it is a dotted path). */
  readonly weightName?: string;
  /** Replay modules record their functional op under this op name (see replay-modules.ts). */
  readonly replayOp?: string;
}

export type OpBuilder = (c: OpContext) => OpLayer;

function setParameter(p: Parameter, values: Float32Array, shape: readonly number[]): void {
  p.data = T.fromData(Float32Array.from(values), shape);
}

function setBuffer(t: T.Tensor, values: Float32Array): void {
  t.data.set(values);
}

function activation(c: OpContext, k: number): string {
  if (c.inputShape(k) === undefined)
    return c.fail(`input ${k} '${c.node.input[k] ?? ""}' must be an activation, not a constant`);
  return c.node.input[k]!;
}

function single(c: OpContext, module: nn.Module, extra: Partial<OpLayer> = {}): OpLayer {
  return { module, inputs: [activation(c, 0)], output: c.node.output[0]!, absorbed: [], ...extra };
}

function vectorOf(c: OpContext, k: number, role: string, length: number): Float32Array | null {
  const v = c.floatConstant(k, role);
  if (v === undefined) return null;
  const n = v.dims.reduce((a, b) => a * b, 1);
  const leading = v.dims.slice(0, -1).every((d) => d === 1);
  if (n !== length || !leading) {
    return c.fail(`${role} has dims [${v.dims.join(", ")}], expected [${length}]`);
  }
  return v.values;
}

/** Transpose a row-major [rows, cols] matrix. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = values[r * cols + k]!;
  return out;
}

function linearLayer(
  c: OpContext,
  weight: Float32Array,
  outF: number,
  inF: number,
  bias: Float32Array | null,
) {
  const shape = c.inputShape(0)!;
  if (shape.length !== 1 || shape[0] !== inF) {
    return c.fail(
      `input 0 has per-sample shape [${shape.join(", ")}] but the weight takes [${inF}] (a Linear needs [N, ${inF}])`,
    );
  }
  const m = new nn.Linear(inF, outF, { bias: bias !== null });
  setParameter(m.weight, weight, [outF, inF]);
  if (bias !== null && m.bias) setParameter(m.bias, bias, [outF]);
  return m;
}

const gemm: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, { alpha: FLOAT, beta: FLOAT, transA: INT, transB: INT });
  if (a.float("alpha", 1) !== 1) a.refuse("alpha", a.float("alpha", 1), "only alpha = 1 maps to a Linear");
  if (a.float("beta", 1) !== 1) a.refuse("beta", a.float("beta", 1), "only beta = 1 maps to a Linear");
  if (a.int("transA", 0) !== 0) a.refuse("transA", a.int("transA", 0), "the input must not be transposed");
  const transB = a.int("transB", 0);
  const w = c.floatConstant(1, "B (the weight)");
  if (w === undefined || w.dims.length !== 2) return c.fail("B (the weight) must be a 2-D constant");
  const [outF, inF] = transB ? [w.dims[0]!, w.dims[1]!] : [w.dims[1]!, w.dims[0]!];
  const weight = transB ? w.values : transpose(w.values, w.dims[0]!, w.dims[1]!);
  const bias =
    c.node.input.length > 2 && c.node.input[2] !== "" ? vectorOf(c, 2, "C (the bias)", outF) : null;
  return single(c, linearLayer(c, weight, outF, inF, bias), { weightName: c.node.input[1]! });
};

const matMul: OpBuilder = (c) => {
  new NodeAttributes(c.where, c.node, {});
  const w = c.floatConstant(1, "B (the weight)");
  if (w === undefined || w.dims.length !== 2)
    return c.fail("B must be a 2-D constant (a product of two activations has no layer)");
  const [inF, outF] = [w.dims[0]!, w.dims[1]!];
  const add = c.biasAddAfter(outF);
  const m = linearLayer(c, transpose(w.values, inF, outF), outF, inF, add?.values ?? null);
  return {
    module: m,
    inputs: [activation(c, 0)],
    output: add ? add.node.output[0]! : c.node.output[0]!,
    absorbed: add ? [add.node] : [],
    weightName: c.node.input[1]!,
  };
};

/** [begin_h, begin_w, end_h, end_w] → [h, w], refusing pads that differ at the two ends. */
function symmetricPads(a: NodeAttributes): [number, number] {
  const pads = a.ints("pads", [0, 0, 0, 0]);
  if (pads.length !== 4) a.refuse("pads", pads, "a 2-D op needs four pads");
  if (pads[0] !== pads[2] || pads[1] !== pads[3]) {
    a.refuse("pads", pads, "begin and end padding differ, and the layers pad both ends alike");
  }
  return [pads[0]!, pads[1]!];
}

function checkAutoPad(a: NodeAttributes): void {
  const autoPad = a.string("auto_pad", "NOTSET");
  if (autoPad !== "NOTSET" && autoPad !== "VALID") {
    a.refuse("auto_pad", autoPad, "give explicit pads (NOTSET)");
  }
  if (autoPad === "VALID" && a.has("pads")) a.refuse("auto_pad", autoPad, "VALID together with pads");
}

function pair2(a: NodeAttributes, name: string, fallback: number): [number, number] {
  const v = a.ints(name, [fallback, fallback]);
  if (v.length !== 2) a.refuse(name, v, "a 2-D op needs two values");
  return [v[0]!, v[1]!];
}

/** The per-sample [C, H, W] of input 0, refusing any other rank. */
function rank4(c: OpContext): readonly number[] {
  const s = c.inputShape(0);
  if (s === undefined || s.length !== 3) {
    return c.fail(`input 0 must be [N, C, H, W], got per-sample shape [${s?.join(", ") ?? ""}]`);
  }
  return s;
}

const conv: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, {
    auto_pad: STRING,
    dilations: INTS,
    group: INT,
    kernel_shape: INTS,
    pads: INTS,
    strides: INTS,
  });
  rank4(c);
  const w = c.floatConstant(1, "W (the weight)");
  if (w === undefined || w.dims.length !== 4)
    return c.fail("W (the weight) must be a 4-D constant (only 2-D convolutions map to Conv2d)");
  checkAutoPad(a);
  const [cout, cinPerGroup, kh, kw] = w.dims as [number, number, number, number];
  const kernel = a.ints("kernel_shape", [kh, kw]);
  if (kernel[0] !== kh || kernel[1] !== kw)
    a.refuse("kernel_shape", kernel, `the weight's kernel is [${kh}, ${kw}]`);
  const groups = a.int("group", 1);
  const cin = c.inputShape(0)![0]!;
  if (cinPerGroup * groups !== cin) {
    return c.fail(
      `the weight takes ${cinPerGroup}×${groups} (group) input channels but the input has ${cin}`,
    );
  }
  const bias =
    c.node.input.length > 2 && c.node.input[2] !== "" ? vectorOf(c, 2, "B (the bias)", cout) : null;
  const m = new nn.Conv2d(cin, cout, [kh, kw], {
    stride: pair2(a, "strides", 1),
    padding: symmetricPads(a),
    dilation: pair2(a, "dilations", 1),
    groups,
    bias: bias !== null,
  });
  setParameter(m.weight, w.values, w.dims);
  if (bias !== null && m.bias) setParameter(m.bias, bias, [cout]);
  return single(c, m, { weightName: c.node.input[1]! });
};

const batchNormalization: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, { epsilon: FLOAT, momentum: FLOAT, training_mode: INT });
  if (a.int("training_mode", 0) !== 0)
    a.refuse("training_mode", a.int("training_mode", 0), "only inference BatchNormalization imports");
  if (c.node.output.filter((o) => o !== "").length > 1)
    return c.fail("has running-statistics outputs (training mode), which do not import");
  const shape = c.inputShape(0);
  if (shape === undefined || shape.length < 1 || shape.length > 3) {
    return c.fail(
      `input 0 must be [N, C], [N, C, L] or [N, C, H, W], got per-sample shape [${shape?.join(", ") ?? ""}]`,
    );
  }
  const channels = shape[0]!;
  const eps = a.float("epsilon", 1e-5);
  // ONNX's momentum weighs the running value, PyTorch's (and nn's) the new batch statistic. Prefer the
  // short decimal (0.9 → 0.1), but only when its complement still rounds to the stored float32.
  const stored = a.float("momentum", 0.9);
  const short = float32Decimal(1 - stored);
  const momentum = Math.fround(1 - short) === Math.fround(stored) ? short : 1 - stored;
  const m =
    shape.length === 3
      ? new nn.BatchNorm2d(channels, eps, momentum)
      : new nn.BatchNorm1d(channels, eps, momentum);
  const vec = (k: number, role: string) => {
    const v = vectorOf(c, k, role, channels);
    if (v === null) return c.fail(`${role} must be a constant`);
    return v;
  };
  setParameter(m.weight, vec(1, "scale"), [channels]);
  setParameter(m.bias, vec(2, "B"), [channels]);
  setBuffer(m.runningMean, vec(3, "input_mean"));
  setBuffer(m.runningVar, vec(4, "input_var"));
  return single(c, m, { weightName: c.node.input[1]! });
};

const relu: OpBuilder = (c) => {
  new NodeAttributes(c.where, c.node, {});
  return single(c, new nn.ReLU());
};

const clip: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, { min: FLOAT, max: FLOAT });
  const bound = (k: number, attr: string, fallback: number): number => {
    if (a.has(attr)) return a.float(attr, fallback);
    if (c.node.input.length <= k || c.node.input[k] === "") return fallback;
    const v = c.floatConstant(k, attr);
    if (v === undefined || v.values.length !== 1) return c.fail(`${attr} must be a constant scalar`);
    return float32Decimal(v.values[0]!);
  };
  const lo = bound(1, "min", Number.NEGATIVE_INFINITY);
  const hi = bound(2, "max", Number.POSITIVE_INFINITY);
  // Object.is: a Clip from −0 is a clamp of its own, written back as −0.
  if (Object.is(lo, 0) && hi === 6) return single(c, new nn.ReLU6());
  if (Object.is(lo, 0) && hi === Number.POSITIVE_INFINITY) return single(c, new nn.ReLU());
  if (!(lo <= hi)) return c.fail(`min (${lo}) is above max (${hi})`);
  return single(c, new ClampRange(lo, hi), { replayOp: "clamp" });
};

const POOL_ATTRIBUTES = {
  auto_pad: STRING,
  ceil_mode: INT,
  dilations: INTS,
  kernel_shape: INTS,
  pads: INTS,
  strides: INTS,
};

function poolOptions(c: OpContext, a: NodeAttributes) {
  rank4(c);
  checkAutoPad(a);
  if (a.int("ceil_mode", 0) !== 0)
    a.refuse("ceil_mode", a.int("ceil_mode", 0), "the pools round output sizes down");
  if (!a.has("kernel_shape")) return c.fail("has no kernel_shape");
  return { kernel: pair2(a, "kernel_shape", 1), stride: pair2(a, "strides", 1), padding: symmetricPads(a) };
}

const maxPool: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, { ...POOL_ATTRIBUTES, storage_order: INT });
  if (c.node.output.length > 1 && c.node.output[1] !== "")
    return c.fail("has an Indices output, which does not import");
  return single(c, new nn.MaxPool2d({ ...poolOptions(c, a), dilation: pair2(a, "dilations", 1) }));
};

const averagePool: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, { ...POOL_ATTRIBUTES, count_include_pad: INT });
  const dilations = pair2(a, "dilations", 1);
  if (dilations[0] !== 1 || dilations[1] !== 1)
    a.refuse("dilations", dilations, "average pooling is not dilated here");
  const countIncludePad = a.int("count_include_pad", 0) !== 0;
  return single(c, new nn.AvgPool2d({ ...poolOptions(c, a), countIncludePad }));
};

const flatten: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, { axis: INT });
  const axis = a.int("axis", 1);
  if (axis !== 1) a.refuse("axis", axis, "only axis 1 keeps the batch axis apart");
  return single(c, new nn.Flatten(1));
};

const reshape: OpBuilder = (c) => {
  const a = new NodeAttributes(c.where, c.node, { allowzero: INT });
  const shape = c.intConstant(1, "shape");
  const input = c.inputShape(0)!;
  if (a.int("allowzero", 0) !== 0 && shape.includes(0)) {
    a.refuse("allowzero", a.int("allowzero", 0), "a literal 0 dimension");
  }
  if (shape[0] !== 0 && shape[0] !== -1) {
    return c.fail(`shape [${shape.join(", ")}] must keep the batch axis (first entry 0 or -1)`);
  }
  const count = input.reduce((p, d) => p * d, 1);
  const rest = shape
    .slice(1)
    .map((d, i) => (d === 0 ? (input[i] ?? c.fail(`shape entry ${i + 1} copies a missing dimension`)) : d));
  if (shape.filter((d) => d === -1).length > 1)
    return c.fail(`shape [${shape.join(", ")}] has more than one -1`);
  const known = rest.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const sample = rest.map((d) => (d === -1 ? count / known : d));
  if (sample.some((d) => !Number.isInteger(d) || d < 0) || sample.reduce((p, d) => p * d, 1) !== count) {
    return c.fail(`shape [${shape.join(", ")}] does not fit per-sample shape [${input.join(", ")}]`);
  }
  return single(c, new ReshapeSamples(sample), { replayOp: "reshape" });
};

const add: OpBuilder = (c) => {
  new NodeAttributes(c.where, c.node, {});
  if (c.inputShape(0) === undefined || c.inputShape(1) === undefined) {
    return c.fail(
      "adds a constant to an activation; only sums of two activations (residuals) and a MatMul's bias import",
    );
  }
  return {
    module: new nn.Add(),
    inputs: [c.node.input[0]!, c.node.input[1]!],
    output: c.node.output[0]!,
    absorbed: [],
  };
};

const identity: OpBuilder = (c) => {
  new NodeAttributes(c.where, c.node, {});
  return single(c, new nn.Identity());
};

/** The ops `importOnnx` maps to layers (Constant nodes are read as constants). */
export const OP_LAYERS: Readonly<Record<string, OpBuilder>> = Object.freeze({
  Gemm: gemm,
  MatMul: matMul,
  Conv: conv,
  BatchNormalization: batchNormalization,
  Relu: relu,
  Clip: clip,
  MaxPool: maxPool,
  AveragePool: averagePool,
  Flatten: flatten,
  Reshape: reshape,
  Add: add,
  Identity: identity,
});
