import { formatCount } from "../progress/format.js";
import { statPercent } from "../report/format-numbers.js";
import type { ExperimentResults, GroupSummary, ProfileInfo, SeedStat } from "../report/results-schema.js";

/*
 * The table `experiment` prints: profiles down, recipes across (there are more profiles than recipes),
 * each recipe with its integer accuracy and top-1 agreement; FP32 accuracy on top; worst gap and spread
 * per weight group at the bottom; the test set's noise under it. Recipes that do not fit the width are
 * continued in a second block below, as wide data frames are printed.
 */

/** Percent (or percentage points) with two decimals, "± std" when there are seeds to have one. */
const formatStat = (s: SeedStat) => statPercent(s);

const GAP = 2;
const NONE = "–";

interface Row {
  readonly label: string;
  /** Per recipe: [accuracy-like cell, agreement cell] (null: the row has no such cell). */
  readonly cells: readonly (readonly [string | null, string | null])[];
  /** A group title line, no cells. */
  readonly title?: boolean;
}

function groupRow(label: string, r: ExperimentResults, key: "int8" | "int4", field: keyof GroupSummary): Row {
  return {
    label,
    cells: r.summary.map((s) => {
      const g = s[key];
      return [g ? formatStat(g[field]) : NONE, null] as const;
    }),
  };
}

function rowsOf(r: ExperimentResults): Row[] {
  const rows: Row[] = [
    { label: "FP32", cells: r.summary.map((s) => [formatStat(s.fpAccuracy), null] as const) },
  ];
  const groups: ["int8" | "int4", string][] = [
    ["int8", "INT8 weights"],
    ["int4", "INT4 weights"],
  ];
  const profileRow = (p: ProfileInfo): Row => ({
    label: `  ${p.name} (${p.weightBits}/${p.activationBits})`,
    cells: r.summary.map((s) => {
      const e = s.profiles[p.name];
      return e ? ([formatStat(e.accuracy), formatStat(e.top1Agreement)] as const) : ([NONE, NONE] as const);
    }),
  });
  for (const [key, title] of groups) {
    const members = r.profiles.filter((p) => p.group === key);
    if (members.length === 0) continue;
    rows.push({ label: title, cells: [], title: true }, ...members.map(profileRow));
  }
  for (const [key, title] of groups) {
    if (!r.profiles.some((p) => p.group === key)) continue;
    const bits = title.slice(0, 4);
    rows.push(
      groupRow(`${bits} worst gap (pts)`, r, key, "worstGap"),
      groupRow(`${bits} spread (pts)`, r, key, "spread"),
    );
  }
  return rows;
}

/** Lines of one block of recipes (indices `from`..`to`−1). */
function block(
  rows: readonly Row[],
  recipes: readonly string[],
  widths: number[][],
  labelWidth: number,
): string[] {
  const pad = " ".repeat(GAP);
  const head1 = recipes.map((name, i) => name.padEnd(widths[i]![0]! + GAP + widths[i]![1]!)).join(pad);
  const head2 = recipes
    .map((_, i) => `${"acc".padStart(widths[i]![0]!)}${pad}${"agree".padStart(widths[i]![1]!)}`)
    .join(pad);
  const out = [
    `${"".padEnd(labelWidth)}${pad}${head1}`.trimEnd(),
    `${"profile (W/A bits)".padEnd(labelWidth)}${pad}${head2}`,
  ];
  for (const row of rows) {
    if (row.title) {
      out.push(row.label);
      continue;
    }
    const cells = row.cells
      .map(([a, b], i) => `${(a ?? "").padStart(widths[i]![0]!)}${pad}${(b ?? "").padStart(widths[i]![1]!)}`)
      .join(pad);
    out.push(`${row.label.padEnd(labelWidth)}${pad}${cells}`.trimEnd());
  }
  return out;
}

/** The printed table, at most `width` columns wide whenever one recipe fits. */
export function formatResultsTable(r: ExperimentResults, width = 120): string {
  const recipes = r.summary.map((s) => s.recipe);
  const rows = rowsOf(r);
  const labelWidth = Math.max(
    ...rows.filter((x) => !x.title).map((x) => x.label.length),
    "profile (W/A bits)".length,
  );
  const widths = recipes.map((name, i) => {
    const a = Math.max("acc".length, ...rows.map((x) => (x.title ? 0 : (x.cells[i]![0] ?? "").length)));
    const b = Math.max("agree".length, ...rows.map((x) => (x.title ? 0 : (x.cells[i]![1] ?? "").length)));
    // A recipe name longer than its two columns widens the agreement column.
    return [a, Math.max(b, name.length - a - GAP)];
  });
  const out: string[] = [];
  let from = 0;
  while (from < recipes.length) {
    let to = from + 1;
    let used = labelWidth + GAP + widths[from]![0]! + GAP + widths[from]![1]!;
    while (to < recipes.length && used + GAP + widths[to]![0]! + GAP + widths[to]![1]! <= width) {
      used += GAP + widths[to]![0]! + GAP + widths[to]![1]!;
      to++;
    }
    const sliced = rows.map((row) => (row.title ? row : { ...row, cells: row.cells.slice(from, to) }));
    if (out.length > 0) out.push("");
    out.push(...block(sliced, recipes.slice(from, to), widths.slice(from, to), labelWidth));
    from = to;
  }
  return out.join("\n");
}

/** The lines above and below the table: what was run, and how much of a difference is noise. */
export function formatResultsReport(r: ExperimentResults, width = 120): string {
  const c = r.config;
  const seeds = c.seeds.length === 1 ? `seed ${c.seeds[0]}` : `seeds ${c.seeds[0]}–${c.seeds.at(-1)}`;
  const n = r.testNoise;
  const head = [
    `${c.arch} on ${r.dataset.name} · ${c.epochs} epoch${c.epochs === 1 ? "" : "s"} · ${seeds} · trained for INT${c.bits} ${c.granularity}`,
    `Accuracy on ${formatCount(r.dataset.testCount)} test samples (%); agree: top-1 agreement with the same checkpoint in FP32 (%).`,
    c.seeds.length === 1
      ? "One seed: no ± (a standard deviation needs two runs; --seeds N gives mean ± sample std)."
      : `Mean ± sample standard deviation over ${c.seeds.length} seeds.`,
  ];
  const foot = [
    `Worst gap: largest FP32 → integer drop over a group's profiles; spread: best − worst profile (points).`,
    `test-set noise: ±${(100 * n.standardError).toFixed(2)} points (1 s.e., n = ${n.testSamples}) at ${(100 * n.accuracy).toFixed(2)} % accuracy`,
  ];
  return [...head, "", formatResultsTable(r, width), "", ...foot].join("\n");
}
