import { type LineSeries, lineChart } from "../charts/line-chart.js";
import { recipeColor } from "../charts/palette.js";
import type { ExperimentResults, RunResult } from "../results-schema.js";
import { chartRow, paragraph, section } from "./html-parts.js";
import { firstRun, recipesOf } from "./select.js";

/** λ or the trim quantile of one run over training: per sampled step if recorded, else per epoch. */
function curve(
  run: RunResult,
  key: "lambda" | "trimQuantile",
): { points: [number, number][]; bySteps: boolean } {
  const steps = run.steps?.[key];
  if (run.steps && steps) return { points: steps.map((v, i) => [i * run.steps!.every, v]), bySteps: true };
  const points: [number, number][] = [];
  for (const c of run.curves) if (c[key] !== null) points.push([c.epoch + 1, c[key]!]);
  return { points, bySteps: false };
}

/** The λ curriculum and reverse pruning's quantile schedule, one line per recipe that has them. */
export function schedulesSection(r: ExperimentResults): string {
  const recipes = recipesOf(r);
  const charts: string[] = [];
  const missing: string[] = [];
  for (const [key, title, yTitle, domain] of [
    ["lambda", "λ (fake-quantization blend)", "λ", [0, 1]],
    ["trimQuantile", "trim quantile p(t)", "quantile", null],
  ] as const) {
    const series: LineSeries[] = [];
    let bySteps = true;
    const none: string[] = [];
    for (const recipe of recipes) {
      const run = firstRun(r, recipe);
      const c = run ? curve(run, key) : null;
      if (!c || c.points.length === 0) {
        none.push(recipe);
        continue;
      }
      bySteps &&= c.bySteps;
      series.push({ name: recipe, color: recipeColor(recipe, recipes), points: c.points });
    }
    if (none.length > 0) missing.push(`${title}: none for ${none.join(", ")}`);
    charts.push(
      lineChart({
        label: `${title} over training`,
        series,
        xTitle: bySteps ? "optimizer step" : "epoch",
        yTitle,
        xFormat: (v) => String(Math.round(v)),
        integerX: true,
        yFormat: (v) => (key === "lambda" ? v.toFixed(1) : v.toFixed(3)),
        ...(domain ? { yDomain: domain } : {}),
        empty: "no recipe of this run has this schedule",
      }),
    );
  }
  return section(
    "schedules",
    "λ and trim-quantile schedules",
    chartRow(charts) +
      paragraph(
        `Shown for each recipe's first seed (the schedules do not depend on the seed).${missing.length > 0 ? ` Not present: ${missing.join("; ")}.` : ""}`,
        "note",
      ),
  );
}
