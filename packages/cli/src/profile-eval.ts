import type { Module } from "@quant-trim/autograd";
import {
  compareWithFloat,
  compile,
  estimateCost,
  floatLogits,
  getProfile,
  profileNames,
} from "@quant-trim/npu-sim";
import { profileSpread, worstGap } from "@quant-trim/recipes";
import type { Tensor } from "@quant-trim/tensor";
import { UsageError } from "./args.js";

/** What `eval --profiles` reports for one backend. */
export interface ProfileResult {
  profile: string;
  accuracy: number;
  top1Agreement: number;
  logitCosine: number;
  logitKl: number;
  ece: number;
  worstLayer: { name: string; sqnrDb: number } | null;
  overflow: { accumulator: number; int16Pairs: number };
  /** Cost-model estimates per inference (a first-order model: see docs/npu-sim.md). */
  cost: { latencySeconds: number; energyJoules: number; weightBytes: number; macs: Record<string, number> };
  warnings: string[];
  compileSeconds: number;
}

export interface ProfilesEvaluation {
  fpAccuracy: number;
  profiles: ProfileResult[];
  worstGap: { gap: number; profile: string };
  spread: { spread: number; best: string; worst: string };
}

/** `all` or a comma-separated list of profile names; an unknown name is a usage error listing the valid ones. */
export function parseProfileList(spec: string): string[] {
  if (spec === "all") return [...profileNames];
  const names = spec.split(",").map((s) => s.trim());
  for (const n of names) {
    if (!profileNames.includes(n)) {
      throw new UsageError(`unknown profile '${n}'; valid profiles: all, ${profileNames.join(", ")}`);
    }
  }
  if (new Set(names).size !== names.length) throw new UsageError(`--profiles lists a profile twice: ${spec}`);
  return names;
}

/**
 * Compile `model` for each profile (calibrating on `calibration`, as the vendor toolchain would) and
 * compare its integer program with the float model on the test inputs.
 */
export function evaluateOnProfiles(
  model: Module,
  names: readonly string[],
  calibration: Tensor,
  test: Tensor,
  labels: ArrayLike<number>,
): ProfilesEvaluation {
  const fpLogits = floatLogits(model, test);
  const results: ProfileResult[] = [];
  let fpAccuracy = 0;
  for (const name of names) {
    const t0 = performance.now();
    const program = compile(model, getProfile(name), calibration);
    const compileSeconds = (performance.now() - t0) / 1000;
    const c = compareWithFloat(model, program, test, { labels, fpLogits, sqnrSamples: 64 });
    const cost = estimateCost(program);
    fpAccuracy = c.fpAccuracy!;
    results.push({
      profile: name,
      accuracy: c.accuracy!,
      top1Agreement: c.top1Agreement,
      logitCosine: c.logitCosine,
      logitKl: c.logitKl,
      ece: c.ece!,
      worstLayer: c.worstLayer ? { name: c.worstLayer.name, sqnrDb: c.worstLayer.sqnrDb } : null,
      overflow: { accumulator: c.overflow.total.accumulator, int16Pairs: c.overflow.total.int16Pairs },
      cost: {
        latencySeconds: cost.latencySeconds,
        energyJoules: cost.energyJoules,
        weightBytes: cost.weightBytes,
        macs: { ...cost.macs },
      },
      warnings: [...c.warnings],
      compileSeconds,
    });
  }
  const accuracies = Object.fromEntries(results.map((r) => [r.profile, r.accuracy]));
  return {
    fpAccuracy,
    profiles: results,
    worstGap: worstGap(fpAccuracy, accuracies),
    spread: profileSpread(accuracies),
  };
}

const pct = (v: number) => `${(100 * v).toFixed(2)} %`;

function engineering(v: number, unit: string): string {
  const scales: [number, string][] = [
    [1, ""],
    [1e-3, "m"],
    [1e-6, "µ"],
    [1e-9, "n"],
  ];
  for (const [s, p] of scales) if (Math.abs(v) >= s) return `${(v / s).toPrecision(3)} ${p}${unit}`;
  return `${(v / 1e-12).toPrecision(3)} p${unit}`;
}

/** The human-readable table of `evaluateOnProfiles`. */
export function formatProfilesEvaluation(e: ProfilesEvaluation): string {
  const header = [
    "profile",
    "int acc",
    "top-1 agr.",
    "cosine",
    "worst layer SQNR",
    "latency*",
    "energy*",
    "weights",
  ];
  const rows = e.profiles.map((r) => [
    r.profile,
    pct(r.accuracy),
    pct(r.top1Agreement),
    r.logitCosine.toFixed(4),
    r.worstLayer ? `${r.worstLayer.name}: ${r.worstLayer.sqnrDb.toFixed(1)} dB` : "-",
    engineering(r.cost.latencySeconds, "s"),
    engineering(r.cost.energyJoules, "J"),
    `${(r.cost.weightBytes / 1024).toFixed(1)} KiB`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `  ${r.map((x, c) => x.padEnd(widths[c]!)).join("  ")}`.trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const r of e.profiles) {
    if (r.overflow.accumulator + r.overflow.int16Pairs > 0) {
      out.push(
        `  ${r.profile}: ${r.overflow.accumulator} accumulator overflows, ${r.overflow.int16Pairs} saturated int16 pairs`,
      );
    }
    for (const w of r.warnings) out.push(`  ${r.profile}: ${w}`);
  }
  out.push(
    `  worst FP→integer gap ${(e.worstGap.gap * 100).toFixed(2)} pts (${e.worstGap.profile}); spread ${(e.spread.spread * 100).toFixed(2)} pts (${e.spread.best} … ${e.spread.worst})`,
  );
  out.push("  * cost-model estimates per inference, not measurements (docs/npu-sim.md)");
  return out.join("\n");
}
