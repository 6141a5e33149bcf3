import { type Module, nn } from "@quant-trim/autograd";
import { checkQParams, makeQParams, type QParams } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import { activationObserver } from "../calibration/activation-observer.js";
import { defineProfile } from "../profiles/define.js";
import type { BackendProfile } from "../profiles/schema.js";
import type { IntegerProgram, PlainQParams } from "../program/program.js";
import { observeActivations } from "./calibrate.js";
import { foldBatchNorms } from "./fold-batchnorm.js";
import { fuseActivations } from "./fuse.js";
import { buildIr, isKnownLayer, TRACE_BATCH } from "./ir.js";
import { lower, quantizationPoints } from "./lower.js";
import { placeNodes } from "./placement.js";

export interface CompileCalibration {
  /** Calibration inputs [N, ...inputShape]: the profile's calibration method ranges every activation. */
  readonly batch?: T.Tensor;
  /** Per-sample input shape, when no batch is given. */
  readonly inputShape?: readonly number[];
  /**
   * Scale and zero point of quantization points by name (`input`, `<module>.output`, …), e.g. the
   * activation points of a QAT model (`qatActivationQParams`). They take precedence over calibration.
   */
  readonly activationQParams?: Readonly<Record<string, QParams | PlainQParams>>;
  /** Calibration images per forward pass (default 64). */
  readonly chunk?: number;
}

const CALIBRATION_FIELDS = new Set(["batch", "inputShape", "activationQParams", "chunk"]);

function plain(q: QParams | PlainQParams): PlainQParams {
  return { scale: Array.from(q.scale), zeroPoint: Array.from(q.zeroPoint) };
}

/**
 * Compile a float model for a backend, the way its toolchain would: trace the module graph, fold
 * BatchNorm, fuse activations, place every op on the accelerator or the CPU (with the profile's
 * constraints and partitioning), calibrate activation ranges with the profile's method (or take given
 * qparams), quantize weights and biases, and lower to integer kernels. The result is plain data; run it
 * with `run`. Throws an Error naming the function and the argument on bad input.
 */
export function compile(
  model: Module,
  profile: BackendProfile,
  calibration: T.Tensor | CompileCalibration,
): IntegerProgram {
  const fn = "compile";
  if (!(model instanceof nn.Module)) throw new Error(`${fn}: model must be an nn.Module`);
  const p = defineProfile(profile, `${fn} (profile)`);
  const cal: CompileCalibration = calibration instanceof T.Tensor ? { batch: calibration } : calibration;
  if (cal === null || typeof cal !== "object") {
    throw new Error(
      `${fn}: calibration must be a Tensor batch or { batch?, inputShape?, activationQParams?, chunk? }`,
    );
  }
  for (const k of Object.keys(cal)) {
    if (!CALIBRATION_FIELDS.has(k)) {
      throw new Error(
        `${fn}: unknown calibration option '${k}'; known options: ${[...CALIBRATION_FIELDS].join(", ")}`,
      );
    }
  }
  const chunk = cal.chunk ?? 64;
  if (!Number.isInteger(chunk) || chunk < 1)
    throw new Error(`${fn}: calibration.chunk must be a positive integer, got ${chunk}`);
  let inputShape: number[];
  if (cal.batch !== undefined) {
    if (!(cal.batch instanceof T.Tensor) || cal.batch.ndim < 2 || cal.batch.shape[0] === 0) {
      throw new Error(`${fn}: calibration.batch must be a non-empty Tensor [N, ...inputShape]`);
    }
    inputShape = cal.batch.shape.slice(1);
    if (cal.inputShape !== undefined && cal.inputShape.join(",") !== inputShape.join(",")) {
      throw new Error(
        `${fn}: calibration.inputShape [${cal.inputShape.join(", ")}] does not match the batch's [${inputShape.join(", ")}]`,
      );
    }
  } else if (cal.inputShape !== undefined) {
    if (!Array.isArray(cal.inputShape) || !cal.inputShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`${fn}: calibration.inputShape must be positive integers`);
    }
    inputShape = [...cal.inputShape];
  } else {
    throw new Error(`${fn}: calibration needs a batch or an inputShape`);
  }

  const graph = nn.trace(model, T.zeros([TRACE_BATCH, ...inputShape]), {
    isLeaf: isKnownLayer,
    constantValues: 1 << 22,
  });
  let ir = buildIr(fn, graph, model);
  ir = foldBatchNorms(ir);
  ir = fuseActivations(ir, p.fusedActivations);
  const warnings: string[] = [];
  const placements = placeNodes(ir.nodes, p, warnings);
  const points = quantizationPoints(ir, placements, p.floatOutput);

  const qparams = new Map<string, PlainQParams | "dynamic">();
  if (p.activationScaling === "dynamic") {
    for (const pt of points) qparams.set(pt.value, "dynamic");
  } else {
    const given = cal.activationQParams ?? {};
    const missing = points.filter((pt) => !Object.hasOwn(given, pt.point));
    for (const pt of points) {
      const q = given[pt.point];
      if (q === undefined) continue;
      const asQ = makeQParams(Array.from(q.scale), Array.from(q.zeroPoint));
      checkQParams(`${fn}: activationQParams['${pt.point}']`, asQ, p.activation, 1);
      qparams.set(pt.value, plain(asQ));
    }
    if (missing.length > 0) {
      if (cal.batch === undefined) {
        throw new Error(
          `${fn}: no calibration batch and no activationQParams for ${missing.map((m) => `'${m.point}'`).join(", ")}`,
        );
      }
      const observers = observeActivations(
        model,
        cal.batch,
        missing.map((m) => m.source),
        () => activationObserver(p.calibration, p.activation),
        chunk,
      );
      for (const m of missing) {
        const o = observers.get(m.source)!;
        const r = o.range();
        if (!(r.min[0]! <= r.max[0]!)) {
          throw new Error(`${fn}: calibration saw no finite value at quantization point '${m.point}'`);
        }
        qparams.set(m.value, plain(o.qparams(p.activation)));
      }
    }
  }
  return lower({ ir, placements, profile: p, qparams, points, warnings });
}
