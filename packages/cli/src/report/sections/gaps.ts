import { groupedBarChart } from "../charts/bar-chart.js";
import { recipeColor } from "../charts/palette.js";
import type { ExperimentResults } from "../results-schema.js";
import { absent, chartRow, paragraph, section } from "./html-parts.js";
import { recipesOf, summaryOf } from "./select.js";

/** Worst-case gap and spread, INT8 and INT4 profiles in separate charts. */
export function gapsSection(r: ExperimentResults): string {
  const recipes = recipesOf(r);
  const charts = (["int8", "int4"] as const).map((g) => {
    const members = r.profiles.filter((p) => p.group === g).map((p) => p.name);
    const stats = recipes.map((recipe) => summaryOf(r, recipe)?.[g] ?? null);
    if (members.length === 0 || stats.every((s) => s === null))
      return `<div class="absent-chart">${absent(`No ${g.toUpperCase()} profile was evaluated.`)}</div>`;
    return (
      groupedBarChart({
        label: `Worst-case FP32 to integer gap and spread across ${g.toUpperCase()} profiles, per recipe`,
        groups: ["worst gap", "spread"],
        series: recipes.map((recipe, i) => ({
          name: recipe,
          color: recipeColor(recipe, recipes),
          values: [stats[i]?.worstGap.mean ?? null, stats[i]?.spread.mean ?? null],
          errors: [stats[i]?.worstGap.std ?? null, stats[i]?.spread.std ?? null],
        })),
        yTitle: `${g.toUpperCase()}: accuracy points`,
        format: (v) => (100 * v).toFixed(Math.abs(100 * v - Math.round(100 * v)) < 1e-6 ? 0 : 1),
        describe: (series, group, value, error) =>
          `${series}, ${g.toUpperCase()} ${group}: ${(100 * value).toFixed(2)} points${error === null ? "" : ` ± ${(100 * error).toFixed(2)}`}`,
        width: 540,
        height: 240,
      }) + paragraph(`${g.toUpperCase()} profiles: ${members.join(", ")}`, "note")
    );
  });
  return section(
    "gaps",
    "Worst-case gap and spread across profiles",
    paragraph(
      "Lower is better for both: the worst gap is what the least friendly backend costs; the spread is how much the choice of backend matters.",
      "note",
    ) + chartRow(charts),
  );
}
