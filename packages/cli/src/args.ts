import { parseArgs } from "node:util";
import { isZooModel, type RecipeName, recipeNames, zooNames } from "@quant-trim/recipes";

/** Bad input from the user: a one-line reason and exit code 2. */
export class UsageError extends Error {}

/** Options every command takes. */
const COMMON = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  seed: { type: "string" },
} as const;

export type ParsedArgs = Record<string, string | boolean | undefined>;

type OptionSpec = { type: "string" | "boolean"; short?: string };

/**
 * Strict parsing: an unknown option, a stray argument or an option given twice is a UsageError naming
 * it. parseArgs itself would let the last of two values win, hiding a typo in a long command line.
 */
export function parse<T extends Record<string, OptionSpec>>(args: string[], options: T): ParsedArgs {
  const all: Record<string, OptionSpec> = { ...COMMON, ...options };
  checkDashValues(args, all);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: all, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!);
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== "option") continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given twice`);
    seen.add(t.name);
  }
  return parsed.values as ParsedArgs;
}

/**
 * A string option followed by a separate argument that starts with '-' is refused by parseArgs with a
 * three-line message whose first line alone ("argument is ambiguous") does not say what to do; this
 * says it in one line, before parseArgs sees the arguments.
 */
function checkDashValues(args: string[], options: Record<string, OptionSpec>): void {
  const byShort = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name]] : [])));
  for (let i = 0; i + 1 < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return;
    const name = a.startsWith("--") ? a.slice(2) : /^-[^-]$/.test(a) ? byShort.get(a.slice(1)) : undefined;
    if (name === undefined || options[name]?.type !== "string") continue;
    const next = args[i + 1]!;
    if (!next.startsWith("-")) {
      i++; // `next` is this option's value, not an option
      continue;
    }
    if (/^-(\d|\.\d)/.test(next))
      throw new UsageError(
        `${a} ${next}: a value starting with '-' reads as an option; write --${name}=${next}`,
      );
    throw new UsageError(
      `${a} needs a value, but '${next}' follows it; if '${next}' is the value, write --${name}=${next}`,
    );
  }
}

/**
 * An integer option: decimal digits with an optional leading minus, then the range check. Number()
 * alone would take "" and " " as 0 and read "0x3", "1e3" and "0b1" as numbers.
 */
export function int(
  name: string,
  v: string | undefined,
  def: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return def;
  const n = /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a decimal integer in [${min}, ${max}], got '${v}'`);
  return n;
}

/** A plain decimal number with an optional exponent (0.001, 1e-3, 5E-4); no hex, no blanks, no Infinity. */
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

export function num(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = DECIMAL.test(v) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive number such as 0.001 or 1e-3, got '${v}'`);
  return n;
}

export function bitsOf(v: string | undefined, def: 4 | 8): 4 | 8 {
  if (v === undefined) return def;
  if (v !== "4" && v !== "8") throw new UsageError(`--bits must be 4 or 8, got '${v}'`);
  return Number(v) as 4 | 8;
}

export function granularityOf(
  v: string | undefined,
  def: "per-channel" | "per-tensor",
): "per-channel" | "per-tensor" {
  if (v === undefined) return def;
  if (v !== "per-channel" && v !== "per-tensor")
    throw new UsageError(`--granularity must be per-channel or per-tensor, got '${v}'`);
  return v;
}

/** A model of the zoo, by name. */
export function archOf(v: string | undefined, def: string): string {
  const a = v ?? def;
  if (!isZooModel(a)) throw new UsageError(`--arch must be one of ${zooNames.join(", ")}, got '${a}'`);
  return a;
}

/** The value of a string option (parseArgs types every option as string | boolean). */
export function str(v: ParsedArgs, name: string): string | undefined {
  const x = v[name];
  return typeof x === "string" ? x : undefined;
}

/**
 * What each recipe does, in one line: every help that takes a recipe lists these. Typed by RecipeName so
 * that a recipe added to the library without a line here does not compile.
 */
export const recipeSummaries: Readonly<Record<RecipeName, string>> = {
  fp: "plain FP32 training (the float baseline)",
  qat: "fake quantization at full strength from step one, on one fixed grid",
  pfq: "progressive fake quantization along the λ curriculum, no pruning",
  rp: "reverse pruning only: weight tails trimmed along λ, float otherwise",
  "quant-trim": "progressive fake quantization + reverse pruning (the method)",
};

/** The recipes with their one-line summaries, for a help text, each line indented by `indent` spaces. */
export function recipeHelp(indent: number): string {
  const w = Math.max(...recipeNames.map((r) => r.length));
  return recipeNames.map((r) => `${" ".repeat(indent)}${r.padEnd(w)}  ${recipeSummaries[r]}`).join("\n");
}

/** Names separated by commas in lines of at most `width` characters, each indented by `indent` spaces. */
export function wrapList(names: readonly string[], indent: number, width = 104): string {
  const lines: string[] = [];
  let line = "";
  for (const [i, n] of names.entries()) {
    const item = i < names.length - 1 ? `${n},` : n;
    if (line !== "" && indent + line.length + 1 + item.length > width) {
      lines.push(line);
      line = item;
    } else line = line === "" ? item : `${line} ${item}`;
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => `${" ".repeat(indent)}${l}`).join("\n");
}
