/*
 * Options shared by the float and QDQ exports, and their validation: an unknown key, a name that is
 * not a non-empty string or an opset outside the supported range is an Error naming the option.
 */

/** Opsets of the default domain the exporters write (13: per-axis Q/DQ; 21: int4 Q/DQ). */
export const EXPORT_OPSETS = Object.freeze({ min: 13, max: 21 });

export interface FloatExportOptions {
  /** One sample's shape (no batch axis), e.g. [1, 28, 28]. Defaults to an imported model's own. */
  readonly inputShape?: readonly number[];
  /** Default-domain opset, 13 … 21 (default 13). */
  readonly opset?: number;
  /** Graph input name (default "input", or the name an imported model came with). */
  readonly inputName?: string;
  /** Graph output name (default "output", or the name an imported model came with). */
  readonly outputName?: string;
  /** Symbolic name of the dynamic batch dimension (default "batch"). */
  readonly batchDim?: string;
  /** Fold each BatchNorm into the Conv/Linear before it instead of writing BatchNormalization. */
  readonly foldBatchNorm?: boolean;
  /** The ONNX graph's name (default "quant-trim"). */
  readonly graphName?: string;
  /** Extra `metadata_props` (e.g. a checkpoint's recipe metadata); values must be strings. */
  readonly metadata?: Readonly<Record<string, string>>;
}

const FLOAT_KEYS = [
  "inputShape",
  "opset",
  "inputName",
  "outputName",
  "batchDim",
  "foldBatchNorm",
  "graphName",
  "metadata",
] as const;

/** Names an imported model came with, used when the options do not say otherwise. */
export interface ExportDefaults {
  readonly inputShape?: readonly number[];
  readonly inputName?: string;
  readonly outputName?: string;
  readonly batchDim?: string;
  readonly graphName?: string;
  /** Used when within EXPORT_OPSETS. */
  readonly opset?: number;
  /** `metadata_props` to carry over (options.metadata adds to and overrides them). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Module path or op handle → the ONNX node name to write. */
  readonly nodeNames?: ReadonlyMap<string, string>;
}

/** A model that knows how it wants to be exported (an imported ONNX model does). */
export interface HasExportDefaults {
  onnxExportDefaults(): ExportDefaults;
}

export function exportDefaultsOf(model: object): ExportDefaults {
  const m = model as Partial<HasExportDefaults>;
  return typeof m.onnxExportDefaults === "function" ? m.onnxExportDefaults() : {};
}

export interface ResolvedFloatOptions {
  readonly inputShape: readonly number[];
  readonly opset: number;
  readonly inputName: string;
  readonly outputName: string;
  readonly batchDim: string;
  readonly foldBatchNorm: boolean;
  readonly graphName: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly nodeNames: ReadonlyMap<string, string>;
}

export function checkOptionKeys(fn: string, options: object, known: readonly string[]): void {
  if (typeof options !== "object" || options === null) {
    throw new Error(`${fn}: options must be an object, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new Error(`${fn}: unknown option '${key}' (known: ${known.join(", ")})`);
  }
}

function name(fn: string, option: string, v: unknown, fallback: string): string {
  if (v === undefined) return fallback;
  if (typeof v !== "string" || v === "")
    throw new Error(`${fn}: options.${option} must be a non-empty string`);
  return v;
}

export function resolveFloatOptions(
  fn: string,
  options: FloatExportOptions,
  defaults: ExportDefaults,
  extraKeys: readonly string[] = [],
): ResolvedFloatOptions {
  checkOptionKeys(fn, options, [...FLOAT_KEYS, ...extraKeys]);
  const inputShape = options.inputShape ?? defaults.inputShape;
  if (
    !Array.isArray(inputShape) ||
    inputShape.length === 0 ||
    !inputShape.every((d) => Number.isSafeInteger(d) && d > 0)
  ) {
    throw new Error(
      `${fn}: options.inputShape must list one sample's positive dimensions (no batch axis), got ${JSON.stringify(inputShape)}`,
    );
  }
  const ownOpset = defaults.opset;
  const fallbackOpset =
    ownOpset !== undefined && ownOpset >= EXPORT_OPSETS.min && ownOpset <= EXPORT_OPSETS.max ? ownOpset : 13;
  const opset = options.opset ?? fallbackOpset;
  if (!Number.isInteger(opset) || opset < EXPORT_OPSETS.min || opset > EXPORT_OPSETS.max) {
    throw new Error(
      `${fn}: opset ${String(opset)} is not supported (options.opset must be an integer from ${EXPORT_OPSETS.min} to ${EXPORT_OPSETS.max})`,
    );
  }
  if (options.foldBatchNorm !== undefined && typeof options.foldBatchNorm !== "boolean") {
    throw new Error(`${fn}: options.foldBatchNorm must be a boolean`);
  }
  const given = options.metadata ?? {};
  if (typeof given !== "object" || given === null)
    throw new Error(`${fn}: options.metadata must be an object`);
  const metadata = { ...defaults.metadata, ...given };
  for (const [k, v] of Object.entries(given)) {
    if (typeof v !== "string")
      throw new Error(`${fn}: options.metadata['${k}'] must be a string, got ${typeof v}`);
  }
  const inputName = name(fn, "inputName", options.inputName, defaults.inputName ?? "input");
  const outputName = name(fn, "outputName", options.outputName, defaults.outputName ?? "output");
  if (inputName === outputName)
    throw new Error(`${fn}: options.inputName and options.outputName are both '${inputName}'`);
  return {
    inputShape: [...inputShape],
    opset,
    inputName,
    outputName,
    batchDim: name(fn, "batchDim", options.batchDim, defaults.batchDim ?? "batch"),
    foldBatchNorm: options.foldBatchNorm ?? false,
    graphName: name(fn, "graphName", options.graphName, defaults.graphName ?? "quant-trim"),
    metadata,
    nodeNames: defaults.nodeNames ?? new Map(),
  };
}
