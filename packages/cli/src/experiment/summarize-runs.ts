import { binomialStandardError, summarizeSeeds } from "@quant-trim/recipes";
import type {
  GroupFigures,
  GroupSummary,
  ProfileInfo,
  RecipeSummary,
  RunResult,
  SeedStat,
  TestNoise,
} from "../report/results-schema.js";

function stat(values: readonly number[]): SeedStat {
  const s = summarizeSeeds(values);
  return { mean: s.mean, std: s.std, n: s.n };
}

function groupSummary(runs: readonly RunResult[], group: "int8" | "int4"): GroupSummary | null {
  const figures = runs.map((r) => r[group]).filter((g): g is GroupFigures => g !== null);
  if (figures.length === 0) return null;
  if (figures.length !== runs.length)
    throw new Error(
      `summarizeRuns: the ${group} group was evaluated in some runs of ${runs[0]!.recipe} only`,
    );
  return { worstGap: stat(figures.map((g) => g.worstGap)), spread: stat(figures.map((g) => g.spread)) };
}

/**
 * Per recipe (in `recipes` order), every figure of its runs as mean ± sample std over seeds (std null for
 * one seed): FP accuracy, integer accuracy and top-1 agreement per profile, and the worst gap and spread
 * of each group. A recipe without runs is an error: the table would show a column of nothing.
 */
export function summarizeRuns(
  recipes: readonly string[],
  profiles: readonly ProfileInfo[],
  runs: readonly RunResult[],
): RecipeSummary[] {
  return recipes.map((recipe) => {
    const rs = runs.filter((r) => r.recipe === recipe);
    if (rs.length === 0) throw new Error(`summarizeRuns: recipe '${recipe}' has no runs`);
    return {
      recipe,
      fpAccuracy: stat(rs.map((r) => r.fpAccuracy)),
      profiles: Object.fromEntries(
        profiles.map(({ name }) => {
          const evaluations = rs.map((r) => {
            const e = r.profiles[name];
            if (!e)
              throw new Error(`summarizeRuns: ${recipe} seed ${r.seed} has no result for profile '${name}'`);
            return e;
          });
          return [
            name,
            {
              accuracy: stat(evaluations.map((e) => e.accuracy)),
              top1Agreement: stat(evaluations.map((e) => e.top1Agreement)),
            },
          ];
        }),
      ),
      int8: groupSummary(rs, "int8"),
      int4: groupSummary(rs, "int4"),
    };
  });
}

/**
 * The test set's own noise: the binomial standard error of an accuracy at the recipes' mean FP accuracy
 * on `testSamples` samples.
 */
export function testNoise(summary: readonly RecipeSummary[], testSamples: number): TestNoise {
  if (summary.length === 0) throw new Error("testNoise: no recipe was summarised");
  const accuracy = summary.reduce((a, s) => a + s.fpAccuracy.mean, 0) / summary.length;
  return { testSamples, accuracy, standardError: binomialStandardError(accuracy, testSamples) };
}
