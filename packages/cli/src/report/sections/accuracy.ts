import { groupedBarChart } from "../charts/bar-chart.js";
import { recipeColor } from "../charts/palette.js";
import { statPercent } from "../format-numbers.js";
import type { ExperimentResults, SeedStat } from "../results-schema.js";
import { absent, section, table } from "./html-parts.js";
import { recipesOf, summaryOf } from "./select.js";

/** Accuracy per profile per recipe: grouped bars with ±std error bars, then the numbers in a table. */
export function accuracySection(r: ExperimentResults): string {
  const recipes = recipesOf(r);
  if (r.summary.length === 0)
    return section(
      "accuracy",
      "Accuracy per backend profile",
      absent("No recipe finished: there is nothing to show."),
    );
  // INT8 profiles, then INT4 ones, so that each group's bars stand together.
  const groupOf = new Map(r.profiles.map((p) => [p.name, p.group]));
  const int8 = r.config.profiles.filter((p) => groupOf.get(p) !== "int4");
  const int4 = r.config.profiles.filter((p) => groupOf.get(p) === "int4");
  const groups = ["FP32", ...int8, ...int4];
  const bands = [
    ...(int8.length > 0 ? [{ from: 1, label: "INT8 profiles" }] : []),
    ...(int4.length > 0 ? [{ from: 1 + int8.length, label: "INT4 profiles" }] : []),
  ];
  const statOf = (recipe: string, group: string): SeedStat | null => {
    const s = summaryOf(r, recipe);
    if (!s) return null;
    return group === "FP32" ? s.fpAccuracy : (s.profiles[group]?.accuracy ?? null);
  };
  const chart = groupedBarChart({
    label: "Test accuracy of each recipe in FP32 and on each backend profile",
    groups,
    series: recipes.map((recipe) => ({
      name: recipe,
      color: recipeColor(recipe, recipes),
      values: groups.map((g) => statOf(recipe, g)?.mean ?? null),
      errors: groups.map((g) => statOf(recipe, g)?.std ?? null),
    })),
    yTitle: "test accuracy (%)",
    format: (v) => `${(100 * v).toFixed(Math.abs(v * 100 - Math.round(v * 100)) < 1e-6 ? 0 : 1)}`,
    describe: (series, group, value, error) =>
      `${series} on ${group}: ${(100 * value).toFixed(2)} %${error === null ? "" : ` ± ${(100 * error).toFixed(2)}`}`,
    zoom: true,
    bands,
  });
  const info = new Map(r.profiles.map((p) => [p.name, p]));
  const rows = r.config.profiles.map((name) => {
    const p = info.get(name);
    return [
      { text: name, title: p?.summary ?? "" },
      p ? `${p.group.toUpperCase()} (W${p.weightBits}A${p.activationBits})` : "–",
      ...recipes.flatMap((recipe) => {
        const e = summaryOf(r, recipe)?.profiles[name];
        return e ? [statPercent(e.accuracy), statPercent(e.top1Agreement)] : ["–", "–"];
      }),
    ];
  });
  const head = [
    "profile",
    "group",
    ...recipes.flatMap((recipe) => [`${recipe} acc (%)`, `${recipe} agree (%)`]),
  ];
  const fpRow = [
    "FP32 (no quantization)",
    "–",
    ...recipes.flatMap((recipe) => {
      const s = summaryOf(r, recipe);
      return [s ? statPercent(s.fpAccuracy) : "–", "–"];
    }),
  ];
  return section(
    "accuracy",
    "Accuracy per backend profile",
    `<figure>${chart}</figure>` +
      table(
        head,
        [fpRow, ...rows],
        `Integer accuracy and top-1 agreement with the same checkpoint in FP32${r.config.seeds.length > 1 ? ` (mean ± std over ${r.config.seeds.length} seeds)` : " (one seed)"}.`,
      ),
  );
}
