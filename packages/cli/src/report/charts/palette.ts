/*
 * Colours from the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies).
 * Each recipe keeps its colour in every chart of the report.
 */

const RECIPE_COLORS: Readonly<Record<string, string>> = {
  fp: "#5f5f5f",
  qat: "#e69f00",
  pfq: "#56b4e9",
  rp: "#cc79a7",
  "quant-trim": "#0072b2",
};

const OTHERS = ["#009e73", "#d55e00", "#000000", "#f0e442"];

/** The colour of a recipe; unknown names get the remaining palette colours in order of `all`. */
export function recipeColor(recipe: string, all: readonly string[] = []): string {
  const known = RECIPE_COLORS[recipe];
  if (known) return known;
  const unknown = all.filter((r) => !(r in RECIPE_COLORS));
  const i = Math.max(0, unknown.indexOf(recipe));
  return OTHERS[i % OTHERS.length]!;
}

/** Colour for "after reverse pruning" next to a grey "before". */
export const AFTER_COLOR = "#0072b2";
export const BEFORE_COLOR = "#b8b8b8";
/** Marks: trimming thresholds, grid levels. */
export const THRESHOLD_COLOR = "#d55e00";
export const GRID_COLOR = "#009e73";
