/**
 * Tables of the claim runs (JSON lines written by claim-run.ts / claim-tune.ts): per variant, FP accuracy,
 * the INT4 and INT8 worst-case FP→integer gap and spread across profiles, mean ± std over seeds (sample
 * std; "—" with one seed), the FP cost against `fp`, and the evaluation set's own noise (the binomial
 * standard error of an accuracy near the measured level on that many digits).
 *
 *   npx tsx --conditions=source experiments/claim-summary.ts runs/claim/claim-cnn-bn.jsonl [...more]
 */
import { meanStd } from "./claim-lib.js";
import { type ClaimRecord, readRecords } from "./claim-run.js";

export interface VariantSummary {
  arch: string;
  variant: string;
  seeds: number;
  fp: { mean: number; std: number | null };
  int4Gap: { mean: number; std: number | null };
  int4Spread: { mean: number; std: number | null };
  int8Gap: { mean: number; std: number | null };
  int8Spread: { mean: number; std: number | null };
  perProfile: Record<string, { mean: number; std: number | null }>;
}

type Stat = { mean: number; std: number | null };

/** Mean ± std of a figure every record has; NaN (printed "n/a") when some record did not measure it. */
function statOf(rs: ClaimRecord[], f: (r: ClaimRecord) => number | undefined): Stat {
  const xs = rs.map(f);
  return xs.every((x) => x !== undefined) ? meanStd(xs as number[]) : { mean: Number.NaN, std: null };
}

export function summarize(records: ClaimRecord[]): VariantSummary[] {
  const groups = new Map<string, ClaimRecord[]>();
  for (const r of records) {
    const k = `${r.arch}|${r.variant}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    // Runs of one variant may have measured different profile lists (an early run on all twelve, later
    // ones on the INT4 profiles): gaps and spreads are taken over the profiles every run measured.
    const common = rs[0]!.profiles
      .map((p) => p.profile)
      .filter((name) => rs.every((r) => r.profiles.some((q) => q.profile === name)));
    const over = (r: ClaimRecord, bits: number) => {
      const ps = r.profiles.filter((p) => common.includes(p.profile) && p.weightBits === bits);
      if (ps.length === 0) return undefined;
      const accs = ps.map((p) => p.accuracy);
      const min = Math.min(...accs);
      return { worstGap: r.fpAccuracy - min, spread: Math.max(...accs) - min };
    };
    const perProfile: VariantSummary["perProfile"] = {};
    for (const name of common)
      perProfile[name] = statOf(rs, (r) => r.profiles.find((q) => q.profile === name)?.accuracy);
    return {
      arch: rs[0]!.arch,
      variant: rs[0]!.variant,
      seeds: rs.length,
      fp: meanStd(rs.map((r) => r.fpAccuracy)),
      int4Gap: statOf(rs, (r) => over(r, 4)?.worstGap),
      int4Spread: statOf(rs, (r) => over(r, 4)?.spread),
      int8Gap: statOf(rs, (r) => over(r, 8)?.worstGap),
      int8Spread: statOf(rs, (r) => over(r, 8)?.spread),
      perProfile,
    };
  });
}

const pm = (s: Stat) =>
  Number.isNaN(s.mean)
    ? "n/a"
    : `${(100 * s.mean).toFixed(2)} ± ${s.std === null ? "—" : (100 * s.std).toFixed(2)}`;

/** A markdown table of the summaries (accuracy points). */
export function formatSummary(summaries: VariantSummary[], evalCount: number): string {
  const lines = [
    "| model | recipe | seeds | FP acc % | FP cost vs fp (pts) | INT4 worst gap (pts) | INT4 spread (pts) | INT8 worst gap (pts) | INT8 spread (pts) |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const s of summaries) {
    const base = summaries.find((b) => b.arch === s.arch && b.variant === "fp");
    const cost = base ? (100 * (base.fp.mean - s.fp.mean)).toFixed(2) : "n/a";
    lines.push(
      `| ${s.arch} | ${s.variant} | ${s.seeds} | ${pm(s.fp)} | ${cost} | ${pm(s.int4Gap)} | ${pm(s.int4Spread)} | ${pm(s.int8Gap)} | ${pm(s.int8Spread)} |`,
    );
  }
  const p = summaries.length > 0 ? summaries[0]!.fp.mean : 0.98;
  const se = Math.sqrt((p * (1 - p)) / evalCount);
  lines.push(
    "",
    `Noise of one accuracy on ${evalCount} digits (binomial standard error at ${(100 * p).toFixed(1)} %): ${(100 * se).toFixed(2)} pts.`,
  );
  return lines.join("\n");
}

/** Per-profile accuracy (mean ± std over seeds) as a markdown table. */
export function formatPerProfile(summaries: VariantSummary[]): string {
  const profiles = [...new Set(summaries.flatMap((s) => Object.keys(s.perProfile)))];
  const lines = [
    `| model | recipe | ${profiles.join(" | ")} |`,
    `|---|---|${profiles.map(() => "---").join("|")}|`,
  ];
  for (const s of summaries)
    lines.push(
      `| ${s.arch} | ${s.variant} | ${profiles.map((p) => (s.perProfile[p] ? pm(s.perProfile[p]) : "—")).join(" | ")} |`,
    );
  return lines.join("\n");
}

/**
 * Paired differences (variant − reference, per seed, over the seeds both have) of the INT4 worst gap and
 * spread over the INT4 profiles both measured: the recipes share each seed's initial weights and batch
 * order, so the per-seed difference carries less seed noise than two separate means.
 */
export function formatPaired(records: ClaimRecord[], references: readonly string[]): string {
  const int4 = (r: ClaimRecord, names: string[]) => {
    const accs = r.profiles
      .filter((p) => p.weightBits === 4 && names.includes(p.profile))
      .map((p) => p.accuracy);
    const min = Math.min(...accs);
    return { gap: r.fpAccuracy - min, spread: Math.max(...accs) - min };
  };
  const lines = [
    "| model | recipe − reference | seeds | Δ INT4 worst gap (pts) | Δ INT4 spread (pts) | Δ FP acc (pts) |",
    "|---|---|---|---|---|---|",
  ];
  const keys = [...new Set(records.map((r) => `${r.arch}|${r.variant}`))];
  for (const ref of references) {
    for (const key of keys) {
      const [arch, variant] = key.split("|") as [string, string];
      if (references.includes(variant)) continue;
      const pairs = records
        .filter((r) => r.arch === arch && r.variant === variant)
        .flatMap((r) => {
          const b = records.find((q) => q.arch === arch && q.variant === ref && q.seed === r.seed);
          return b ? [[r, b] as const] : [];
        });
      if (pairs.length === 0) continue;
      const d = pairs.map(([r, b]) => {
        const names = r.profiles.map((p) => p.profile).filter((n) => b.profiles.some((q) => q.profile === n));
        const x = int4(r, names);
        const y = int4(b, names);
        return { gap: x.gap - y.gap, spread: x.spread - y.spread, fp: r.fpAccuracy - b.fpAccuracy };
      });
      lines.push(
        `| ${arch} | ${variant} − ${ref} | ${pairs.length} | ${pm(meanStd(d.map((x) => x.gap)))} | ${pm(meanStd(d.map((x) => x.spread)))} | ${pm(meanStd(d.map((x) => x.fp)))} |`,
      );
    }
  }
  return lines.join("\n");
}

if (process.argv[1]?.endsWith("claim-summary.ts")) {
  const records = process.argv.slice(2).flatMap((p) => readRecords(p));
  if (records.length === 0) throw new Error("claim-summary: no records in the files given");
  const summaries = summarize(records);
  console.log(formatSummary(summaries, records[0]!.evalCount));
  console.log();
  console.log(formatPerProfile(summaries));
  console.log();
  console.log(formatPaired(records, ["fp", "qat"]));
}
