import fc from "fast-check";
import {
  type ExperimentResults,
  formatResultsReport,
  formatResultsTable,
  type RecipeSummary,
  type SeedStat,
} from "quant-trim/internal";
import { describe, expect, it } from "vitest";
import { reportFixture } from "./report-fixture.js";

/** Synthetic results: 3 recipes × 3 seeds, 10 INT8 and 2 INT4 profiles (built once: it is not cheap). */
const fixture = reportFixture();

/** The fixture with its summary replaced. */
function withSummary(summary: RecipeSummary[], seeds = [0, 1, 2]): ExperimentResults {
  const r = fixture;
  return { ...r, summary, config: { ...r.config, recipes: summary.map((s) => s.recipe), seeds } };
}

/** Every SeedStat of a summary with one seed: std null, n 1. */
function oneSeed(summary: readonly RecipeSummary[]): RecipeSummary[] {
  const one = (s: SeedStat): SeedStat => ({ mean: s.mean, std: null, n: 1 });
  return summary.map((s) => ({
    recipe: s.recipe,
    fpAccuracy: one(s.fpAccuracy),
    profiles: Object.fromEntries(
      Object.entries(s.profiles).map(([k, v]) => [
        k,
        { accuracy: one(v.accuracy), top1Agreement: one(v.top1Agreement) },
      ]),
    ),
    int8: s.int8 && { worstGap: one(s.int8.worstGap), spread: one(s.int8.spread) },
    int4: s.int4 && { worstGap: one(s.int4.worstGap), spread: one(s.int4.spread) },
  }));
}

/** "97.85 ± 0.12" written out independently of the code under test. */
const cell = (s: SeedStat) =>
  s.std === null ? (100 * s.mean).toFixed(2) : `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`;

/** The cells of a row (split on runs of two or more spaces), without its label. */
function cellsOf(table: string, label: string): string[] {
  const line = table.split("\n").find((l) => l.startsWith(label));
  if (line === undefined) throw new Error(`no row '${label}' in\n${table}`);
  return line.slice(label.length).trim().split(/ {2,}/);
}

describe("the experiment table", () => {
  it("has profiles down, grouped by weight bits, and each recipe's accuracy and agreement across", () => {
    const table = formatResultsTable(fixture);
    const lines = table.split("\n");
    expect(lines[0]!.trim().split(/\s+/)).toEqual(fixture.summary.map((s) => s.recipe));
    expect(lines[1]!.trim().split(/\s+/)).toEqual([
      "profile",
      "(W/A",
      "bits)",
      "acc",
      "agree",
      "acc",
      "agree",
      "acc",
      "agree",
    ]);
    expect(cellsOf(table, "FP32")).toEqual(fixture.summary.map((s) => cell(s.fpAccuracy)));
    // Profiles in config order, INT8 ones under their title, then the INT4 ones under theirs.
    const int8 = lines.indexOf("INT8 weights");
    const int4 = lines.indexOf("INT4 weights");
    expect(int8).toBeGreaterThan(0);
    expect(int4).toBeGreaterThan(int8);
    const profileRows = lines.filter((l) => /^ {2}\S+ \(\d\/\d\)/.test(l)).map((l) => l.trim().split(" ")[0]);
    expect(profileRows).toEqual(fixture.profiles.map((p) => p.name));
    for (const p of fixture.profiles) {
      const row = lines.findIndex((l) => l.startsWith(`  ${p.name} (${p.weightBits}/${p.activationBits})`));
      expect(row > int4, p.name).toBe(p.group === "int4");
      expect(cellsOf(table, `  ${p.name} (`).slice(1)).toEqual(
        fixture.summary.flatMap((s) => [
          cell(s.profiles[p.name]!.accuracy),
          cell(s.profiles[p.name]!.top1Agreement),
        ]),
      );
    }
    for (const [label, key, field] of [
      ["INT8 worst gap (pts)", "int8", "worstGap"],
      ["INT8 spread (pts)", "int8", "spread"],
      ["INT4 worst gap (pts)", "int4", "worstGap"],
      ["INT4 spread (pts)", "int4", "spread"],
    ] as const)
      expect(cellsOf(table, label)).toEqual(fixture.summary.map((s) => cell(s[key]![field])));
  });

  it("shows mean ± std with seeds, and no ± at all for one seed (a std of one run does not exist)", () => {
    expect(formatResultsTable(fixture)).toContain("±");
    const single = withSummary(oneSeed(fixture.summary), [0]);
    expect(formatResultsTable(single)).not.toContain("±");
    const text = formatResultsReport(single);
    expect(text).toContain("One seed");
    // No "mean ± std" anywhere; the test set's noise (±s.e.) exists for one run too.
    expect(text).not.toMatch(/\d ± \d/);
    expect(text).toMatch(/^test-set noise: ±\d/m);
    expect(formatResultsReport(fixture)).toContain("Mean ± sample standard deviation over 3 seeds.");
  });

  it("leaves out a weight group nobody evaluated, and marks a recipe without a group's figures with –", () => {
    const noInt4 = {
      ...fixture,
      profiles: fixture.profiles.filter((p) => p.group === "int8"),
      summary: fixture.summary.map((s) => ({ ...s, int4: null })),
    };
    const table = formatResultsTable(noInt4);
    expect(table).not.toContain("INT4");
    const partly = withSummary(fixture.summary.map((s, i) => (i === 1 ? { ...s, int4: null } : s)));
    expect(cellsOf(formatResultsTable(partly), "INT4 spread (pts)")[1]).toBe("–");
  });

  it("prints the test set's binomial noise under the table", () => {
    const n = fixture.testNoise;
    const se = Math.sqrt((n.accuracy * (1 - n.accuracy)) / n.testSamples);
    expect(formatResultsReport(fixture)).toContain(
      `test-set noise: ±${(100 * se).toFixed(2)} points (1 s.e., n = ${n.testSamples})`,
    );
  });

  it("stays within the width, continuing recipes that do not fit in a second block with every row", () => {
    const five = ["fp", "qat", "pfq", "rp", "quant-trim"].map((recipe, i) => ({
      ...fixture.summary[i % 3]!,
      recipe,
    }));
    const table = formatResultsTable(withSummary(five), 110);
    for (const line of table.split("\n")) expect(line.length, line).toBeLessThanOrEqual(110);
    const blocks = table.split("\n\n");
    expect(blocks.length).toBeGreaterThan(1);
    const headers = blocks.flatMap((b) => b.split("\n")[0]!.trim().split(/\s+/));
    expect(headers).toEqual(five.map((s) => s.recipe));
    for (const b of blocks) for (const p of fixture.profiles) expect(b).toContain(`  ${p.name} (`);
  });

  it("keeps every line within the width for any number of recipes and seeds (property)", () => {
    const stat = fc.record({
      mean: fc.double({ min: 0, max: 1, noNaN: true }),
      std: fc.option(fc.double({ min: 0, max: 0.2, noNaN: true }), { nil: null }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        stat,
        fc.integer({ min: 70, max: 140 }),
        (recipes, s, width) => {
          const st: SeedStat = { mean: s.mean, std: s.std, n: s.std === null ? 1 : 3 };
          const summary = Array.from({ length: recipes }, (_, i) => ({
            recipe: `recipe-${i}`,
            fpAccuracy: st,
            profiles: Object.fromEntries(
              fixture.profiles.map((p) => [p.name, { accuracy: st, top1Agreement: st }]),
            ),
            int8: { worstGap: st, spread: st },
            int4: { worstGap: st, spread: st },
          }));
          const lines = formatResultsTable(withSummary(summary), width).split("\n");
          const widest = Math.max(...lines.map((l) => l.length));
          // One recipe always gets its block, even when that alone is wider than asked.
          const oneRecipe = formatResultsTable(withSummary(summary.slice(0, 1)), 1000).split("\n");
          expect(widest).toBeLessThanOrEqual(Math.max(width, ...oneRecipe.map((l) => l.length)));
          const headers = lines
            .filter((_, i) => i === 0 || lines[i - 1] === "")
            .flatMap((l) => l.trim().split(/\s+/));
          expect(headers).toEqual(summary.map((x) => x.recipe));
        },
      ),
    );
  });
});
