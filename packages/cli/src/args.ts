import { parseArgs } from "node:util";
import { architectures, isArchitecture } from "./models.js";

/** Bad input from the user: a one-line reason and exit code 2. */
export class UsageError extends Error {}

/** Options every command takes. */
const COMMON = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  seed: { type: "string" },
} as const;

export type ParsedArgs = Record<string, string | boolean | undefined>;

/** Strict parsing: an unknown option or a stray argument is a UsageError naming it. */
export function parse<T extends Record<string, { type: "string" | "boolean"; short?: string }>>(
  args: string[],
  options: T,
): ParsedArgs {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, strict: true, allowPositionals: false })
      .values as ParsedArgs;
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!);
  }
}

export function int(
  name: string,
  v: string | undefined,
  def: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got '${v}'`);
  return n;
}

export function num(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
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

export function archOf(v: string | undefined, def: "mlp" | "cnn") {
  const a = v ?? def;
  if (!isArchitecture(a))
    throw new UsageError(`--arch must be one of ${architectures.join(", ")}, got '${a}'`);
  return a;
}

/** The value of a string option (parseArgs types every option as string | boolean). */
export function str(v: ParsedArgs, name: string): string | undefined {
  const x = v[name];
  return typeof x === "string" ? x : undefined;
}
