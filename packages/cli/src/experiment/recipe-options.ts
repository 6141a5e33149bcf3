import { weightGridNames } from "@quant-trim/recipes";
import { UsageError } from "../args.js";

/*
 * The recipe hyperparameters `experiment` passes through to `quantTrim`. Adding one is one line in
 * RECIPE_OPTIONS: the flag, the quantTrim option it sets, how its text is read, one line of help. Every
 * value given is passed to every recipe's quantTrim call and recorded in results.json's
 * config.recipeOptions; quantTrim itself refuses combinations that do not fit (checked before training).
 * Two keys also fill dedicated config fields: `grids` (config.grids) and `alignPow2` (config.pow2Thresholds).
 */

/** What a flag's text becomes for quantTrim. */
export type RecipeOptionValue = number | string | boolean | readonly string[];

export interface RecipeOption {
  /** The command-line flag without its dashes, e.g. "p-final". */
  readonly flag: string;
  /** The `QuantTrimOptions` key it sets, e.g. "pFinal". */
  readonly key: string;
  /** Reads the flag's text (throws a UsageError naming the flag); "boolean" for a flag without a value. */
  readonly value: ((flag: string, text: string) => RecipeOptionValue) | "boolean";
  /** One line for --help. */
  readonly help: string;
}

const DECIMAL = /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A number in [0, 1] written as a plain decimal. */
export function fraction(flag: string, text: string): number {
  const n = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 0 && n <= 1)) throw new UsageError(`--${flag} must be a number in [0, 1], got '${text}'`);
  return n;
}

/** A number in (0, 1]. */
export function positiveFraction(flag: string, text: string): number {
  const n = fraction(flag, text);
  if (n === 0) throw new UsageError(`--${flag} must be a number in (0, 1], got '${text}'`);
  return n;
}

/** Names separated by commas, none blank, none twice. */
export function nameList(flag: string, text: string): readonly string[] {
  const names = text.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) throw new UsageError(`--${flag}: a name in '${text}' is blank`);
  if (new Set(names).size !== names.length) throw new UsageError(`--${flag} lists a name twice: '${text}'`);
  return names;
}

/** Multi-grid PFQ's set: "profiles", or weight-grid layout names separated by commas. */
export function gridSet(flag: string, text: string): string | readonly string[] {
  if (text.trim() === "profiles") return "profiles";
  const names = nameList(flag, text);
  for (const n of names)
    if (!(weightGridNames as readonly string[]).includes(n))
      throw new UsageError(
        `--${flag}: unknown grid '${n}'; expected profiles or a comma-separated list of ${weightGridNames.join(", ")}`,
      );
  return names;
}

/** Pow2-aligned trimming's qmax: "grid" (the training grid's largest code) or an integer ≥ 1. */
export function pow2Qmax(flag: string, text: string): number | boolean {
  if (text === "grid") return true;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n < 2 ** 24))
    throw new UsageError(
      `--${flag} must be 'grid' or an integer qmax in [1, 2^24) such as 127, got '${text}'`,
    );
  return n;
}

export const RECIPE_OPTIONS: readonly RecipeOption[] = [
  {
    flag: "warmup",
    key: "warmup",
    value: fraction,
    help: "λ curriculum: FP32 warm-up fraction (default 0.2)",
  },
  {
    flag: "quartic-end",
    key: "quarticEnd",
    value: fraction,
    help: "end of the quartic λ ramp (default 0.5)",
  },
  {
    flag: "ramp-end",
    key: "rampEnd",
    value: fraction,
    help: "where λ reaches 1 and observers freeze (default 0.8)",
  },
  {
    flag: "handover",
    key: "handover",
    value: fraction,
    help: "λ where the quartic ramp hands over (default 0.25)",
  },
  {
    flag: "p-final",
    key: "pFinal",
    value: positiveFraction,
    help: "reverse pruning's final quantile (default 0.99 at 4 bits, 0.999 at 8)",
  },
  {
    flag: "grids",
    key: "grids",
    value: gridSet,
    // The layout names do not fit one line; the continuation lines align with the help column.
    help: [
      "multi-grid PFQ (pfq, quant-trim): draw the weight grid per step from",
      "'profiles' (all of these) or a comma-separated list of them:",
      ...[0, 3, 5].map((k, i, at) => weightGridNames.slice(k, at[i + 1]).join(", ")),
    ].join(`\n${" ".repeat(20)}`),
  },
  {
    flag: "trim-pow2",
    key: "alignPow2",
    value: pow2Qmax,
    help: [
      "pow2-aligned trimming (rp, quant-trim): snap each τ down so τ/Q is a power of two;",
      "Q = grid (the training grid's qmax) or an integer, e.g. 127 for INT8 power-of-two backends",
    ].join(`\n${" ".repeat(20)}`),
  },
];

/** The option specs of RECIPE_OPTIONS for `parse`. */
export function recipeOptionSpecs(): Record<string, { type: "string" | "boolean" }> {
  return Object.fromEntries(
    RECIPE_OPTIONS.map((o) => [o.flag, { type: o.value === "boolean" ? "boolean" : "string" }]),
  );
}

/** The values given on the command line, keyed by quantTrim option (flags not given are left out). */
export function readRecipeOptions(
  parsed: Readonly<Record<string, string | boolean | undefined>>,
): Record<string, RecipeOptionValue> {
  const out: Record<string, RecipeOptionValue> = {};
  for (const o of RECIPE_OPTIONS) {
    const v = parsed[o.flag];
    if (v === undefined) continue;
    if (o.value === "boolean") out[o.key] = v === true;
    else if (typeof v === "string") out[o.key] = o.value(o.flag, v);
  }
  return out;
}

/** The help lines of RECIPE_OPTIONS, aligned like the rest of the command's help. */
export function recipeOptionsHelp(): string {
  return RECIPE_OPTIONS.map((o) => {
    const flag = `  --${o.flag}${o.value === "boolean" ? "" : " X"}`;
    return `${flag.padEnd(20)}${o.help}`;
  }).join("\n");
}

/** A value as results.json records it (lists joined by commas). */
export function recordedValue(v: RecipeOptionValue): number | string | boolean {
  return typeof v === "object" ? v.join(",") : v;
}
