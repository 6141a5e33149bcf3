import type {
  ConvStep,
  FloatStep,
  IntegerProgram,
  LinearStep,
  PlainQParams,
  ProgramStep,
  ProgramValue,
  StepActivation,
} from "@quant-trim/npu-sim";
import { qRange, unpackInt4 } from "@quant-trim/quant";
import { encodeModel } from "../proto/codec.js";
import type { ElementType } from "../proto/tensor-data.js";
import type { ModelProto } from "../proto/types.js";
import { wrapModel } from "./export-float.js";
import { checkOptionKeys, type FloatExportOptions, resolveFloatOptions } from "./export-options.js";
import { OnnxGraphWriter } from "./graph-writer.js";

/*
 * An integer program (npu-sim's `compile` for one backend profile) as a QDQ ONNX model, the format
 * vendor toolchains and ONNX Runtime's QDQ fusions ingest: every integer tensor of the program is a
 * QuantizeLinear → DequantizeLinear pair carrying the scale and zero point the profile's compilation
 * chose; weights are stored as their integer codes (int8, or int4 at opset 21) behind a
 * DequantizeLinear, per axis where the profile quantizes per channel; biases are int32 at s_in·s_w with
 * zero point 0; the ops between them are the standard float ops of the float export (BatchNorm already
 * folded, activations kept as Relu/Clip before the output's QuantizeLinear).
 *
 * What ONNX cannot say is recorded in the `qdq_notes` metadata entry rather than hidden: QuantizeLinear
 * rounds half to even and saturates to the whole type, so a profile that rounds otherwise, or clamps
 * activations to a narrow or reduced range, is only approximated; scales are written as float32.
 */

export type QdqExportOptions = Omit<FloatExportOptions, "inputShape" | "foldBatchNorm">;

const QDQ_KEYS = ["opset", "inputName", "outputName", "batchDim", "graphName", "metadata"] as const;

/** QuantizeLinear/DequantizeLinear element types by grid; 4- and 16-bit ones need opset 21. */
function codeType(bits: number, signed: boolean): ElementType | undefined {
  if (bits === 8) return signed ? "int8" : "uint8";
  if (bits === 4) return signed ? "int4" : "uint4";
  if (bits === 16) return signed ? "int16" : "uint16";
  return undefined;
}

const needsOpset21 = (t: ElementType): boolean => t !== "int8" && t !== "uint8";

class QdqWriter {
  readonly writer: OnnxGraphWriter;
  /** Program value id → the ONNX name of its float (dequantized) form. */
  readonly #float = new Map<string, string>();
  readonly #nodeNames = new Set<string>();
  readonly notes = new Set<string>();
  readonly #finalInt: string | undefined;
  minOpset = 13;

  constructor(
    private readonly fn: string,
    private readonly program: IntegerProgram,
    private readonly inputName: string,
    private readonly outputName: string,
    graphName: string,
  ) {
    this.writer = new OnnxGraphWriter(graphName, fn);
    this.#float.set(program.input, inputName);
    const last = program.steps.find((s) => s.output === program.output);
    this.#finalInt = last?.op === "dequantize" ? last.inputs[0] : undefined;
  }

  fail(step: ProgramStep | undefined, problem: string): never {
    const where = step === undefined ? "" : ` step '${step.name || step.output}' (${step.op})`;
    throw new Error(`${this.fn}:${where} ${problem}`);
  }

  /** A unique node name from a base. */
  nodeName(base: string): string {
    let name = base;
    for (let k = 1; this.#nodeNames.has(name); k++) name = `${base}#${k}`;
    this.#nodeNames.add(name);
    return name;
  }

  value(id: string): ProgramValue {
    const v = this.program.values[id];
    if (v === undefined) this.fail(undefined, `the program has no value '${id}'`);
    return v;
  }

  floatOf(step: ProgramStep, id: string): string {
    const name = this.#float.get(id);
    if (name === undefined) this.fail(step, `reads value '${id}' before it is computed`);
    return name;
  }

  typeOf(step: ProgramStep | undefined, what: string, bits: number, signed: boolean): ElementType {
    const t = codeType(bits, signed);
    if (t === undefined)
      this.fail(step, `${what} has ${bits}-bit codes; QDQ ONNX has 4-, 8- and 16-bit types only`);
    if (needsOpset21(t)) this.minOpset = 21;
    return t;
  }

  /** scale and zero point initializers (1-D when per axis, scalars otherwise). */
  qparamInitializers(base: string, q: PlainQParams, type: ElementType, perAxis: boolean): [string, string] {
    const dims = perAxis ? [q.scale.length] : [];
    if (q.scale.some((s) => Math.fround(s) !== s)) this.notes.add("scales are rounded to float32");
    const scale = this.writer.initializer(`${base}_scale`, Float32Array.from(q.scale), dims);
    const zp = this.writer.initializer(`${base}_zero_point`, [...q.zeroPoint], dims, type);
    return [scale, zp];
  }

  /**
   * Quantize the float `produced` onto value `id`'s grid and dequantize it again; the dequantized name
   * is what later nodes read (the graph output's name for the program's final integer value).
   */
  quantizePair(step: ProgramStep, id: string, produced: string, base: string): void {
    const v = this.value(id);
    if (v.domain !== "int" || v.grid === undefined) this.fail(step, `value '${id}' is not an integer tensor`);
    if (v.qparams === "dynamic" || v.qparams === undefined) {
      this.fail(
        step,
        `value '${id}' has qparams chosen at run time (dynamic scaling); QDQ needs static ones`,
      );
    }
    const g = v.grid;
    // 4-bit activations travel in 8-bit Q/DQ after a Clip to their own range: the codes are the same,
    // and ONNX Runtime (which moves DQ → MaxPool onto the codes) has no 4-bit MaxPool.
    const fourBit = g.bits === 4;
    let source = produced;
    const type = this.typeOf(step, `value '${id}'`, fourBit ? 8 : g.bits, g.signed);
    if (fourBit) {
      this.notes.add(
        "4-bit activations are written as 8-bit QuantizeLinear after a Clip to their 4-bit range",
      );
      const { qmin, qmax } = qRange(g);
      const s = v.qparams.scale[0]!;
      const z = v.qparams.zeroPoint[0]!;
      const clipped = `${base}_clipped`;
      this.activation(step, { lo: (qmin - z) * s, hi: (qmax - z) * s }, produced, clipped, `${base}/range`);
      source = clipped;
    } else if (g.narrowRange || g.reduceRange) {
      this.notes.add(
        "activations use a narrow or reduced range, which QuantizeLinear's saturation does not express",
      );
    }
    if (g.rounding !== "half-even") {
      this.notes.add(`activations round ${g.rounding}; QuantizeLinear rounds half to even`);
    }
    const [scale, zp] = this.qparamInitializers(base, v.qparams, type, false);
    const codes = `${base}_quantized`;
    const out = id === this.#finalInt ? this.outputName : `${base}_dequantized`;
    this.writer.node("QuantizeLinear", this.nodeName(`${base}/QuantizeLinear`), [source, scale, zp], [codes]);
    this.writer.node(
      "DequantizeLinear",
      this.nodeName(`${base}/DequantizeLinear`),
      [codes, scale, zp],
      [out],
    );
    this.#float.set(id, out);
  }

  /** The name later steps read for float value `id`, written by a float op: the output name if final. */
  floatTarget(id: string, base: string): string {
    const name = id === this.program.output ? this.outputName : `${base}.output`;
    this.#float.set(id, name);
    return name;
  }

  /** Relu / Clip for a step's activation, after `x`; returns the activation's output name. */
  activation(step: ProgramStep, a: StepActivation, x: string, out: string, base: string): void {
    if (a === "none") {
      this.writer.node("Identity", this.nodeName(`${base}/Identity`), [x], [out]);
      return;
    }
    if (a === "relu") {
      this.writer.node("Relu", this.nodeName(`${base}/Relu`), [x], [out]);
      return;
    }
    const [lo, hi] = a === "relu6" ? [0, 6] : [a.lo, a.hi];
    if (!(lo <= hi)) this.fail(step, `has an activation range [${lo}, ${hi}] that is empty`);
    const min = this.writer.initializer(`${base}/Clip.min`, new Float32Array([lo]), []);
    const max = this.writer.initializer(`${base}/Clip.max`, new Float32Array([hi]), []);
    this.writer.node("Clip", this.nodeName(`${base}/Clip`), [x, min, max], [out]);
  }

  /** Integer weights and int32 bias behind DequantizeLinear nodes; returns the float names. */
  parameters(step: ConvStep | LinearStep, base: string): string[] {
    const w = step.weights;
    const type = this.typeOf(
      step,
      "the weights",
      w.type === "int4" || w.type === "uint4" ? 4 : 8,
      w.type.startsWith("int"),
    );
    const codes =
      w.type === "int4"
        ? unpackInt4(w.data as Uint8Array, w.size)
        : w.type === "uint4"
          ? Uint8Array.from(unpackInt4(w.data as Uint8Array, w.size), (v) => v & 0x0f)
          : w.data;
    const perAxis = step.weightQParams.scale.length > 1;
    const q = `${base}.weight_quantized`;
    this.writer.initializer(q, codes, w.shape, type);
    const [ws, wz] = this.qparamInitializers(`${base}.weight`, step.weightQParams, type, perAxis);
    const weight = `${base}.weight`;
    this.writer.node(
      "DequantizeLinear",
      this.nodeName(`${base}.weight/DequantizeLinear`),
      [q, ws, wz],
      [weight],
      perAxis ? { axis: w.channelAxis } : {},
    );
    const names = [weight];
    if (step.biasFloat !== null || step.bias.some((b) => b !== 0)) {
      const sIn = this.inputScale(step);
      const bq: PlainQParams = {
        scale: step.weightQParams.scale.map((s) => Math.fround(sIn * s)),
        zeroPoint: step.weightQParams.scale.map(() => 0),
      };
      const bCodes = `${base}.bias_quantized`;
      this.writer.initializer(bCodes, step.bias, [step.bias.length], "int32");
      const [bs, bz] = this.qparamInitializers(`${base}.bias`, bq, "int32", perAxis);
      const bias = `${base}.bias`;
      this.writer.node(
        "DequantizeLinear",
        this.nodeName(`${base}.bias/DequantizeLinear`),
        [bCodes, bs, bz],
        [bias],
        perAxis ? { axis: 0 } : {},
      );
      names.push(bias);
    }
    return names;
  }

  inputScale(step: ProgramStep): number {
    const q = this.value(step.inputs[0]!).qparams;
    if (q === undefined || q === "dynamic") this.fail(step, "reads a value without static qparams");
    return q.scale[0]!;
  }

  step(step: ProgramStep): void {
    const base = step.name || step.output;
    switch (step.op) {
      case "quantize": {
        const x = this.floatOf(step, step.inputs[0]!);
        this.quantizePair(
          step,
          step.output,
          x,
          step.inputs[0] === this.program.input ? this.inputName : base,
        );
        return;
      }
      case "dequantize":
        // Every integer value already has its dequantized form.
        this.#float.set(step.output, this.floatOf(step, step.inputs[0]!));
        return;
      case "conv2d":
      case "linear": {
        const x = this.floatOf(step, step.inputs[0]!);
        const params = this.parameters(step, base);
        const product = `${base}.output`;
        const raw =
          step.activation === "none" ? product : `${base}/${step.op === "conv2d" ? "Conv" : "Gemm"}.output`;
        if (step.op === "conv2d") {
          const [, , kh, kw] = step.weights.shape as [number, number, number, number];
          this.writer.node("Conv", this.nodeName(base), [x, ...params], [raw], {
            kernel_shape: [kh, kw],
            strides: [...step.stride],
            pads: [step.padding[0], step.padding[1], step.padding[0], step.padding[1]],
            dilations: [...step.dilation],
            group: step.groups,
          });
        } else {
          this.writer.node("Gemm", this.nodeName(base), [x, ...params], [raw], { transB: 1 });
        }
        if (step.activation !== "none") this.activation(step, step.activation, raw, product, base);
        this.quantizePair(step, step.output, product, `${base}.output`);
        return;
      }
      case "add":
      case "mul": {
        const [a, b] = step.inputs.map((id) => this.floatOf(step, id));
        const op = step.op === "add" ? "Add" : "Mul";
        const product = `${base}.output`;
        const raw = step.activation === "none" ? product : `${base}/${op}.output`;
        this.writer.node(op, this.nodeName(base), [a!, b!], [raw]);
        if (step.activation !== "none") this.activation(step, step.activation, raw, product, base);
        this.quantizePair(step, step.output, product, `${base}.output`);
        return;
      }
      case "clamp": {
        const product = `${base}.output`;
        this.activation(step, step.activation, this.floatOf(step, step.inputs[0]!), product, base);
        this.quantizePair(step, step.output, product, `${base}.output`);
        return;
      }
      case "max-pool":
      case "avg-pool": {
        const product = `${base}.output`;
        this.pool(step.op, base, this.floatOf(step, step.inputs[0]!), product, step, false);
        this.quantizePair(step, step.output, product, `${base}.output`);
        return;
      }
      case "reshape": {
        const product = `${base}.output`;
        this.reshape(base, this.floatOf(step, step.inputs[0]!), product, step.shape);
        this.quantizePair(step, step.output, product, `${base}.output`);
        return;
      }
      case "float":
        this.floatStep(step, base);
        return;
    }
  }

  pool(
    op: "max-pool" | "avg-pool",
    base: string,
    x: string,
    out: string,
    g: { kernel: readonly number[]; stride: readonly number[]; padding: readonly number[] },
    countIncludePad: boolean,
  ): void {
    const attrs = {
      kernel_shape: [...g.kernel],
      strides: [...g.stride],
      pads: [g.padding[0]!, g.padding[1]!, g.padding[0]!, g.padding[1]!],
    };
    if (op === "max-pool") this.writer.node("MaxPool", this.nodeName(base), [x], [out], attrs);
    // The integer average divides by the in-bounds count (TFLite), which is count_include_pad = 0.
    else
      this.writer.node("AveragePool", this.nodeName(base), [x], [out], {
        ...attrs,
        count_include_pad: countIncludePad ? 1 : 0,
      });
  }

  reshape(base: string, x: string, out: string, sampleShape: readonly number[]): void {
    const shape = this.writer.initializer(
      `${base}.shape`,
      [0n, ...sampleShape.map(BigInt)],
      [sampleShape.length + 1],
      "int64",
    );
    this.writer.node("Reshape", this.nodeName(base), [x, shape], [out]);
  }

  /** A CPU fallback op in float32, between the dequantized inputs and a float output. */
  floatStep(step: FloatStep, base: string): void {
    if (step.constants.some((c) => c !== null))
      this.fail(step, `(${step.type}) takes a constant operand, which the QDQ export does not write`);
    const xs = step.inputs.map((id) => this.floatOf(step, id));
    const out = this.floatTarget(step.output, base);
    const raw = step.activation === "none" ? out : `${base}/${step.type}.output`;
    const a = step.attrs;
    const pair = (v: unknown, fallback: number): [number, number] =>
      v === undefined
        ? [fallback, fallback]
        : typeof v === "number"
          ? [v, v]
          : [(v as number[])[0]!, (v as number[])[1]!];
    const floatParam = (role: "weight" | "bias") => {
      const t = step[role];
      return t ? this.writer.initializer(`${base}.${role}`, t.values, t.shape) : undefined;
    };
    switch (step.type) {
      case "conv2d": {
        const [, , kh, kw] = step.weight!.shape as [number, number, number, number];
        const [ph, pw] = pair(a.padding, 0);
        const inputs = [xs[0]!, floatParam("weight")!];
        const b = floatParam("bias");
        if (b !== undefined) inputs.push(b);
        this.writer.node("Conv", this.nodeName(base), inputs, [raw], {
          kernel_shape: [kh, kw],
          strides: pair(a.stride, 1),
          pads: [ph, pw, ph, pw],
          dilations: pair(a.dilation, 1),
          group: (a.groups as number | undefined) ?? 1,
        });
        break;
      }
      case "linear": {
        const inputs = [xs[0]!, floatParam("weight")!];
        const b = floatParam("bias");
        if (b !== undefined) inputs.push(b);
        this.writer.node("Gemm", this.nodeName(base), inputs, [raw], { transB: 1 });
        break;
      }
      case "max-pool":
      case "maxPool2d":
      case "avg-pool":
      case "avgPool2d": {
        const kernel = pair(a.kernel, 1);
        const op = step.type.startsWith("max") ? "max-pool" : "avg-pool";
        this.pool(
          op,
          base,
          xs[0]!,
          raw,
          { kernel, stride: pair(a.stride ?? a.kernel, 1), padding: pair(a.padding, 0) },
          a.countIncludePad !== false,
        );
        break;
      }
      case "reshape":
        this.reshape(base, xs[0]!, raw, a.shape as number[]);
        break;
      case "activation":
      case "relu":
      case "relu6":
      case "clamp":
        if (step.activation === "none") this.writer.node("Identity", this.nodeName(base), [xs[0]!], [out]);
        else this.activation(step, step.activation, xs[0]!, out, base);
        return;
      case "add":
        this.writer.node("Add", this.nodeName(base), [xs[0]!, xs[1]!], [raw]);
        break;
      default:
        this.fail(step, `runs ${step.type} on the CPU, which the QDQ export has no ONNX mapping for`);
    }
    if (step.activation !== "none") this.activation(step, step.activation, raw, out, base);
  }
}

/**
 * The integer program as a QDQ ONNX ModelProto (see the file comment). Opset 13 by default, 21 when the
 * program has 4- or 16-bit tensors (an explicit lower opset is then an error). `metadata_props` gain
 * `quantization_format` = "QDQ", `quantization_profile` and, where ONNX approximates the profile,
 * `qdq_notes`.
 */
export function exportQdqOnnxModel(program: IntegerProgram, options: QdqExportOptions = {}): ModelProto {
  const fn = "exportQdqOnnx";
  if (program === null || typeof program !== "object" || program.format !== "quant-trim.integer-program/1") {
    throw new Error(`${fn}: program must be an IntegerProgram from npu-sim's compile()`);
  }
  checkOptionKeys(fn, options, QDQ_KEYS);
  const o = resolveFloatOptions(
    fn,
    { ...options, inputShape: program.inputShape, opset: options.opset ?? 13 },
    {},
  );
  const q = new QdqWriter(fn, program, o.inputName, o.outputName, o.graphName);
  for (const step of program.steps) q.step(step);
  if (q.minOpset > o.opset) {
    if (options.opset !== undefined) {
      throw new Error(
        `${fn}: opset ${options.opset} cannot hold the program's 4- or 16-bit tensors (QuantizeLinear/DequantizeLinear take them from opset 21)`,
      );
    }
    return exportQdqOnnxModel(program, { ...options, opset: q.minOpset });
  }
  const outShape = program.values[program.output]?.shape ?? [];
  const extra: Record<string, string> = {
    quantization_format: "QDQ",
    quantization_profile: program.profile.name,
  };
  if (q.notes.size > 0) extra.qdq_notes = [...q.notes].join("; ");
  return wrapModel(fn, q.writer, o, outShape, extra);
}

/** `exportQdqOnnxModel` encoded as the bytes of an `.onnx` file. */
export function exportQdqOnnx(program: IntegerProgram, options: QdqExportOptions = {}): Uint8Array {
  return encodeModel(exportQdqOnnxModel(program, options));
}
