import { type GridSpec, gridSpec } from "@quant-trim/quant";
import { REQUANT_MODES, SHIFT_ROUNDINGS } from "../requantize.js";
import {
  type BackendProfile,
  CALIBRATION_METHODS,
  type CalibrationSpec,
  type CostConstants,
  FUSIBLE_ACTIVATIONS,
  NPU_OPS,
  type OpConstraints,
} from "./schema.js";

/*
 * Profiles are data, so they are checked like data: every field is validated once, unknown fields are
 * rejected (a typo must not silently fall back to a default), and the result is deeply frozen. A profile
 * read from JSON goes through the same check, with its grids rebuilt by quant's `gridSpec`.
 */

const PROFILE_FIELDS = [
  "name",
  "summary",
  "sources",
  "weight",
  "activation",
  "requant",
  "accumulator",
  "pairSaturation",
  "bias",
  "fusedActivations",
  "ops",
  "fallback",
  "partitioning",
  "calibration",
  "activationScaling",
  "floatOutput",
  "cost",
] as const;

const CONSTRAINT_FIELDS = new Set([
  "weight",
  "stride",
  "maxKernel",
  "maxDilatedKernelHeight",
  "maxDilatedKernelArea",
  "maxChannels",
]);

const COST_FIELDS = [
  "npuMacsPerSecond",
  "cpuMacsPerSecond",
  "bytesPerSecond",
  "opOverheadSeconds",
  "partitionSwitchSeconds",
  "npuPicojoulesPerMac",
  "cpuPicojoulesPerMac",
  "picojoulesPerByte",
] as const;

type Raw = Record<string, unknown>;

function fail(fn: string, field: string, why: string): never {
  throw new Error(`${fn}: ${field} ${why}`);
}

function isObject(v: unknown): v is Raw {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function onlyFields(fn: string, where: string, v: Raw, allowed: ReadonlySet<string>): void {
  for (const k of Object.keys(v)) {
    if (!allowed.has(k)) {
      fail(fn, `${where}.${k}`, `is not a known field; known fields: ${[...allowed].join(", ")}`);
    }
  }
}

function positiveInteger(fn: string, field: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    fail(fn, field, `must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  }
  return v;
}

function positiveNumber(fn: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || !(v > 0)) {
    fail(fn, field, `must be a finite number > 0, got ${JSON.stringify(v)}`);
  }
  return v;
}

function nonNegativeNumber(fn: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    fail(fn, field, `must be a finite number ≥ 0, got ${JSON.stringify(v)}`);
  }
  return v;
}

function choice<T extends string>(fn: string, field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    fail(fn, field, `must be one of ${allowed.map((a) => `'${a}'`).join(", ")}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** A grid from a GridSpec or its JSON form; weights' per-channel grids must use axis 0. */
function grid(fn: string, field: string, v: unknown, kind: "weight" | "activation"): GridSpec {
  if (!isObject(v)) fail(fn, field, "must be a GridSpec object");
  let spec: GridSpec;
  try {
    spec = gridSpec({ ...(v as Partial<GridSpec>) });
  } catch (e) {
    fail(fn, field, `is not a valid grid: ${(e as Error).message}`);
  }
  // Activations live in Int8Array/Uint8Array containers; INT4 and INT8 weights are what the kernels read.
  if (spec.bits > 8)
    fail(fn, `${field}.bits`, `must be at most 8 (the kernels' containers), got ${spec.bits}`);
  if (kind === "activation" && spec.granularity !== "per-tensor") {
    fail(fn, `${field}.granularity`, "must be 'per-tensor' (activations have one scale and zero point)");
  }
  if (kind === "weight" && spec.granularity === "per-channel" && spec.axis !== 0) {
    fail(fn, `${field}.axis`, `must be 0 (the output channel) for per-channel weights, got ${spec.axis}`);
  }
  if (kind === "weight" && spec.bits === 4 && !spec.signed) {
    fail(fn, `${field}.signed`, "must be true for 4-bit weights (packed as signed int4)");
  }
  return spec;
}

function constraints(fn: string, field: string, v: unknown): OpConstraints {
  if (!isObject(v)) fail(fn, field, "must be an object of constraints ({} for none)");
  onlyFields(fn, field, v, CONSTRAINT_FIELDS);
  const out: Record<string, unknown> = {};
  if (v.weight !== undefined) out.weight = grid(fn, `${field}.weight`, v.weight, "weight");
  for (const pairField of ["stride", "maxKernel"] as const) {
    const p = v[pairField];
    if (p === undefined) continue;
    if (!Array.isArray(p) || p.length !== 2) fail(fn, `${field}.${pairField}`, "must be a pair of integers");
    const a = positiveInteger(fn, `${field}.${pairField}[0]`, p[0], 1, 65536);
    const b = positiveInteger(fn, `${field}.${pairField}[1]`, p[1], 1, 65536);
    if (pairField === "stride" && a > b) fail(fn, `${field}.stride`, `is an empty range [${a}, ${b}]`);
    out[pairField] = Object.freeze([a, b]);
  }
  for (const f of ["maxDilatedKernelHeight", "maxDilatedKernelArea", "maxChannels"] as const) {
    if (v[f] !== undefined) out[f] = positiveInteger(fn, `${field}.${f}`, v[f], 1, 2 ** 31 - 1);
  }
  return Object.freeze(out) as OpConstraints;
}

function calibration(fn: string, v: unknown): CalibrationSpec {
  if (!isObject(v)) fail(fn, "calibration", "must be an object with a method");
  const method = choice(fn, "calibration.method", v.method, CALIBRATION_METHODS);
  if (method === "percentile") {
    onlyFields(fn, "calibration", v, new Set(["method", "percentile"]));
    const p = v.percentile;
    if (typeof p !== "number" || !(p > 50 && p <= 100)) {
      fail(fn, "calibration.percentile", `must be in (50, 100], got ${JSON.stringify(p)}`);
    }
    return Object.freeze({ method, percentile: p });
  }
  if (method === "entropy") {
    onlyFields(fn, "calibration", v, new Set(["method", "bins", "quantizedBins"]));
    const bins = positiveInteger(fn, "calibration.bins", v.bins, 16, 1 << 16);
    const quantizedBins = positiveInteger(fn, "calibration.quantizedBins", v.quantizedBins, 2, bins);
    return Object.freeze({ method, bins, quantizedBins });
  }
  onlyFields(fn, "calibration", v, new Set(["method"]));
  return Object.freeze({ method });
}

function cost(fn: string, v: unknown): CostConstants {
  if (!isObject(v)) fail(fn, "cost", "must be an object of cost-model constants");
  onlyFields(fn, "cost", v, new Set(COST_FIELDS));
  const byPrecision = (field: string, x: unknown) => {
    if (!isObject(x)) fail(fn, `cost.${field}`, "must be { int8, int4 }");
    onlyFields(fn, `cost.${field}`, x, new Set(["int8", "int4"]));
    return Object.freeze({
      int8: positiveNumber(fn, `cost.${field}.int8`, x.int8),
      int4: positiveNumber(fn, `cost.${field}.int4`, x.int4),
    });
  };
  return Object.freeze({
    npuMacsPerSecond: byPrecision("npuMacsPerSecond", v.npuMacsPerSecond),
    cpuMacsPerSecond: positiveNumber(fn, "cost.cpuMacsPerSecond", v.cpuMacsPerSecond),
    bytesPerSecond: positiveNumber(fn, "cost.bytesPerSecond", v.bytesPerSecond),
    opOverheadSeconds: nonNegativeNumber(fn, "cost.opOverheadSeconds", v.opOverheadSeconds),
    partitionSwitchSeconds: nonNegativeNumber(fn, "cost.partitionSwitchSeconds", v.partitionSwitchSeconds),
    npuPicojoulesPerMac: byPrecision("npuPicojoulesPerMac", v.npuPicojoulesPerMac),
    cpuPicojoulesPerMac: nonNegativeNumber(fn, "cost.cpuPicojoulesPerMac", v.cpuPicojoulesPerMac),
    picojoulesPerByte: nonNegativeNumber(fn, "cost.picojoulesPerByte", v.picojoulesPerByte),
  });
}

/**
 * Validate a profile (an object literal, or parsed JSON) and return it deeply frozen. Throws an Error
 * naming the function and the field for anything unknown, missing or inconsistent.
 */
export function defineProfile(profile: BackendProfile | unknown, fn = "defineProfile"): BackendProfile {
  if (!isObject(profile)) fail(fn, "profile", "must be an object");
  const p = profile;
  onlyFields(fn, "profile", p, new Set(PROFILE_FIELDS));
  for (const f of PROFILE_FIELDS) if (p[f] === undefined) fail(fn, `profile.${f}`, "is required");
  const name = p.name;
  if (typeof name !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    fail(fn, "name", `must be lowercase letters, digits and dashes, got ${JSON.stringify(name)}`);
  }
  const at = `${fn} ('${name}')`;
  if (typeof p.summary !== "string" || p.summary.length === 0)
    fail(at, "summary", "must be a non-empty string");
  if (!Array.isArray(p.sources) || p.sources.length === 0 || p.sources.some((s) => typeof s !== "string")) {
    fail(at, "sources", "must be a non-empty array of strings (the public sources of the behaviour)");
  }
  const weight = grid(at, "weight", p.weight, "weight");
  const activation = grid(at, "activation", p.activation, "activation");

  if (!isObject(p.requant)) fail(at, "requant", "must be { mode, shiftRounding? }");
  onlyFields(at, "requant", p.requant, new Set(["mode", "shiftRounding"]));
  const mode = choice(at, "requant.mode", p.requant.mode, REQUANT_MODES);
  const requant: Raw = { mode };
  if (p.requant.shiftRounding !== undefined) {
    if (mode !== "power-of-two") fail(at, "requant.shiftRounding", "applies to mode 'power-of-two' only");
    requant.shiftRounding = choice(at, "requant.shiftRounding", p.requant.shiftRounding, SHIFT_ROUNDINGS);
  }

  if (!isObject(p.accumulator)) fail(at, "accumulator", "must be { bits, overflow }");
  onlyFields(at, "accumulator", p.accumulator, new Set(["bits", "overflow"]));
  const accumulator = Object.freeze({
    bits: positiveInteger(at, "accumulator.bits", p.accumulator.bits, 16, 32),
    overflow: choice(at, "accumulator.overflow", p.accumulator.overflow, ["wrap", "saturate"] as const),
  });
  if (typeof p.pairSaturation !== "boolean") fail(at, "pairSaturation", "must be a boolean");
  if (typeof p.floatOutput !== "boolean") fail(at, "floatOutput", "must be a boolean");
  if (!isObject(p.bias)) fail(at, "bias", "must be { bits }");
  onlyFields(at, "bias", p.bias, new Set(["bits"]));
  const bias = Object.freeze({ bits: positiveInteger(at, "bias.bits", p.bias.bits, 8, 64) });

  if (!Array.isArray(p.fusedActivations)) fail(at, "fusedActivations", "must be an array");
  const fused = p.fusedActivations.map((a, i) =>
    choice(at, `fusedActivations[${i}]`, a, FUSIBLE_ACTIVATIONS),
  );

  if (!isObject(p.ops)) fail(at, "ops", "must be a record of supported ops");
  const ops: Record<string, OpConstraints> = {};
  for (const [op, c] of Object.entries(p.ops)) {
    choice(at, `ops key '${op}'`, op, NPU_OPS);
    ops[op] = constraints(at, `ops.${op}`, c);
  }

  const profileOut = {
    name,
    summary: p.summary,
    sources: Object.freeze([...(p.sources as string[])]),
    weight,
    activation,
    requant: Object.freeze(requant),
    accumulator,
    pairSaturation: p.pairSaturation,
    bias,
    fusedActivations: Object.freeze(fused),
    ops: Object.freeze(ops),
    fallback: choice(at, "fallback", p.fallback, ["cpu-float", "error"] as const),
    partitioning: choice(at, "partitioning", p.partitioning, ["any", "single-cut"] as const),
    calibration: calibration(at, p.calibration),
    activationScaling: choice(at, "activationScaling", p.activationScaling, ["static", "dynamic"] as const),
    floatOutput: p.floatOutput,
    cost: cost(at, p.cost),
  } as BackendProfile;

  // Consistency between fields: the arithmetic must be able to run on the grids.
  const weightGrids = [weight, ...Object.values(ops).flatMap((c) => (c.weight ? [c.weight] : []))];
  if (mode === "power-of-two") {
    for (const g of [activation, ...weightGrids]) {
      if (g.scaleConstraint !== "power-of-two") {
        fail(
          at,
          "requant.mode",
          "'power-of-two' needs every weight and activation grid to use power-of-two scales",
        );
      }
    }
  }
  if (p.pairSaturation) {
    if (activation.signed || activation.bits !== 8 || weightGrids.some((g) => !g.signed || g.bits !== 8)) {
      fail(
        at,
        "pairSaturation",
        "models u8×s8 products: it needs unsigned 8-bit activations and signed 8-bit weights",
      );
    }
  }
  return Object.freeze(profileOut);
}

/** A profile from its JSON text or parsed JSON (e.g. a user's own backend), validated and frozen. */
export function parseProfile(json: string | unknown): BackendProfile {
  let v: unknown = json;
  if (typeof json === "string") {
    try {
      v = JSON.parse(json);
    } catch (e) {
      throw new Error(`parseProfile: not valid JSON: ${(e as Error).message}`);
    }
  }
  return defineProfile(v, "parseProfile");
}
