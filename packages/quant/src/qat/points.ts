import { Parameter, type Variable } from "@quant-trim/autograd";
import type { Rng } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { type FakeQuantOptions, fakeQuant, float32Values } from "../fake-quant-op.js";
import { minMax } from "../grid/min-max.js";
import { computeQParams, learnedQParams, type QParams } from "../grid/qparams.js";
import type { GridSpec } from "../grid/spec.js";
import { lsqFakeQuant } from "../lsq.js";
import type { Observer } from "../observers/observer.js";

/** Grids of one quantization point: a single grid, or a set sampled per step (multi-grid training). */
export type GridChoice = GridSpec | readonly GridSpec[];

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

/** What every point reads from the QAT driver at each forward pass. */
export interface QuantContext {
  readonly lambda: number;
  readonly clipMask: boolean;
  /** Observers record in eval mode too while this is set (post-training calibration). */
  readonly calibrating: boolean;
  fakeQuantOptions(): FakeQuantOptions;
}

export function gridList(choice: GridChoice): GridSpec[] {
  const list = Array.isArray(choice) ? [...(choice as readonly GridSpec[])] : [choice as GridSpec];
  if (list.length === 0) throw new Error("prepareQat: a grid choice must list at least one grid");
  return list;
}

/** A quantization point: fake quantization of one weight or one activation tensor. */
export abstract class QuantPoint {
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
  private currentLearnedQParams(): QParams {
    return learnedQParams(
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
      qparams: this.scale ? this.currentLearnedQParams() : this.qparams,
      learned: this.learned,
    };
  }
}

/** Min/max qparams of a tensor on a grid: how weight scales follow the weights at every step. */
function rangeQParams(w: T.Tensor, grid: GridSpec): QParams {
  const r = minMax(float32Values(w), grid, w.shape);
  return computeQParams(r.min, r.max, grid);
}

export class WeightPoint extends QuantPoint {
  constructor(
    name: string,
    module: string,
    grids: readonly GridSpec[],
    private readonly ctx: QuantContext,
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
    const lambda = this.ctx.lambda;
    if (this.scale)
      return lsqFakeQuant(w, this.scale, this.zeroPoint, this.grid, { lambda, clipMask: this.ctx.clipMask });
    this.qparams = rangeQParams(w.data, this.grid);
    if (lambda === 0) return w;
    return fakeQuant(w, this.grid, this.qparams, this.ctx.fakeQuantOptions());
  }
}

export class ActivationPoint extends QuantPoint {
  constructor(
    name: string,
    module: string,
    grids: readonly GridSpec[],
    private readonly ctx: QuantContext,
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
    if ((training || this.ctx.calibrating) && !this.observer.frozen)
      this.observer.observe(float32Values(y.data), y.shape);
    const lambda = this.ctx.lambda;
    if (this.scale) {
      return lsqFakeQuant(y, this.scale, this.zeroPoint, this.grid, { lambda, clipMask: this.ctx.clipMask });
    }
    this.qparams = this.observer.qparams(this.grid);
    if (lambda === 0) return y;
    return fakeQuant(y, this.grid, this.qparams, this.ctx.fakeQuantOptions());
  }
}
