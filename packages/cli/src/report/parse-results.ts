import {
  type DatasetInfo,
  type EpochRecord,
  type ExperimentConfig,
  type ExperimentResults,
  type GroupFigures,
  type GroupSummary,
  type Histogram,
  type ProfileCost,
  type ProfileEvaluation,
  type ProfileInfo,
  RESULTS_SCHEMA,
  type RecipeSummary,
  type RunResult,
  type SeedStat,
  type StepSeries,
  type TrimmedLayer,
} from "./results-schema.js";

/*
 * Checks a parsed results.json against the schema before anything renders it, so that a hand-edited or
 * truncated file fails with the path of the first bad field instead of a broken page or a TypeError.
 */

type Check<T> = (v: unknown, path: string) => T;

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "an object";
  return String(v);
}

function fail(path: string, expected: string, got: unknown): never {
  throw new Error(`parseResults: ${path} must be ${expected}, got ${describe(got)}`);
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "an object", v);
  return v as Record<string, unknown>;
}

const str: Check<string> = (v, path) => (typeof v === "string" ? v : fail(path, "a string", v));
const bool: Check<boolean> = (v, path) => (typeof v === "boolean" ? v : fail(path, "true or false", v));
const num: Check<number> = (v, path) =>
  typeof v === "number" && Number.isFinite(v) ? v : fail(path, "a finite number", v);
const nonNegative: Check<number> = (v, path) => (num(v, path) >= 0 ? (v as number) : fail(path, "≥ 0", v));
const count: Check<number> = (v, path) =>
  Number.isInteger(v) && (v as number) >= 0 ? (v as number) : fail(path, "an integer ≥ 0", v);
const fraction: Check<number> = (v, path) =>
  typeof v === "number" && v >= 0 && v <= 1 ? v : fail(path, "a fraction in [0, 1]", v);

function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, path) => (v === null ? null : check(v, path));
}

function array<T>(check: Check<T>): Check<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) fail(path, "an array", v);
    return v.map((x, i) => check(x, `${path}[${i}]`));
  };
}

function record<T>(check: Check<T>): Check<Record<string, T>> {
  return (v, path) => {
    const o = object(v, path);
    return Object.fromEntries(
      Object.entries(o).map(([k, x]) => [k, check(x, `${path}[${JSON.stringify(k)}]`)]),
    );
  };
}

function oneOf<T extends string>(values: readonly T[]): Check<T> {
  return (v, path) =>
    values.includes(v as T)
      ? (v as T)
      : fail(path, `one of ${values.map((x) => JSON.stringify(x)).join(", ")}`, v);
}

/** Reads the listed fields of an object with their checks (missing fields fail as undefined). */
function fields<T>(v: unknown, path: string, checks: { [K in keyof T]: Check<T[K]> }): T {
  const o = object(v, path);
  const out: Record<string, unknown> = {};
  for (const [key, check] of Object.entries(checks) as [string, Check<unknown>][])
    out[key] = check(o[key], path === "" ? key : `${path}.${key}`);
  return out as T;
}

const seedStat: Check<SeedStat> = (v, path) => {
  const s = fields<SeedStat>(v, path, { mean: num, std: nullable(nonNegative), n: count });
  if (s.n < 1) fail(`${path}.n`, "≥ 1", s.n);
  // One seed has no spread: a 0 there would read as "no noise".
  if ((s.n === 1) !== (s.std === null))
    fail(`${path}.std`, s.n === 1 ? "null for one seed" : "a number", s.std);
  return s;
};

const histogram: Check<Histogram> = (v, path) => {
  const h = fields<Histogram>(v, path, { edges: array(num), counts: array(count) });
  if (h.counts.length === 0 || h.edges.length !== h.counts.length + 1)
    fail(`${path}.edges`, `one more edge than the ${h.counts.length} counts`, h.edges.length);
  for (let i = 1; i < h.edges.length; i++)
    if (!(h.edges[i]! > h.edges[i - 1]!)) fail(`${path}.edges[${i}]`, `> ${h.edges[i - 1]}`, h.edges[i]);
  return h;
};

const config: Check<ExperimentConfig> = (v, path) =>
  fields<ExperimentConfig>(v, path, {
    command: array(str),
    arch: str,
    recipes: array(str),
    epochs: count,
    lr: nonNegative,
    batchSize: count,
    seeds: array(count),
    bits: count,
    granularity: oneOf(["per-tensor", "per-channel"] as const),
    profiles: array(str),
    calibrationSamples: count,
    dataDir: nullable(str),
    out: str,
    grids: nullable(array(str)),
    pow2Thresholds: bool,
    recipeOptions: record((x, p) =>
      x === null || typeof x === "number" || typeof x === "string" || typeof x === "boolean"
        ? x
        : fail(p, "a number, string, boolean or null", x),
    ),
  });

const dataset: Check<DatasetInfo> = (v, path) =>
  fields<DatasetInfo>(v, path, {
    name: str,
    source: oneOf(["bundled-mnist", "idx"] as const),
    files: array((f, p) => fields(f, p, { role: str, path: str, bytes: count, sha256: str })),
    split: (s, p) =>
      fields(s, p, {
        kind: oneOf(["files", "held-out", "bundled"] as const),
        seed: nullable(count),
        testFraction: nullable(fraction),
      }),
    trainCount: count,
    testCount: count,
    validationCount: nullable(count),
    sampleShape: array(count),
    classes: count,
    classCounts: nullable((c, p) => fields(c, p, { train: array(count), test: array(count) })),
    standardization: (s, p) =>
      fields(s, p, {
        mean: num,
        std: nonNegative,
        measuredOn: oneOf(["training images", "constants"] as const),
      }),
  });

const profileInfo: Check<ProfileInfo> = (v, path) =>
  fields<ProfileInfo>(v, path, {
    name: str,
    summary: str,
    weightBits: count,
    activationBits: count,
    group: oneOf(["int8", "int4"] as const),
  });

const evaluation: Check<ProfileEvaluation> = (v, path) =>
  fields<ProfileEvaluation>(v, path, {
    accuracy: fraction,
    top1Agreement: fraction,
    logitCosine: nullable(num),
    layerSqnr: nullable(array((l, p) => fields(l, p, { layer: str, sqnrDb: nullable(num) }))),
    overflows: nullable(count),
    warnings: array(str),
    seconds: nonNegative,
  });

const groupFigures: Check<GroupFigures> = (v, path) =>
  fields<GroupFigures>(v, path, {
    profiles: array(str),
    worstGap: num,
    worstProfile: str,
    spread: nonNegative,
    bestProfile: str,
  });

const epochRecord: Check<EpochRecord> = (v, path) =>
  fields<EpochRecord>(v, path, {
    epoch: count,
    loss: num,
    trainAccuracy: fraction,
    validationAccuracy: nullable(fraction),
    lambda: nullable(fraction),
    trimQuantile: nullable(fraction),
    seconds: nonNegative,
    samplesPerSecond: nonNegative,
  });

const stepSeries: Check<StepSeries> = (v, path) => {
  const s = fields<StepSeries>(v, path, {
    every: count,
    totalSteps: count,
    loss: array(num),
    lambda: nullable(array(fraction)),
    trimQuantile: nullable(array(fraction)),
  });
  if (s.every < 1) fail(`${path}.every`, "≥ 1", s.every);
  for (const key of ["lambda", "trimQuantile"] as const)
    if (s[key] !== null && s[key]!.length !== s.loss.length)
      fail(`${path}.${key}`, `as long as loss (${s.loss.length})`, `${s[key]!.length} values`);
  return s;
};

const trimmedLayer: Check<TrimmedLayer> = (v, path) => {
  const t = fields<TrimmedLayer>(v, path, {
    layer: str,
    gridStep: num,
    qmax: count,
    threshold: nullable(nonNegative),
    trimmedFraction: fraction,
    before: histogram,
    after: histogram,
  });
  if (!(t.gridStep > 0)) fail(`${path}.gridStep`, "> 0", t.gridStep);
  return t;
};

const groupSummary: Check<GroupSummary> = (v, path) =>
  fields<GroupSummary>(v, path, { worstGap: seedStat, spread: seedStat });

const cost: Check<ProfileCost> = (v, path) =>
  fields<ProfileCost>(v, path, {
    macs: (m, p) => fields(m, p, { int8: nonNegative, int4: nonNegative, float: nonNegative }),
    weightBytes: nonNegative,
    activationBytes: nonNegative,
    latencySeconds: nonNegative,
    energyJoules: nonNegative,
    fallbackOps: count,
    partitions: count,
  });

/**
 * Validates `json` (the parsed contents of a results.json) and returns it typed. Throws an Error naming
 * the first field that does not fit, e.g. "parseResults: runs[2].profiles["w4a8"].accuracy must be a
 * fraction in [0, 1], got 97.1".
 */
export function parseResults(json: unknown): ExperimentResults {
  const top = object(json, "results");
  if (top.schema !== RESULTS_SCHEMA) fail("schema", JSON.stringify(RESULTS_SCHEMA), top.schema);
  const cfg = config(top.config, "config");
  const profileNames = cfg.profiles;
  const sameProfiles = <T>(check: Check<Record<string, T>>): Check<Record<string, T>> => {
    return (v, path) => {
      const r = check(v, path);
      const keys = Object.keys(r);
      for (const name of profileNames)
        if (!keys.includes(name)) fail(`${path}`, `an entry for profile '${name}'`, v);
      for (const key of keys)
        if (!profileNames.includes(key))
          fail(`${path}[${JSON.stringify(key)}]`, "a profile of config.profiles", key);
      return r;
    };
  };
  const results = fields<ExperimentResults>(json, "", {
    schema: () => RESULTS_SCHEMA,
    date: str,
    software: (s, p) =>
      fields(s, p, {
        packageVersion: str,
        gitCommit: nullable(str),
        gitDirty: nullable(bool),
        node: str,
        platform: str,
        cpu: nullable(str),
      }),
    config: () => cfg,
    dataset,
    profiles: array(profileInfo),
    runs: array((r, p) =>
      fields<RunResult>(r, p, {
        recipe: str,
        seed: count,
        checkpoint: nullable(str),
        fpAccuracy: fraction,
        profiles: sameProfiles(record(evaluation)),
        int8: nullable(groupFigures),
        int4: nullable(groupFigures),
        curves: array(epochRecord),
        steps: nullable(stepSeries),
        trimmedLayers: nullable(array(trimmedLayer)),
        timings: (t, q) => fields(t, q, { trainSeconds: nonNegative, evalSeconds: nonNegative }),
      }),
    ),
    summary: array((s, p) =>
      fields<RecipeSummary>(s, p, {
        recipe: str,
        fpAccuracy: seedStat,
        profiles: sameProfiles(
          record((e, q) => fields(e, q, { accuracy: seedStat, top1Agreement: seedStat })),
        ),
        int8: nullable(groupSummary),
        int4: nullable(groupSummary),
      }),
    ),
    testNoise: (t, p) => fields(t, p, { testSamples: count, accuracy: fraction, standardError: nonNegative }),
    costModel: nullable(sameProfiles(record(cost))),
    timings: (t, p) =>
      fields(t, p, {
        startedAt: str,
        finishedAt: str,
        totalSeconds: nonNegative,
        trainSeconds: nonNegative,
        evalSeconds: nonNegative,
      }),
    warnings: array(str),
  });
  const listed = results.profiles.map((p) => p.name);
  if (listed.join("\n") !== profileNames.join("\n"))
    fail(
      "profiles",
      `the profiles of config.profiles in order (${profileNames.join(", ")})`,
      listed.join(", "),
    );
  return results;
}
