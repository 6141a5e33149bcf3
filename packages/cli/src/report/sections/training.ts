import { type LineSeries, lineChart } from "../charts/line-chart.js";
import { recipeColor } from "../charts/palette.js";
import type { ExperimentResults } from "../results-schema.js";
import { absent, chartRow, paragraph, section } from "./html-parts.js";
import { meanSeries, recipesOf, runsOf } from "./select.js";

const pct = (v: number) => (100 * v).toFixed(Math.abs(100 * v - Math.round(100 * v)) < 1e-6 ? 0 : 1);
const int = (v: number) => String(Math.round(v));

/** Loss and accuracy over training, each recipe's mean over its seeds. */
export function trainingSection(r: ExperimentResults): string {
  const recipes = recipesOf(r);
  if (r.runs.length === 0 || r.runs.every((run) => run.curves.length === 0))
    return section("training", "Training curves", absent("No epoch was recorded."));
  // Per-step loss when every run sampled it (finer than three epoch means), otherwise per epoch.
  const bySteps = r.runs.every((run) => run.steps !== null && run.steps.loss.length > 1);
  const loss: LineSeries[] = recipes.map((recipe) => {
    const runs = runsOf(r, recipe);
    if (bySteps) {
      const every = runs[0]?.steps?.every ?? 1;
      return {
        name: recipe,
        color: recipeColor(recipe, recipes),
        points: meanSeries(runs.map((run) => run.steps!.loss)).map((v, i) => [i * every, v] as const),
      };
    }
    return {
      name: recipe,
      color: recipeColor(recipe, recipes),
      points: meanSeries(runs.map((run) => run.curves.map((c) => c.loss))).map((v, i) => [i + 1, v] as const),
    };
  });
  const accuracy: LineSeries[] = recipes.flatMap((recipe) => {
    const runs = runsOf(r, recipe);
    const color = recipeColor(recipe, recipes);
    const train = meanSeries(runs.map((run) => run.curves.map((c) => c.trainAccuracy)));
    const series: LineSeries[] = [
      { name: `${recipe} train`, color, points: train.map((v, i) => [i + 1, v] as const) },
    ];
    if (runs.length > 0 && runs.every((run) => run.curves.every((c) => c.validationAccuracy !== null)))
      series.push({
        name: `${recipe} validation`,
        color,
        dashed: true,
        points: meanSeries(runs.map((run) => run.curves.map((c) => c.validationAccuracy!))).map(
          (v, i) => [i + 1, v] as const,
        ),
      });
    return series;
  });
  const seeds = r.config.seeds.length;
  return section(
    "training",
    "Training curves",
    chartRow([
      lineChart({
        label: "Training loss per recipe",
        series: loss,
        xTitle: bySteps ? "optimizer step" : "epoch",
        yTitle: "cross-entropy loss",
        xFormat: int,
        integerX: true,
        yFormat: (v) => v.toFixed(2),
      }),
      lineChart({
        label: "Training accuracy per recipe and epoch",
        series: accuracy,
        xTitle: "epoch",
        yTitle: "accuracy (%)",
        xFormat: int,
        integerX: true,
        yFormat: pct,
      }),
    ]) +
      paragraph(
        seeds === 1 ? "One seed: each line is that run." : `Each line is the mean over ${seeds} seeds.`,
        "note",
      ),
  );
}
