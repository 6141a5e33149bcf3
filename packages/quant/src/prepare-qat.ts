import { nn, noGrad, ops, Parameter, Variable } from "@quant-trim/autograd";
import type { Rng } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { type FakeQuantOptions, fakeQuant, float32Values } from "./fake-quant-op.js";
import { minMax } from "./grid/min-max.js";
import { computeQParams, type QParams } from "./grid/qparams.js";
import { type GridSpec, gridSpec } from "./grid/spec.js";
import { lsqFakeQuant, lsqQParams } from "./lsq.js";
import { EmaMinMaxObserver } from "./observers/ema-min-max-observer.js";
import type { Observer } from "./observers/observer.js";

type Module = nn.Module;

/** Grids of one quantization point: a single grid, or a set sampled per step (multi-grid training). */
export type GridChoice = GridSpec | readonly GridSpec[];

export interface LayerOverride {
  weight?: GridChoice;
  activation?: GridChoice;
}

export interface QatConfig {
  /** Shape of one example input (batch axis included): QAT traces the model once to find its blocks. */
  inputShape: readonly number[];
  /** Weight grid(s); default int8 symmetric per-channel (narrow range off). */
  weight?: GridChoice;
  /** Activation grid(s); default int8 asymmetric per-tensor. */
  activation?: GridChoice;
  /** Makes an activation observer; default an EMA min/max observer with averaging constant 0.01. */
  activationObserver?: () => Observer;
  /** Learn scales (and asymmetric zero points) with LSQ instead of deriving them from ranges. */
  lsq?: { weights?: boolean; activations?: boolean };
  /**
   * A batch of real inputs, required with `lsq.activations`: one forward pass over it (no gradients,
   * λ = 0) sets the initial activation scales from the observed ranges.
   */
  lsqInitBatch?: T.Tensor;
  /** Multiply the straight-through gradient by the in-range mask (ablation; default off). */
  clipMask?: boolean;
  /**
   * Per-layer grids, keyed by module name as in `namedModules()` (e.g. "0", "features.3"), or "@first" /
   * "@last" for the first and last weight layer in execution order.
   */
  overrides?: Readonly<Record<string, LayerOverride>>;
  /** Freeze the activation observers when λ reaches 1 (the method's default). */
  freezeObserversAtFullLambda?: boolean;
  /** Generator for sampling multi-grid choices each step. */
  rng?: Rng;
}

export interface QuantPointInfo {
  name: string;
  kind: "weight" | "activation";
  /** The module the point belongs to (its weight, or its output; "" = the model input). */
  module: string;
  grid: GridSpec;
  /** Every grid this point samples from (one unless multi-grid). */
  grids: readonly GridSpec[];
  qparams: QParams | null;
  learned: boolean;
}

function gridList(choice: GridChoice): GridSpec[] {
  const list = Array.isArray(choice) ? [...(choice as readonly GridSpec[])] : [choice as GridSpec];
  if (list.length === 0) throw new Error("prepareQat: a grid choice must list at least one grid");
  return list;
}

/** A quantization point: fake quantization of one weight or one activation tensor. */
abstract class QuantPoint {
  grid: GridSpec;
  qparams: QParams | null = null;
  /** LSQ's learned scale and zero point (null when derived from ranges). */
  scale: Parameter | null = null;
  zeroPoint: Parameter | null = null;
  constructor(
    readonly name: string,
    readonly kind: "weight" | "activation",
    readonly module: string,
    readonly grids: readonly GridSpec[],
  ) {
    this.grid = grids[0]!;
  }
  sample(rng: Rng): void {
    if (this.grids.length > 1) this.grid = this.grids[rng.int(this.grids.length)]!;
  }
  abstract get learned(): boolean;
  /** LSQ's current parameters in QParams form (the grid parameters `lsqFakeQuant` quantizes with). */
  private learnedQParams(): QParams {
    return lsqQParams(
      `prepareQat: learned parameters of '${this.name}'`,
      this.scale!.data.values(),
      this.zeroPoint ? this.zeroPoint.data.values() : null,
      this.grid,
    );
  }
  info(): QuantPointInfo {
    return {
      name: this.name,
      kind: this.kind,
      module: this.module,
      grid: this.grid,
      grids: this.grids,
      qparams: this.scale ? this.learnedQParams() : this.qparams,
      learned: this.learned,
    };
  }
}

class WeightPoint extends QuantPoint {
  constructor(
    name: string,
    module: string,
    grids: readonly GridSpec[],
    private readonly qat: QatModel,
    lsq: boolean,
    initial: T.Tensor,
  ) {
    super(name, "weight", module, grids);
    if (lsq) {
      if (grids.length > 1) throw new Error(`prepareQat: LSQ weights need a single grid at '${module}'`);
      const qp = rangeQParams(initial, this.grid);
      this.scale = new Parameter(T.fromData(Float32Array.from(qp.scale), [qp.scale.length]));
      if (!this.grid.symmetric)
        this.zeroPoint = new Parameter(T.fromData(Float32Array.from(qp.zeroPoint), [qp.zeroPoint.length]));
    }
  }
  get learned(): boolean {
    return this.scale !== null;
  }
  /** Fake-quantize the (possibly BN-folded) weight. Scales follow the current weights every step. */
  apply(w: Variable): Variable {
    const lambda = this.qat.lambda;
    if (this.scale)
      return lsqFakeQuant(w, this.scale, this.zeroPoint, this.grid, { lambda, clipMask: this.qat.clipMask });
    this.qparams = rangeQParams(w.data, this.grid);
    if (lambda === 0) return w;
    return fakeQuant(w, this.grid, this.qparams, this.qat.fakeQuantOptions());
  }
}

function rangeQParams(w: T.Tensor, grid: GridSpec): QParams {
  const r = minMax(float32Values(w), grid, w.shape);
  return computeQParams(r.min, r.max, grid);
}

class ActivationPoint extends QuantPoint {
  constructor(
    name: string,
    module: string,
    grids: readonly GridSpec[],
    private readonly qat: QatModel,
    readonly observer: Observer,
    private readonly lsq: boolean,
  ) {
    super(name, "activation", module, grids);
    if (lsq && grids.length > 1)
      throw new Error(`prepareQat: LSQ activations need a single grid at '${module || "input"}'`);
  }
  get learned(): boolean {
    return this.lsq;
  }
  /** LSQ starts from the range the observer saw on the initialisation batch. */
  initLsq(): void {
    const qp = this.observer.qparams(this.grid);
    this.scale = new Parameter(T.fromData(Float32Array.from(qp.scale), [1]));
    if (!this.grid.symmetric)
      this.zeroPoint = new Parameter(T.fromData(Float32Array.from(qp.zeroPoint), [1]));
  }
  apply(y: Variable, training: boolean): Variable {
    if ((training || this.qat.calibrating) && !this.observer.frozen)
      this.observer.observe(float32Values(y.data), y.shape);
    const lambda = this.qat.lambda;
    if (this.scale) {
      return lsqFakeQuant(y, this.scale, this.zeroPoint, this.grid, { lambda, clipMask: this.qat.clipMask });
    }
    this.qparams = this.observer.qparams(this.grid);
    if (lambda === 0) return y;
    return fakeQuant(y, this.grid, this.qparams, this.qat.fakeQuantOptions());
  }
}

const WEIGHT_LAYERS = new Set(["Linear", "Conv2d"]);
const ACTIVATIONS = new Set(["ReLU", "ReLU6"]);

/**
 * A model prepared for quantization-aware training. The model itself is instrumented in place (hooks on
 * its modules); its parameters, state dict and checkpoints stay those of the float model, so the
 * trained checkpoint is a plain FP32 model that any backend can quantize.
 */
export class QatModel {
  lambda = 0;
  /** While true, activation observers record even in eval mode (post-training calibration). */
  calibrating = false;
  private everSet = false;
  readonly clipMask: boolean;
  readonly weightPoints: WeightPoint[] = [];
  readonly activationPoints: ActivationPoint[] = [];
  private readonly freezeAtOne: boolean;
  readonly rng: Rng | null;
  private readonly batchNorms: nn.BatchNorm2d[] = [];

  constructor(
    readonly model: Module,
    config: QatConfig,
  ) {
    this.clipMask = config.clipMask ?? false;
    this.freezeAtOne = config.freezeObserversAtFullLambda ?? true;
    this.rng = config.rng ?? null;
    instrument(this, model, config);
  }

  /**
   * Set the blend coefficient of every point. When λ reaches 1 after a ramp (it was below 1 before), the
   * activation observers freeze (by default); a schedule that starts at 1 (plain QAT) leaves freezing to
   * the recipe, since the observers have seen nothing yet.
   */
  setLambda(lambda: number): void {
    if (!(lambda >= 0 && lambda <= 1))
      throw new Error(`QatModel.setLambda: lambda must be in [0, 1], got ${lambda}`);
    const rampEnded = lambda === 1 && this.lambda < 1 && this.everSet;
    this.lambda = lambda;
    this.everSet = true;
    if (rampEnded && this.freezeAtOne) this.freezeObservers();
  }

  /** Options every fake-quantization point uses: the current λ, the gradient mask, the generator. */
  fakeQuantOptions(): FakeQuantOptions {
    return this.rng
      ? { lambda: this.lambda, clipMask: this.clipMask, rng: this.rng }
      : { lambda: this.lambda, clipMask: this.clipMask };
  }

  /** Draw this step's grid for every multi-grid point (a no-op for single-grid points). */
  sampleGrids(): void {
    if (!this.rng) {
      if (this.points().some((p) => p.grids.length > 1))
        throw new Error("QatModel.sampleGrids: multi-grid training needs config.rng");
      return;
    }
    for (const p of this.points()) p.sample(this.rng);
  }

  /**
   * Post-training calibration: run `fn` (forward passes over calibration data, usually in eval mode)
   * with the observers recording, then freeze them.
   */
  calibrate(fn: () => void): void {
    for (const p of this.activationPoints) p.observer.unfreeze();
    this.calibrating = true;
    try {
      fn();
    } finally {
      this.calibrating = false;
    }
    this.freezeObservers();
  }

  freezeObservers(): void {
    for (const p of this.activationPoints) p.observer.freeze();
  }

  /** Batch norm uses its running statistics from now on (and stops updating them). */
  freezeBatchNormStats(): void {
    for (const bn of this.batchNorms) bn.frozenStats = true;
  }

  /** @internal */
  registerBatchNorm(bn: nn.BatchNorm2d): void {
    this.batchNorms.push(bn);
  }

  points(): QuantPoint[] {
    return [...this.weightPoints, ...this.activationPoints];
  }

  /** Every quantization point with its grid and current parameters. */
  describe(): QuantPointInfo[] {
    return this.points().map((p) => p.info());
  }

  /** The model's parameters plus learned quantizer parameters (LSQ). */
  parameters(): Parameter[] {
    const extra: Parameter[] = [];
    for (const p of this.points()) {
      if (p.scale) extra.push(p.scale);
      if (p.zeroPoint) extra.push(p.zeroPoint);
    }
    return [...this.model.parameters(), ...extra];
  }

  call(x: Variable): Variable {
    return this.model.call(x);
  }

  /** JSON state of the activation observers (for checkpoint metadata). */
  observerState(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const p of this.activationPoints) out[p.name] = p.observer.state();
    return out;
  }
}

function instrument(qat: QatModel, model: Module, config: QatConfig): void {
  const graph = nn.trace(model, T.zeros(config.inputShape));
  const modules = new Map(model.namedModules());
  const defaultWeight = gridList(
    config.weight ??
      gridSpec({ bits: 8, signed: true, symmetric: true, granularity: "per-channel", axis: 0 }),
  );
  const defaultAct = gridList(
    config.activation ?? gridSpec({ bits: 8, signed: true, symmetric: false, granularity: "per-tensor" }),
  );
  const makeObserver = config.activationObserver ?? (() => new EmaMinMaxObserver());
  const lsqW = config.lsq?.weights ?? false;
  const lsqA = config.lsq?.activations ?? false;

  // Resolve overrides: every key must name a weight layer (or @first/@last).
  const weightNodes = graph.nodes.filter((n) => n.kind === "module" && WEIGHT_LAYERS.has(n.type));
  const overrides = new Map<string, LayerOverride>();
  for (const [key, o] of Object.entries(config.overrides ?? {})) {
    const target =
      key === "@first"
        ? weightNodes[0]?.name
        : key === "@last"
          ? weightNodes[weightNodes.length - 1]?.name
          : key;
    if (target === undefined || !modules.has(target) || target === "") {
      throw new Error(
        `prepareQat: override '${key}' names no module; modules are ${[...modules.keys()].filter(Boolean).join(", ")}`,
      );
    }
    overrides.set(target, { ...overrides.get(target), ...o });
  }

  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const soleConsumer = (id: string) =>
    consumers.get(id) === 1 ? graph.nodes.find((n) => n.inputs.includes(id)) : undefined;

  // Model input.
  const inputPoint = new ActivationPoint("input", "", defaultAct, qat, makeObserver(), lsqA);
  qat.activationPoints.push(inputPoint);
  const prevInput = model.hooks.input;
  model.hooks.input = (x) => inputPoint.apply(prevInput ? prevInput(x) : x, model.training);

  /** A fake-quantization point on the output of the module that ends a block. */
  const outputPoint = (moduleName: string, ov: LayerOverride): void => {
    const outModule = modules.get(moduleName)!;
    const ap = new ActivationPoint(
      `${moduleName}.output`,
      moduleName,
      gridList(ov.activation ?? defaultAct),
      qat,
      makeObserver(),
      lsqA,
    );
    qat.activationPoints.push(ap);
    addOutputHook(outModule, (y) => ap.apply(y, outModule.training));
  };

  const claimed = new Set<string>();
  for (const node of graph.nodes) {
    if (node.kind !== "module" || claimed.has(node.output)) continue;
    const name = node.name!;
    const m = modules.get(name)!;
    if (WEIGHT_LAYERS.has(node.type)) {
      // A block: the layer, an optional BatchNorm (folded), an optional ReLU/ReLU6 (fused).
      let last = node;
      let bn: nn.BatchNorm2d | null = null;
      const next = soleConsumer(node.output);
      if (next && next.kind === "module" && next.type === "BatchNorm2d" && node.type === "Conv2d") {
        bn = modules.get(next.name!) as nn.BatchNorm2d;
        last = next;
        claimed.add(next.output);
      }
      const act = soleConsumer(last.output);
      if (act && act.kind === "module" && ACTIVATIONS.has(act.type)) {
        last = act;
        claimed.add(act.output);
      }
      const ov = overrides.get(name) ?? {};
      const layer = m as nn.Linear | nn.Conv2d;
      // LSQ's initial scale comes from the tensor the quantizer will see: with BatchNorm, the folded one.
      const wp = new WeightPoint(
        `${name}.weight`,
        name,
        gridList(ov.weight ?? defaultWeight),
        qat,
        lsqW,
        bn
          ? noGrad(() => foldWeight(layer.weight, foldFactor(bn!), layer as nn.Conv2d)).data
          : layer.weight.data,
      );
      qat.weightPoints.push(wp);
      if (bn) attachBatchNormFold(qat, layer as nn.Conv2d, bn, wp);
      else layer.weightHook = (w) => wp.apply(w);
      outputPoint(last.name!, ov);
    } else if (
      node.type === "Add" ||
      node.type === "BatchNorm2d" ||
      node.type === "BatchNorm1d" ||
      ACTIVATIONS.has(node.type)
    ) {
      // Residual adds (with a following ReLU fused), stand-alone normalisation and activations get their own output point.
      let last = node;
      if (node.type === "Add") {
        const act = soleConsumer(node.output);
        if (act && act.kind === "module" && ACTIVATIONS.has(act.type)) {
          last = act;
          claimed.add(act.output);
        }
      }
      outputPoint(last.name!, overrides.get(name) ?? {});
    }
    // Pooling, flatten, dropout and identity keep their input's quantization parameters: no point.
  }
}

function addOutputHook(m: Module, fn: (y: Variable) => Variable): void {
  const prev = m.hooks.output;
  m.hooks.output = prev ? (y) => fn(prev(y)) : fn;
}

/** sf = γ / √(running_var + eps) per output channel, the factor folding scales a conv's weights by. */
function foldFactor(bn: nn.BatchNorm2d): Variable {
  return ops.div(bn.weight, new Variable(T.sqrt(T.add(bn.runningVar, bn.eps))));
}

/** W·sf, the weight the deployed folded conv holds. */
function foldWeight(w: Variable, sf: Variable, conv: nn.Conv2d): Variable {
  return ops.mul(w, ops.reshape(sf, [conv.outChannels, 1, 1, 1]));
}

/**
 * Conv + BatchNorm folding for QAT (the approximate scheme PyTorch's ConvBn QAT modules use):
 *   sf = γ / √(running_var + eps)
 *   conv output = conv(x, fakeQuant(W·sf)) / sf   (the conv bias is added back unscaled)
 * and the BatchNorm then normalises as usual (batch statistics in training unless frozen). With running
 * statistics this equals the deployed folded conv W' = W·sf, b' = (b − μ)·sf + β exactly, so the fake
 * quantizer sees the weights the integer backend will quantize.
 */
function attachBatchNormFold(qat: QatModel, conv: nn.Conv2d, bn: nn.BatchNorm2d, wp: WeightPoint): void {
  qat.registerBatchNorm(bn);
  let sf: Variable | null = null;
  conv.weightHook = (w) => {
    sf = foldFactor(bn);
    return wp.apply(foldWeight(w, sf, conv));
  };
  addOutputHook(conv, (y) => {
    const s = ops.reshape(sf!, [1, conv.outChannels, 1, 1]);
    if (!conv.bias) return ops.div(y, s);
    const b = ops.reshape(conv.bias, [1, conv.outChannels, 1, 1]);
    return ops.add(ops.div(ops.sub(y, b), s), b);
  });
}

/** Instrument `model` for QAT (in place) and return the handle that drives it. */
export function prepareQat(model: Module, config: QatConfig): QatModel {
  const qat = new QatModel(model, config);
  if (config.lsq?.activations) {
    if (!config.lsqInitBatch)
      throw new Error("prepareQat: lsq.activations needs lsqInitBatch (a batch of real inputs)");
    const batch = config.lsqInitBatch;
    // The pass runs in the model's current mode (training: batch statistics, as the first training
    // step will see them) but must not count as training: BatchNorm's running statistics are put back.
    const buffers = model.namedBuffers().map(([, b]) => [b, b.copy()] as const);
    try {
      qat.calibrate(() => {
        noGrad(() => model.call(new Variable(batch)));
      });
    } finally {
      for (const [b, saved] of buffers) T.assign(b, saved);
    }
    for (const p of qat.activationPoints) {
      p.initLsq();
      p.observer.unfreeze();
    }
  }
  return qat;
}
