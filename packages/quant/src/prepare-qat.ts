import { nn, noGrad, Variable } from "@quant-trim/autograd";
import type { Rng } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { int8AsymmetricPerTensor, int8SymmetricPerChannel } from "./grid/presets.js";
import { EmaMinMaxObserver } from "./observers/ema-min-max-observer.js";
import type { Observer } from "./observers/observer.js";
import { batchNormFoldHooks, foldFactor, foldWeight } from "./qat/batchnorm-fold.js";
import { installFunctionalPoints } from "./qat/functional-points.js";
import { activationType, functionalPattern, fusionPattern, WEIGHT_LAYER_TYPES } from "./qat/fusion.js";
import {
  checkAccumulatorConfig,
  installInt16PairSaturation,
  type QatAccumulatorConfig,
} from "./qat/pair-saturation.js";
import { ActivationPoint, type GridChoice, gridList, WeightPoint } from "./qat/points.js";
import { QatModel } from "./qat/qat-model.js";

type Module = nn.Module;

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
  /**
   * What the target kernels' accumulation does beyond exact integer sums, added to the fake-quantized
   * Linear/Conv2d outputs (straight-through gradient): `{ int16Pairs: "kh-kw-c" }` models x86 AVX2
   * `vpmaddubsw` int16 pair saturation (see qat/pair-saturation.ts). Default: exact sums.
   */
  accumulator?: QatAccumulatorConfig;
  /**
   * The target returns the model's output in float (TensorRT style: the last layer's int32 sums are
   * dequantized, not requantized onto an output grid), so the block that produces the model's output
   * gets no activation point: fake quantization then neither rounds nor clips the logits, as the
   * target does not. Default false (the output is quantized like every other block's).
   */
  floatOutput?: boolean;
}

/** Instrument `model` for QAT (in place) and return the handle that drives it. */
export function prepareQat(model: Module, config: QatConfig): QatModel {
  const qat = new QatModel(
    model,
    config.clipMask ?? false,
    config.freezeObserversAtFullLambda ?? true,
    config.rng ?? null,
  );
  try {
    instrument(qat, model, config);
  } catch (e) {
    // A model half instrumented would compute neither its float function nor the QAT one.
    qat.detach();
    throw e;
  }
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

/** Walks the traced graph in execution order and places points as `FUSION_PATTERNS` says. */
function instrument(qat: QatModel, model: Module, config: QatConfig): void {
  const graph = nn.trace(model, T.zeros(config.inputShape));
  const modules = new Map(model.namedModules());
  const defaultWeight = gridList(config.weight ?? int8SymmetricPerChannel);
  const defaultAct = gridList(config.activation ?? int8AsymmetricPerTensor);
  const makeObserver = config.activationObserver ?? (() => new EmaMinMaxObserver());
  const lsqW = config.lsq?.weights ?? false;
  const lsqA = config.lsq?.activations ?? false;
  checkAccumulatorConfig("prepareQat", config.accumulator);
  const int16Pairs = config.accumulator?.int16Pairs;

  // Resolve overrides: every key must name a weight layer (or @first/@last).
  const weightNodes = graph.nodes.filter((n) => n.kind === "module" && WEIGHT_LAYER_TYPES.has(n.type));
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

  const addOutputHook = (m: Module, fn: (y: Variable) => Variable): void => {
    const prev = m.hooks.output;
    m.hooks.output = prev ? (y) => fn(prev(y)) : fn;
    qat.onDetach(() => {
      m.hooks.output = prev;
    });
  };

  // Model input.
  const inputPoint = new ActivationPoint("input", "", defaultAct, qat, makeObserver(), lsqA);
  qat.activationPoints.push(inputPoint);
  // Which point quantizes each traced value, so a layer can find the grid of its input (int16 pairs).
  const pointOfValue = new Map<string, ActivationPoint>([[graph.input.id, inputPoint]]);
  const producer = new Map(graph.nodes.map((n) => [n.output, n]));
  /** The point whose grid a value is on: its own, or (pooling, flatten, ...) its single input's. */
  const gridPointOf = (id: string): ActivationPoint | undefined => {
    for (;;) {
      const p = pointOfValue.get(id);
      if (p) return p;
      const node = producer.get(id);
      if (node?.inputs.length !== 1) return undefined;
      id = node.inputs[0]!;
    }
  };
  const prevInput = model.hooks.input;
  model.hooks.input = (x) => inputPoint.apply(prevInput ? prevInput(x) : x, model.training);
  qat.onDetach(() => {
    model.hooks.input = prevInput;
  });

  /** A fake-quantization point on the output of the module that ends a block. */
  const outputPoint = (moduleName: string, ov: LayerOverride, value: string): void => {
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
    pointOfValue.set(value, ap);
    addOutputHook(outModule, (y) => ap.apply(y, outModule.training));
  };

  /**
   * A point on the output of a functional op that ends a block, keyed by the op's handle; installed
   * after the walk, through the op rewriter.
   */
  const opPoints = new Map<string, ActivationPoint>();
  const opOutputPoint = (handle: string, value: string): void => {
    const ap = new ActivationPoint(
      `${handle}.output`,
      handle,
      gridList(defaultAct),
      qat,
      makeObserver(),
      lsqA,
    );
    qat.activationPoints.push(ap);
    pointOfValue.set(value, ap);
    opPoints.set(handle, ap);
  };
  const constants = new Set(graph.constants.map((c) => c.id));

  const claimed = new Set<string>();
  for (const node of graph.nodes) {
    if (claimed.has(node.output)) continue;
    if (node.kind === "op") {
      const pattern = functionalPattern(node.type);
      // An add of a constant is a shift, not a residual sum; backends fold it, QAT leaves it float.
      if (!pattern || node.inputs.some((i) => constants.has(i))) continue;
      let last = node;
      const act = pattern.fuse ? soleConsumer(node.output) : undefined;
      if (act && pattern.fuse!.includes(activationType(act))) {
        last = act;
        claimed.add(act.output);
      }
      if (last.kind === "module") outputPoint(last.name!, overrides.get(last.name!) ?? {}, last.output);
      else opOutputPoint(last.name!, last.output);
      continue;
    }
    const pattern = fusionPattern(node.type);
    if (!pattern) continue;
    const name = node.name!;
    let last = node;
    let bn: nn.BatchNorm2d | null = null;
    if (pattern.fold) {
      const next = soleConsumer(node.output);
      if (next && next.kind === "module" && next.type === pattern.fold) {
        bn = modules.get(next.name!) as nn.BatchNorm2d;
        last = next;
        claimed.add(next.output);
      }
    }
    if (pattern.fuse) {
      const act = soleConsumer(last.output);
      if (act && pattern.fuse.includes(activationType(act))) {
        last = act;
        claimed.add(act.output);
      }
    }
    const ov = overrides.get(name) ?? {};
    if (pattern.weight) {
      const layer = modules.get(name) as nn.Linear | nn.Conv2d;
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
      const prevWeightHook = layer.weightHook;
      qat.onDetach(() => {
        layer.weightHook = prevWeightHook;
      });
      let quantizeWeight = (w: Variable) => wp.apply(w);
      if (int16Pairs) {
        // Installed before the BatchNorm fold's output hook: the correction belongs to the conv's sum.
        const source = gridPointOf(node.inputs[0]!);
        if (!source) {
          throw new Error(
            `prepareQat: accumulator.int16Pairs finds no activation grid for the input of '${name}'`,
          );
        }
        const keep = installInt16PairSaturation(layer, int16Pairs, source, wp, qat, (u) => qat.onDetach(u));
        quantizeWeight = (w) => keep(wp.apply(w));
      }
      if (bn) {
        qat.registerBatchNorm(bn);
        const hooks = batchNormFoldHooks(layer as nn.Conv2d, bn, quantizeWeight);
        layer.weightHook = hooks.weightHook;
        addOutputHook(layer, hooks.outputHook);
      } else layer.weightHook = quantizeWeight;
    }
    if (config.floatOutput === true && last.output === graph.output.id) continue;
    if (last.kind === "module") outputPoint(last.name!, ov, last.output);
    else opOutputPoint(last.name!, last.output);
  }
  installFunctionalPoints(qat, model, opPoints);
}
