import { weightHistogram } from "../charts/histogram-chart.js";
import { escapeHtml } from "../escape.js";
import type { ExperimentResults } from "../results-schema.js";
import { absent, chartRow, paragraph, section } from "./html-parts.js";
import { firstRun, recipesOf } from "./select.js";

/** Layers shown per recipe: the most-trimmed ones. */
const LAYERS_SHOWN = 2;

/** A weight value short enough for an axis: 3 significant digits. */
function weight(v: number): string {
  if (v === 0) return "0";
  return Math.abs(v) >= 0.01 ? String(Number(v.toPrecision(3))) : v.toExponential(2);
}

/** Weight histograms before and after reverse pruning of the most-trimmed layers, with the grid marked. */
export function histogramsSection(r: ExperimentResults): string {
  const parts: string[] = [];
  for (const recipe of recipesOf(r)) {
    const run = firstRun(r, recipe);
    if (!run?.trimmedLayers || run.trimmedLayers.length === 0) continue;
    const layers = [...run.trimmedLayers]
      .sort((a, b) => b.trimmedFraction - a.trimmedFraction)
      .slice(0, LAYERS_SHOWN);
    parts.push(
      `<h3>${escapeHtml(`${recipe} (seed ${run.seed})`)}</h3>` +
        chartRow(
          layers.map(
            (l) =>
              `<figcaption>${escapeHtml(`${l.layer}: ${(100 * l.trimmedFraction).toFixed(2)} % of weights trimmed`)}</figcaption>` +
              weightHistogram({
                label: `Weights of ${l.layer} before and after reverse pruning (${recipe})`,
                before: l.before,
                after: l.after,
                gridStep: l.gridStep,
                qmax: l.qmax,
                threshold: l.threshold,
                format: weight,
              }),
          ),
        ),
    );
  }
  return section(
    "histograms",
    "Weights before and after reverse pruning",
    parts.length === 0
      ? absent(
          "No recipe of this run uses reverse pruning (rp or quant-trim), so there are no trimmed layers to show.",
        )
      : paragraph(
          "The most-trimmed layers of each recipe that prunes: before, the weights when trimming starts; after, the final weights. Trimming clips the tails to ±τ so that the grid's step, set by the largest weight, gets finer for the weights that remain.",
          "note",
        ) + parts.join(""),
  );
}
