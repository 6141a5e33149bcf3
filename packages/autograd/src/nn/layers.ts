import * as T from "@quant-trim/tensor";
import { Rng, type Tensor } from "@quant-trim/tensor";
import { batchNormTrain } from "../ops/batchnorm.js";
import { avgPool2d, conv2d, maxPool2d } from "../ops/conv.js";
import { convReluMaxPool } from "../ops/conv-relu-pool.js";
import { add, mul, relu, relu6, sub } from "../ops/elementwise.js";
import { linear } from "../ops/linalg.js";
import { flatten, reshape } from "../ops/shape.js";
import { constant, type Parameter, setOpObserver, setOpRewriter, type Variable } from "../variable.js";
import { kaimingUniform, uniformBias } from "./init.js";
import { Module } from "./module.js";
import { currentTracer } from "./trace-hook.js";

function positiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${op}: ${name} must be a positive integer, got ${v}`);
}

export interface InitOptions {
  /** Generator for the initial weights (default: a fresh Rng(0)). */
  rng?: Rng;
  bias?: boolean;
}

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: InitOptions = {},
  ) {
    super();
    positiveInt("Linear", "inFeatures", inFeatures);
    positiveInt("Linear", "outFeatures", outFeatures);
    const rng = opts.rng ?? new Rng(0);
    this.weight = this.registerParameter(
      "weight",
      kaimingUniform([outFeatures, inFeatures], inFeatures, rng),
    );
    this.bias =
      opts.bias === false ? null : this.registerParameter("bias", uniformBias(outFeatures, inFeatures, rng));
  }
  /** Replaces the weight in the forward pass (QAT's fake-quantized weight); null uses it as is. */
  weightHook: ((w: Variable) => Variable) | null = null;
  forward(x: Variable): Variable {
    return linear(x, this.weightHook ? this.weightHook(this.weight) : this.weight, this.bias);
  }
  override traceAttrs(): Record<string, unknown> {
    return { inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias !== null };
  }
}

export interface Conv2dConfig extends InitOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernel: [number, number];
  readonly options: T.Conv2dOptions;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernel: number | [number, number],
    cfg: Conv2dConfig = {},
  ) {
    super();
    positiveInt("Conv2d", "inChannels", inChannels);
    positiveInt("Conv2d", "outChannels", outChannels);
    const groups = cfg.groups ?? 1;
    positiveInt("Conv2d", "groups", groups);
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `Conv2d: groups (${groups}) must divide inChannels (${inChannels}) and outChannels (${outChannels})`,
      );
    }
    this.kernel = typeof kernel === "number" ? [kernel, kernel] : kernel;
    positiveInt("Conv2d", "kernel", this.kernel[0]);
    positiveInt("Conv2d", "kernel", this.kernel[1]);
    this.options = {
      stride: cfg.stride ?? 1,
      padding: cfg.padding ?? 0,
      dilation: cfg.dilation ?? 1,
      groups,
    };
    const rng = cfg.rng ?? new Rng(0);
    const fanIn = (inChannels / groups) * this.kernel[0] * this.kernel[1];
    this.weight = this.registerParameter(
      "weight",
      kaimingUniform([outChannels, inChannels / groups, ...this.kernel], fanIn, rng),
    );
    this.bias =
      cfg.bias === false ? null : this.registerParameter("bias", uniformBias(outChannels, fanIn, rng));
  }
  /** Replaces the weight in the forward pass (QAT's fake-quantized, BN-folded weight); null uses it as is. */
  weightHook: ((w: Variable) => Variable) | null = null;
  forward(x: Variable): Variable {
    return conv2d(x, this.weightHook ? this.weightHook(this.weight) : this.weight, this.bias, this.options);
  }
  override traceAttrs(): Record<string, unknown> {
    return {
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      kernel: this.kernel,
      ...this.options,
      bias: this.bias !== null,
    };
  }
}

/**
 * Batch normalisation over the channel axis (1). Training uses batch statistics and updates the running
 * averages (momentum 0.1, unbiased variance, as PyTorch); eval uses the running statistics.
 */
abstract class BatchNormBase extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  /** When true the running statistics stop updating (QAT's "freeze BN stats"). */
  frozenStats = false;
  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
    /** Input ranks accepted: [N, C] or [N, C, L] for BatchNorm1d, [N, C, H, W] for BatchNorm2d. */
    private readonly ranks: readonly number[],
  ) {
    super();
    positiveInt(this.constructor.name, "numFeatures", numFeatures);
    this.weight = this.registerParameter("weight", T.ones([numFeatures]));
    this.bias = this.registerParameter("bias", T.zeros([numFeatures]));
    this.runningMean = this.registerBuffer("running_mean", T.zeros([numFeatures]));
    this.runningVar = this.registerBuffer("running_var", T.ones([numFeatures]));
  }
  forward(x: Variable): Variable {
    if (!this.ranks.includes(x.ndim) || x.shape[1] !== this.numFeatures) {
      throw new T.ShapeError(
        this.constructor.name,
        `expected a rank-${this.ranks.join(" or rank-")} input with ${this.numFeatures} channels on axis 1, got ${T.fmtShape(x.shape)}`,
      );
    }
    if (this.training && !this.frozenStats) {
      const { out, stats } = batchNormTrain(x, this.weight, this.bias, this.eps);
      const rm = this.runningMean.data;
      const rv = this.runningVar.data;
      const m = this.momentum;
      const unbias = stats.count / (stats.count - 1);
      for (let c = 0; c < this.numFeatures; c++) {
        rm[c] = (1 - m) * rm[c]! + m * stats.mean[c]!;
        rv[c] = (1 - m) * rv[c]! + m * stats.variance[c]! * unbias;
      }
      return out;
    }
    // Running statistics: y = (x − mean)·(1/√(var + eps))·γ + β, the statistics constant.
    const shape = [1, this.numFeatures, ...Array<number>(x.ndim - 2).fill(1)];
    const invStd = constant(T.reshape(T.div(1, T.sqrt(T.add(this.runningVar, this.eps))), shape));
    const centered = sub(x, constant(T.reshape(this.runningMean, shape)));
    return add(mul(mul(centered, invStd), reshape(this.weight, shape)), reshape(this.bias, shape));
  }
  override traceAttrs(): Record<string, unknown> {
    return { numFeatures: this.numFeatures, eps: this.eps, momentum: this.momentum };
  }
}

export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, eps = 1e-5, momentum = 0.1) {
    super(numFeatures, eps, momentum, [2, 3]);
  }
}

export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, eps = 1e-5, momentum = 0.1) {
    super(numFeatures, eps, momentum, [4]);
  }
}

export class ReLU extends Module {
  forward(x: Variable): Variable {
    return relu(x);
  }
}

export class ReLU6 extends Module {
  forward(x: Variable): Variable {
    return relu6(x);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly options: T.Pool2dOptions) {
    super();
  }
  forward(x: Variable): Variable {
    return maxPool2d(x, this.options);
  }
  override traceAttrs(): Record<string, unknown> {
    return { ...this.options };
  }
}

export class AvgPool2d extends Module {
  constructor(readonly options: T.Pool2dOptions & { countIncludePad?: boolean }) {
    super();
  }
  forward(x: Variable): Variable {
    return avgPool2d(x, this.options);
  }
  override traceAttrs(): Record<string, unknown> {
    return { ...this.options };
  }
}

export class Flatten extends Module {
  constructor(readonly startAxis = 1) {
    super();
  }
  forward(x: Variable): Variable {
    return flatten(x, this.startAxis);
  }
  override traceAttrs(): Record<string, unknown> {
    return { startAxis: this.startAxis };
  }
}

/** Inverted dropout with a seeded generator: in training, zero with probability p and scale by 1/(1−p). */
export class Dropout extends Module {
  private readonly rng: Rng;
  constructor(
    readonly p = 0.5,
    rng?: Rng,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
    this.rng = rng ?? new Rng(0);
  }
  forward(x: Variable): Variable {
    if (!this.training || this.p === 0) return x;
    const keep = 1 / (1 - this.p);
    const mask = T.allocData(x.data.dtype, x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = this.rng.next() < this.p ? 0 : keep;
    return mul(x, constant(new T.Tensor(mask, x.shape)));
  }
  override traceAttrs(): Record<string, unknown> {
    return { p: this.p };
  }
}

export class Identity extends Module {
  forward(x: Variable): Variable {
    return x;
  }
}

/** Elementwise sum of two branches, as a module so residual models trace and quantize like chains do. */
export class Add extends Module {
  forward(a: Variable, b: Variable): Variable {
    return add(a, b);
  }
}

let sequentialFusion = true;

/**
 * Whether `Sequential` runs each adjacent Conv2d, ReLU, MaxPool2d as the fused `convReluMaxPool`
 * (default true); returns the previous setting. Results are the same either way (for A/B timing).
 */
export function setSequentialFusion(enabled: boolean): boolean {
  const previous = sequentialFusion;
  sequentialFusion = enabled;
  return previous;
}

/** Whether an op observer or rewriter is installed (read by swapping it out and straight back). */
function opInterceptorsActive(): boolean {
  const observer = setOpObserver(null);
  setOpObserver(observer);
  const rewriter = setOpRewriter(null);
  setOpRewriter(rewriter);
  return observer !== null || rewriter !== null;
}

/** No hooks of any kind on `m`, and its own class's `call`/`forward`. */
function unhooked(m: Module): boolean {
  return (
    m.hooks.input === undefined &&
    m.hooks.output === undefined &&
    !Object.hasOwn(m, "call") &&
    !Object.hasOwn(m, "forward")
  );
}

/** `a, b, c` as the Conv2d of a block the fused op computes identically, or null. */
function fusableBlock(a: Module, b: Module, c: Module): Conv2d | null {
  // Exact classes: a subclass may compute something else, another activation is not ReLU.
  if (a.constructor !== Conv2d || b.constructor !== ReLU || c.constructor !== MaxPool2d) return null;
  const conv = a as Conv2d;
  if (conv.weightHook !== null || !unhooked(a) || !unhooked(b) || !unhooked(c)) return null;
  return conv;
}

export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }
  /**
   * Runs the layers in order. A Conv2d → ReLU → MaxPool2d run becomes one `convReluMaxPool` (same
   * values and gradients, less memory traffic) only where nothing can tell the difference: no tracer
   * (the compiler and QAT must see three modules), no op observer or rewriter, and no hook, weight hook
   * or overridden `call` on any of the three (QAT's fake quantization hooks in exactly there). See
   * `setSequentialFusion`.
   */
  forward(x: Variable): Variable {
    const layers = this.layers;
    const fuse =
      sequentialFusion && layers.length >= 3 && currentTracer() === null && !opInterceptorsActive();
    let h = x;
    for (let i = 0; i < layers.length; i++) {
      const conv =
        fuse && i + 2 < layers.length ? fusableBlock(layers[i]!, layers[i + 1]!, layers[i + 2]!) : null;
      if (conv !== null) {
        const pool = layers[i + 2] as MaxPool2d;
        h = convReluMaxPool(h, conv.weight, conv.bias, conv.options, pool.options);
        i += 2;
      } else h = layers[i]!.call(h);
    }
    return h;
  }
}
