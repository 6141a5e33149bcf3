import { nn, type Variable } from "@quant-trim/autograd";
import type { ExportDefaults, HasExportDefaults } from "../export/export-options.js";

/*
 * The model `importOnnx` returns: ordinary `nn` layers registered under dotted paths (so the state dict,
 * checkpoints, QAT and the npu-sim compiler see a normal model) and the ONNX graph's wiring as a list of
 * steps that its forward replays. It remembers the names it came with, so exporting it again writes the
 * same graph.
 */

/** One layer call: read the named values, write one. */
export interface ImportedStep {
  readonly module: nn.Module;
  readonly inputs: readonly string[];
  readonly output: string;
}

/** Holds the layers below one path segment; never called itself. */
export class ModuleGroup extends nn.Module {
  add<M extends nn.Module>(name: string, m: M): M {
    return this.registerModule(name, m);
  }
  child(name: string): nn.Module | undefined {
    return this.namedChildren().find(([n]) => n === name)?.[1];
  }
  forward(): Variable {
    throw new Error("ModuleGroup: a group of imported layers is not a layer; call the model");
  }
}

export interface ImportedModelInfo {
  readonly inputName: string;
  readonly outputName: string;
  /** One sample's input shape (the batch axis dropped). */
  readonly inputShape: readonly number[];
  readonly batchDim: string;
  readonly graphName: string;
  readonly opset: number;
  /** The model's `metadata_props`. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly producerName: string;
}

export class ImportedOnnxModel extends nn.Module implements HasExportDefaults {
  readonly #steps: ImportedStep[] = [];
  /** Module path or op handle → the ONNX node name it came from. */
  readonly #nodeNames = new Map<string, string>();
  readonly #groups = new Map<string, ModuleGroup>();
  #output = "";

  constructor(readonly info: ImportedModelInfo) {
    super();
  }

  /** The ONNX value the forward returns. */
  get outputValue(): string {
    return this.#output;
  }

  get steps(): readonly ImportedStep[] {
    return this.#steps;
  }

  /** Register `m` under the dotted `path` (creating the groups above it). */
  addLayer<M extends nn.Module>(path: string, m: M): M {
    const parts = path.split(".");
    let parent: ModuleGroup | null = null;
    for (let i = 0; i < parts.length - 1; i++) {
      const prefix = parts.slice(0, i + 1).join(".");
      let g = this.#groups.get(prefix);
      if (g === undefined) {
        g = new ModuleGroup();
        if (parent === null) this.registerModule(parts[i]!, g);
        else parent.add(parts[i]!, g);
        this.#groups.set(prefix, g);
      }
      parent = g;
    }
    const last = parts[parts.length - 1]!;
    return parent === null ? this.registerModule(last, m) : parent.add(last, m);
  }

  /** Whether `path` is taken: a layer or a group sits there, or a layer sits on one of its prefixes. */
  isPathTaken(path: string): boolean {
    const taken = new Set(this.namedModules().map(([p]) => p));
    if (taken.has(path)) return true;
    const parts = path.split(".");
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join(".");
      if (taken.has(prefix) && !this.#groups.has(prefix)) return true;
    }
    return false;
  }

  addStep(step: ImportedStep, onnxName: string, handle: string): void {
    this.#steps.push(step);
    this.#nodeNames.set(handle, onnxName);
  }

  setOutput(value: string): void {
    this.#output = value;
  }

  forward(x: Variable): Variable {
    const values = new Map<string, Variable>([[this.info.inputName, x]]);
    for (const step of this.#steps) {
      const inputs = step.inputs.map((name) => values.get(name)!);
      values.set(step.output, step.module.call(...inputs));
    }
    const out = values.get(this.#output);
    if (out === undefined)
      throw new Error(`ImportedOnnxModel: the output '${this.#output}' was never computed`);
    return out;
  }

  onnxExportDefaults(): ExportDefaults {
    return {
      inputShape: this.info.inputShape,
      inputName: this.info.inputName,
      outputName: this.info.outputName,
      batchDim: this.info.batchDim,
      graphName: this.info.graphName,
      opset: this.info.opset,
      metadata: this.info.metadata,
      nodeNames: this.#nodeNames,
    };
  }
}
