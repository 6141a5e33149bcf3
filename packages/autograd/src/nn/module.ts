import type { Tensor } from "@quant-trim/tensor";
import * as T from "@quant-trim/tensor";
import { noGrad, Parameter, type Variable } from "../variable.js";
import { currentTracer } from "./trace-hook.js";

/**
 * Base of every layer and model. Parameters, buffers and submodules are registered by name (in the
 * order a subclass declares them), which gives stable dotted names (`features.0.weight`) for state
 * dicts, checkpoints, the tracer and per-layer quantization overrides.
 */
export abstract class Module {
  training = true;
  private readonly params = new Map<string, Parameter>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /**
   * Transforms applied around `forward` by tools that instrument a model without rewriting it (QAT
   * inserts fake-quantization points here): `input` maps each input, `output` the result.
   */
  hooks: { input?: (x: Variable) => Variable; output?: (y: Variable) => Variable } = {};

  abstract forward(...inputs: Variable[]): Variable;

  /** Run `forward` (with hooks). Always call modules through `call` so the tracer sees module boundaries. */
  call(...inputs: Variable[]): Variable {
    const tracer = currentTracer();
    if (tracer) return tracer.callModule(this, inputs, () => this.runHooked(inputs));
    return this.runHooked(inputs);
  }

  private runHooked(inputs: Variable[]): Variable {
    const { input, output } = this.hooks;
    const y = this.forward(...(input ? inputs.map(input) : inputs));
    return output ? output(y) : y;
  }

  /** Attributes the tracer records for this module (kernel size, stride, features, ...). */
  traceAttrs(): Record<string, unknown> {
    return {};
  }

  /** Whether the tracer records this module as one node instead of looking inside it. */
  get isLeafModule(): boolean {
    return this.children.size === 0;
  }

  protected registerParameter(name: string, t: Tensor): Parameter {
    this.checkName(name);
    const p = new Parameter(t);
    this.params.set(name, p);
    return p;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    this.buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (!/^[A-Za-z0-9_]+$/.test(name))
      throw new Error(`Module: invalid name '${name}' (letters, digits and _ only)`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new Error(`Module: '${name}' is already registered`);
    }
  }

  buffer(name: string): Tensor {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`Module: no buffer '${name}'`);
    return b;
  }

  namedChildren(): Array<[string, Module]> {
    return [...this.children];
  }

  /** This module and every descendant, with dotted names ('' for this one). */
  namedModules(prefix = ""): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.children)
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /**
   * Parameters by dotted name, each once: a parameter shared by several modules (tied weights, a module
   * used twice) is listed under its first name, so optimizers and pruners update it once per step.
   * `stateDict()` still lists it under every name, as checkpoints of tied models do.
   */
  namedParameters(prefix = ""): Array<[string, Parameter]> {
    const seen = new Set<Parameter>();
    const out: Array<[string, Parameter]> = [];
    for (const entry of this.everyNamedParameter(prefix)) {
      if (seen.has(entry[1])) continue;
      seen.add(entry[1]);
      out.push(entry);
    }
    return out;
  }

  private everyNamedParameter(prefix: string): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    for (const [name, p] of this.params) out.push([prefix ? `${prefix}.${name}` : name, p]);
    for (const [name, child] of this.children)
      out.push(...child.everyNamedParameter(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ""): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [name, b] of this.buffers) out.push([prefix ? `${prefix}.${name}` : name, b]);
    for (const [name, child] of this.children)
      out.push(...child.namedBuffers(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by dotted name. The tensors are the live ones (not copies). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, p] of this.everyNamedParameter("")) out[name] = p.data;
    for (const [name, b] of this.namedBuffers()) out[name] = b;
    return out;
  }

  /**
   * Copy values into the live parameters and buffers (identity is kept, so optimizers stay attached).
   * Strict: every name must be present, with the same shape, and no extra names.
   */
  loadStateDict(state: Readonly<Record<string, Tensor>>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !(k in own));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      throw new Error(
        `loadStateDict: ${missing.length ? `missing ${missing.join(", ")}` : ""}${missing.length && unexpected.length ? "; " : ""}${
          unexpected.length ? `unexpected ${unexpected.join(", ")}` : ""
        }`,
      );
    }
    for (const [name, target] of Object.entries(own)) {
      const src = state[name];
      if (!src) continue;
      if (src.shape.length !== target.shape.length || src.shape.some((d, i) => d !== target.shape[i])) {
        throw new T.ShapeError(
          "loadStateDict",
          `'${name}' has shape ${T.fmtShape(src.shape)}, the model expects ${T.fmtShape(target.shape)}`,
        );
      }
    }
    noGrad(() => {
      for (const [name, target] of Object.entries(own)) {
        const src = state[name];
        if (src) T.assign(target, src);
      }
    });
  }
}
