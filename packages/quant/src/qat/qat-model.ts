import type { nn, Parameter, Variable } from "@quant-trim/autograd";
import type { Rng } from "@quant-trim/tensor";
import type { FakeQuantOptions } from "../fake-quant-op.js";
import type { ActivationPoint, QuantContext, QuantPoint, QuantPointInfo, WeightPoint } from "./points.js";

type Module = nn.Module;

/**
 * A model prepared for quantization-aware training (made by `prepareQat`). The model itself is
 * instrumented in place (hooks on its modules); its parameters, state dict and checkpoints stay those of
 * the float model, so the trained checkpoint is a plain FP32 model that any backend can quantize.
 * `detach()` takes the hooks out again.
 */
export class QatModel implements QuantContext {
  lambda = 0;
  /** While true, activation observers record even in eval mode (post-training calibration). */
  calibrating = false;
  private everSet = false;
  readonly weightPoints: WeightPoint[] = [];
  readonly activationPoints: ActivationPoint[] = [];
  private readonly batchNorms: nn.BatchNorm2d[] = [];
  /** Undo steps of the instrumentation, in the order they were installed. */
  private readonly undo: Array<() => void> = [];
  private detached = false;

  constructor(
    readonly model: Module,
    readonly clipMask: boolean,
    private readonly freezeAtOne: boolean,
    readonly rng: Rng | null,
  ) {}

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

  /** @internal A BatchNorm folded into a conv; `detach` gives it back its own statistics setting. */
  registerBatchNorm(bn: nn.BatchNorm2d): void {
    this.batchNorms.push(bn);
    const frozen = bn.frozenStats;
    this.undo.push(() => {
      bn.frozenStats = frozen;
    });
  }

  /** @internal Records how to take one installed hook out again. */
  onDetach(step: () => void): void {
    this.undo.push(step);
  }

  /**
   * Remove every hook this QAT preparation installed, newest first, so the model computes its float
   * function again (post-training evaluation instruments a model, measures, and detaches). BatchNorm
   * layers get back the statistics setting they had. The QatModel is of no further use afterwards.
   */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]!();
    this.undo.length = 0;
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
