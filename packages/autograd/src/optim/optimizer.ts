import { allocData, copyInto, fmtShape, ShapeError, Tensor, type TypedData } from "@quant-trim/tensor";

/**
 * What an optimizer needs from a trainable parameter: its values, updated in place, and the gradient of the
 * loss with respect to them (`null` when the parameter took no part in the last backward pass). `data` must
 * be contiguous; `grad` must have the same shape and may be any view.
 */
export interface ParamLike {
  data: Tensor;
  grad: Tensor | null;
}

/** A JSON value an optimizer's hyperparameter can take. */
export type HyperparameterValue = number | boolean | readonly number[];

/**
 * The JSON-serialisable part of an optimizer's state. The moment buffers are not in it: they go through
 * `stateTensors()` / `loadStateTensors()` so that checkpoints can store them as raw tensors.
 */
export interface OptimizerState {
  readonly kind: string;
  readonly lr: number;
  /** Calls to `step()` so far. */
  readonly stepCount: number;
  /** Per parameter, how many of those steps it received a gradient in (Adam's bias correction counts these). */
  readonly paramSteps: readonly number[];
  readonly hyperparameters: Readonly<Record<string, HyperparameterValue>>;
}

/** Options every optimizer accepts. */
export interface OptimizerOptions {
  lr?: number;
  /**
   * Parameters exempt from weight decay (typically biases and normalisation scales). Every member must be
   * one of the optimizer's parameters.
   */
  noDecay?: Iterable<ParamLike>;
}

export interface ZeroGradOptions {
  /** Drop the gradients (`grad = null`) instead of zeroing their buffers. */
  setToNone?: boolean;
}

type Buffers = (TypedData | null)[];

/**
 * One learning rate for all parameters; each subclass supplies its per-parameter update rule. Per-parameter
 * state (moment buffers) is allocated the first time a parameter receives a gradient and reused for every
 * later step, so a step allocates nothing once every parameter has been updated once.
 */
export abstract class Optimizer {
  readonly params: readonly ParamLike[];
  /** The class name used in error messages and in `state().kind`. */
  readonly kind: string;
  /** Per parameter: does weight decay apply to it? */
  protected readonly decays: readonly boolean[];
  protected readonly paramSteps: number[];
  /** Named per-parameter buffers (e.g. `exp_avg`), exported by `stateTensors()` as `<name>.<index>`. */
  protected readonly buffers: Readonly<Record<string, Buffers>>;
  private readonly bufferNames: readonly string[];
  /** `<kind>.step`, built once so that a step allocates no strings. */
  private readonly stepOp: string;
  private lrValue: number;
  private steps = 0;
  /** Copies of non-contiguous gradients, one reusable buffer per parameter. */
  private readonly gradScratch: (Float64Array | null)[];
  /** Set by `loadState` until `loadStateTensors` restores the moment buffers the state says exist. */
  private awaitingTensors = false;

  protected constructor(
    kind: string,
    params: Iterable<ParamLike>,
    options: OptimizerOptions,
    lrDefault: number,
    bufferNames: readonly string[],
  ) {
    this.kind = kind;
    this.stepOp = `${kind}.step`;
    const list = [...params];
    const seen = new Set<ParamLike>();
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      if (p === null || typeof p !== "object" || !(p.data instanceof Tensor)) {
        throw new Error(`${kind}: parameter ${i} must be an object with a Tensor 'data', got ${String(p)}`);
      }
      if (seen.has(p))
        throw new Error(`${kind}: parameter ${i} appears more than once in the parameter list`);
      seen.add(p);
      if (!p.data.isContiguous()) {
        throw new ShapeError(
          kind,
          `parameter ${i} data must be contiguous, got shape ${fmtShape(p.data.shape)} strides ${fmtShape(p.data.strides)}`,
        );
      }
    }
    this.params = list;
    const exempt = new Set<ParamLike>();
    for (const p of options.noDecay ?? []) {
      if (!seen.has(p)) throw new Error(`${kind}: a noDecay entry is not one of the optimizer's parameters`);
      exempt.add(p);
    }
    this.decays = list.map((p) => !exempt.has(p));
    this.paramSteps = list.map(() => 0);
    this.gradScratch = list.map(() => null);
    const buffers: Record<string, Buffers> = {};
    for (const name of bufferNames) buffers[name] = list.map(() => null);
    this.buffers = buffers;
    this.bufferNames = [...bufferNames];
    this.lrValue = checkLr(kind, options.lr ?? lrDefault);
  }

  /** The learning rate; schedules assign it between steps. */
  get lr(): number {
    return this.lrValue;
  }
  set lr(value: number) {
    this.lrValue = checkLr(this.kind, value);
  }

  /** Calls to `step()` so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** The hyperparameters other than the learning rate, as stored by `state()`. */
  abstract get hyperparameters(): Readonly<Record<string, HyperparameterValue>>;

  /**
   * Update, in place, every parameter whose `grad` is not null. Parameters with a null grad keep their values
   * and their moment buffers (as in PyTorch).
   */
  step(): void {
    const op = this.stepOp;
    if (this.awaitingTensors) {
      throw new Error(`${op}: state was loaded without its moment buffers; call loadStateTensors() first`);
    }
    const params = this.params;
    // Check everything before touching anything, so a bad parameter cannot leave a half-applied step.
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (p.grad !== null) this.checkParamForStep(op, i, p.data, p.grad);
    }
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      const g = p.grad;
      if (g === null) continue;
      const data = p.data;
      let gData: TypedData;
      let gOffset: number;
      if (g.isContiguous()) {
        gData = g.data;
        gOffset = g.offset;
      } else {
        gData = this.scratchFor(i, g.size);
        gOffset = 0;
        copyInto(g, gData, 0);
      }
      this.paramSteps[i]++;
      this.updateParam(i, data.data, data.offset, data.size, gData, gOffset);
    }
    this.steps++;
  }

  /**
   * Apply the update rule to parameter `index`: `n` values at `values[offset..]`, gradient at
   * `grad[gradOffset..]`. `paramSteps[index]` already counts this step.
   */
  protected abstract updateParam(
    index: number,
    values: TypedData,
    offset: number,
    n: number,
    grad: TypedData,
    gradOffset: number,
  ): void;

  /** Does the current configuration keep per-parameter buffers (SGD without momentum does not)? */
  protected abstract usesBuffers(): boolean;

  /** Validate raw hyperparameters (from `loadState`) and adopt them. Must not change anything on error. */
  protected abstract loadHyperparameters(raw: Readonly<Record<string, unknown>>): void;

  /**
   * Zero every gradient in place, keeping its buffer so the next backward pass allocates nothing. A
   * non-contiguous gradient is a view into storage the parameter may not own, so it is dropped (set to
   * null) instead; `setToNone` drops all of them. This assumes contiguous gradient buffers belong to their
   * parameter alone.
   */
  zeroGrad(options: ZeroGradOptions = {}): void {
    const setToNone = options.setToNone === true;
    for (const p of this.params) {
      const g = p.grad;
      if (g === null) continue;
      if (setToNone || !g.isContiguous()) p.grad = null;
      else g.data.fill(0, g.offset, g.offset + g.size);
    }
  }

  /** The JSON-serialisable state: learning rate, step counts and hyperparameters. */
  state(): OptimizerState {
    return {
      kind: this.kind,
      lr: this.lrValue,
      stepCount: this.steps,
      paramSteps: [...this.paramSteps],
      hyperparameters: this.hyperparameters,
    };
  }

  /**
   * Restore `state()` output (possibly after a JSON round trip). Existing moment buffers are discarded; if
   * the state says some exist, `loadStateTensors()` must follow before the next `step()`. Nothing changes
   * when the state is rejected.
   */
  loadState(state: OptimizerState): void {
    const op = `${this.kind}.loadState`;
    if (state === null || typeof state !== "object") throw new Error(`${op}: expected a state object`);
    if (state.kind !== this.kind) {
      throw new Error(`${op}: state is for '${String(state.kind)}', expected '${this.kind}'`);
    }
    const lr = checkLr(op, state.lr);
    if (!isCount(state.stepCount)) {
      throw new Error(`${op}: stepCount must be a non-negative integer, got ${String(state.stepCount)}`);
    }
    const ps = state.paramSteps;
    if (!Array.isArray(ps) || ps.length !== this.params.length) {
      throw new Error(
        `${op}: paramSteps must list one count per parameter (${this.params.length}), got ${Array.isArray(ps) ? ps.length : String(ps)}`,
      );
    }
    for (let i = 0; i < ps.length; i++) {
      if (!isCount(ps[i]) || ps[i] > state.stepCount) {
        throw new Error(
          `${op}: paramSteps[${i}] must be an integer in [0, stepCount=${state.stepCount}], got ${String(ps[i])}`,
        );
      }
    }
    const hp = state.hyperparameters;
    if (hp === null || typeof hp !== "object") throw new Error(`${op}: hyperparameters must be an object`);
    this.loadHyperparameters(hp);
    this.lrValue = lr;
    this.steps = state.stepCount;
    for (let i = 0; i < ps.length; i++) this.paramSteps[i] = ps[i];
    for (const name of this.bufferNames) this.buffers[name].fill(null);
    this.awaitingTensors = this.expectedTensorKeys().length > 0;
  }

  /**
   * The moment buffers as tensors named `<buffer>.<parameter index>` (e.g. `exp_avg.3`), shaped like their
   * parameter. They are views of the live buffers, not copies: serialise them before the next `step()`.
   */
  stateTensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, list] of Object.entries(this.buffers)) {
      for (let i = 0; i < list.length; i++) {
        const buf = list[i];
        if (buf === null) continue;
        const shape = this.params[i].data.size === buf.length ? this.params[i].data.shape : [buf.length];
        out[`${name}.${i}`] = new Tensor(buf, shape);
      }
    }
    return out;
  }

  /**
   * Restore the buffers `stateTensors()` exported, after `loadState()` (or on a fresh optimizer, whose
   * state expects none). The keys must be exactly those the loaded state implies; values are copied, so the
   * caller's tensors are not retained. Nothing changes when the tensors are rejected.
   */
  loadStateTensors(tensors: Readonly<Record<string, Tensor>>): void {
    const op = `${this.kind}.loadStateTensors`;
    const expected = this.expectedTensorKeys();
    const given = Object.keys(tensors);
    const missing = expected.filter((k) => !(k in tensors));
    const extra = given.filter((k) => !expected.includes(k));
    if (missing.length > 0 || extra.length > 0) {
      throw new Error(
        `${op}: tensor names do not match the loaded state: missing [${missing.join(", ")}], unexpected [${extra.join(", ")}]`,
      );
    }
    for (const key of expected) {
      const t = tensors[key];
      const index = Number(key.slice(key.lastIndexOf(".") + 1));
      const shape = this.params[index].data.shape;
      if (!(t instanceof Tensor) || !sameShape(t.shape, shape)) {
        throw new ShapeError(
          op,
          `'${key}' must be a tensor of shape ${fmtShape(shape)}, got ${t instanceof Tensor ? fmtShape(t.shape) : String(t)}`,
        );
      }
    }
    for (const key of expected) {
      const dot = key.lastIndexOf(".");
      const index = Number(key.slice(dot + 1));
      const data = this.params[index].data;
      const buf = allocData(data.dtype, data.size);
      copyInto(tensors[key], buf, 0);
      this.buffers[key.slice(0, dot)][index] = buf;
    }
    this.awaitingTensors = false;
  }

  /**
   * The buffer `name` of parameter `index`, allocated (zeros, the parameter's dtype) on first use. Callers
   * in the step loop get the same array every time; `step()` has already checked its length.
   */
  protected bufferFor(name: string, index: number, n: number): TypedData {
    const list = this.buffers[name];
    let buf = list[index];
    if (buf === null) {
      buf = allocData(this.params[index].data.dtype, n);
      list[index] = buf;
    }
    return buf;
  }

  private checkParamForStep(op: string, index: number, data: Tensor, grad: Tensor): void {
    if (!data.isContiguous()) {
      throw new ShapeError(
        op,
        `parameter ${index} data must be contiguous, got shape ${fmtShape(data.shape)} strides ${fmtShape(data.strides)}`,
      );
    }
    if (!sameShape(data.shape, grad.shape)) {
      throw new ShapeError(
        op,
        `parameter ${index} grad shape ${fmtShape(grad.shape)} does not match data shape ${fmtShape(data.shape)}`,
      );
    }
    for (let b = 0; b < this.bufferNames.length; b++) {
      const name = this.bufferNames[b];
      const buf = this.buffers[name][index];
      if (buf !== null && buf.length !== data.size) {
        throw new ShapeError(
          op,
          `parameter ${index} has ${data.size} values but its '${name}' buffer has ${buf.length}; was the parameter replaced?`,
        );
      }
    }
  }

  private expectedTensorKeys(): string[] {
    if (!this.usesBuffers()) return [];
    const keys: string[] = [];
    for (const name of this.bufferNames) {
      for (let i = 0; i < this.paramSteps.length; i++) if (this.paramSteps[i] > 0) keys.push(`${name}.${i}`);
    }
    return keys;
  }

  private scratchFor(index: number, n: number): Float64Array {
    let s = this.gradScratch[index];
    if (s === null || s.length !== n) {
      s = new Float64Array(n);
      this.gradScratch[index] = s;
    }
    return s;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= 0;
}

function checkLr(where: string, lr: unknown): number {
  if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) {
    throw new Error(`${where}: lr must be a finite number >= 0, got ${String(lr)}`);
  }
  return lr;
}

/**
 * Throw unless `value` is a finite number accepted by `ok`; `what` names the hyperparameter and `expected`
 * says what is allowed (e.g. "in [0, 1)").
 */
export function checkHyperparameter(
  where: string,
  what: string,
  value: unknown,
  ok: (v: number) => boolean,
  expected: string,
): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
    throw new Error(`${where}: ${what} must be a finite number ${expected}, got ${String(value)}`);
  }
  return value;
}

/** Throw unless `raw` has exactly the keys `names` (state objects from files may be anything). */
export function checkHyperparameterKeys(
  where: string,
  raw: Readonly<Record<string, unknown>>,
  names: readonly string[],
): void {
  const missing = names.filter((k) => !(k in raw));
  const extra = Object.keys(raw).filter((k) => !names.includes(k));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `${where}: hyperparameters must be exactly {${names.join(", ")}}: missing [${missing.join(", ")}], unexpected [${extra.join(", ")}]`,
    );
  }
}
