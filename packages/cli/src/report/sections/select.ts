import type { ExperimentResults, RecipeSummary, RunResult } from "../results-schema.js";

/** The recipes in the order the experiment ran them (config order, then any others found in runs). */
export function recipesOf(r: ExperimentResults): string[] {
  const out = [...r.config.recipes];
  for (const run of r.runs) if (!out.includes(run.recipe)) out.push(run.recipe);
  return out;
}

export function runsOf(r: ExperimentResults, recipe: string): RunResult[] {
  return r.runs.filter((run) => run.recipe === recipe);
}

/** The run with the lowest seed: schedules and histograms are shown for one seed. */
export function firstRun(r: ExperimentResults, recipe: string): RunResult | null {
  const runs = runsOf(r, recipe);
  return runs.length === 0 ? null : runs.reduce((a, b) => (b.seed < a.seed ? b : a));
}

export function summaryOf(r: ExperimentResults, recipe: string): RecipeSummary | null {
  return r.summary.find((s) => s.recipe === recipe) ?? null;
}

/** Mean of each position over several equally long series (shorter series count where they reach). */
export function meanSeries(series: readonly (readonly number[])[]): number[] {
  const n = Math.max(0, ...series.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const vs = series.filter((s) => i < s.length).map((s) => s[i]!);
    out.push(vs.reduce((a, b) => a + b, 0) / vs.length);
  }
  return out;
}
