import type { Tensor } from "@quant-trim/tensor";

/**
 * Which parameters a pruner touches. The pruners see parameters structurally — anything with a `data`
 * tensor that the optimizer updates in place and a `grad` — so this package does not depend on autograd's
 * classes; `model.namedParameters()` fits as it is.
 */

export interface PrunableParam {
  data: Tensor;
  grad: Tensor | null;
}

export interface NamedParam {
  name: string;
  param: PrunableParam;
}

/** A named parameter as `{name, param}` or as the `[name, param]` pair `Module.namedParameters()` yields. */
export type ParamEntry = NamedParam | readonly [string, PrunableParam];

/** `*` matches any run of characters (dots included), `?` one character; anything else is literal. */
export function globToRegExp(glob: string): RegExp {
  let src = "^";
  for (const ch of glob) {
    if (ch === "*") src += ".*";
    else if (ch === "?") src += ".";
    else src += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`${src}$`);
}

/** Exact name or glob match. */
export function matchesName(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (!pattern.includes("*") && !pattern.includes("?")) return false;
  return globToRegExp(pattern).test(name);
}

/** The default choice: Linear/Conv weights, i.e. parameters named `weight` or `*.weight`. */
export function isDefaultPrunable(name: string): boolean {
  return name === "weight" || name.endsWith(".weight");
}

function normalizeParams(fn: string, params: ReadonlyArray<ParamEntry>): NamedParam[] {
  if (!Array.isArray(params)) {
    throw new Error(
      `${fn}: params must be an array of {name, param: {data, grad}} or [name, param], got ${String(params)}`,
    );
  }
  const seen = new Set<string>();
  return params.map((raw, i) => {
    const entry: Partial<NamedParam> = Array.isArray(raw)
      ? { name: raw[0] as string, param: raw[1] as PrunableParam }
      : (raw as NamedParam);
    if (
      !entry ||
      typeof entry.name !== "string" ||
      !entry.param ||
      typeof entry.param.data !== "object" ||
      entry.param.data === null ||
      typeof (entry.param.data as { isContiguous?: unknown }).isContiguous !== "function"
    ) {
      throw new Error(
        `${fn}: params[${i}] must be {name: string, param: {data: Tensor, grad}} or [name, param]`,
      );
    }
    if (seen.has(entry.name)) throw new Error(`${fn}: duplicate parameter name '${entry.name}'`);
    seen.add(entry.name);
    return { name: entry.name, param: entry.param };
  });
}

function checkPatterns(fn: string, what: string, patterns: unknown): readonly string[] {
  if (patterns === undefined) return [];
  if (!Array.isArray(patterns) || patterns.some((p) => typeof p !== "string")) {
    throw new Error(`${fn}: ${what} must be an array of parameter names or globs, got ${String(patterns)}`);
  }
  return patterns as string[];
}

function unknownNameError(fn: string, what: string, pattern: string, params: ReadonlyArray<NamedParam>) {
  return new Error(
    `${fn}: ${what} '${pattern}' matches no parameter; available: ${params.map((p) => p.name).join(", ") || "(none)"}`,
  );
}

/**
 * The parameters to prune, in the order given, as `{name, param}`. Weights of ndim ≥ 2 only: biases and BatchNorm parameters
 * (1-D) are never pruned, even when a pattern names them. An include or exclude pattern that matches no
 * parameter is an error listing the available names, because a typo would otherwise silently prune
 * nothing (or everything).
 */
export function selectWeights(
  fn: string,
  entries: ReadonlyArray<ParamEntry>,
  include?: readonly string[],
  exclude?: readonly string[],
): NamedParam[] {
  const params = normalizeParams(fn, entries);
  const inc = checkPatterns(fn, "include", include);
  const exc = checkPatterns(fn, "exclude", exclude);
  const eligible = (p: NamedParam) => p.param.data.ndim >= 2;
  let chosen: NamedParam[];
  if (include !== undefined) {
    for (const pattern of inc) {
      const hits = params.filter((p) => matchesName(pattern, p.name));
      if (hits.length === 0) throw unknownNameError(fn, "include", pattern, params);
      if (!hits.some(eligible)) {
        throw new Error(
          `${fn}: include '${pattern}' matches only 1-D parameters (${hits.map((p) => p.name).join(", ")}); biases and normalization parameters are never pruned`,
        );
      }
    }
    chosen = params.filter((p) => eligible(p) && inc.some((pattern) => matchesName(pattern, p.name)));
  } else {
    chosen = params.filter((p) => eligible(p) && isDefaultPrunable(p.name));
  }
  for (const pattern of exc) {
    if (!params.some((p) => matchesName(pattern, p.name)))
      throw unknownNameError(fn, "exclude", pattern, params);
  }
  return chosen.filter((p) => !exc.some((pattern) => matchesName(pattern, p.name)));
}
