import { groupLayout, quantileRank } from "@quant-trim/prune";
import type { AppliedRecipe } from "./recipes.js";

/**
 * Reverse pruning clamps a group to its p-quantile, which can move at most n − 1 − rank(n, p) of its n
 * weights (⌊n·(1 − p)⌋, docs/reverse-pruning.md). At the INT8 default pFinal 0.999 a group needs 1000
 * weights before even one can move, so per-channel groups of the bundled models are never trimmed. That
 * is the documented rule, not a bug, but a run that asked for reverse pruning should say so up front.
 * Returns the one-line warning, or null when some group can be trimmed (or the recipe does not prune).
 */
export function untrimmableWarning(recipe: AppliedRecipe): string | null {
  const { pruner, pFinal } = recipe;
  if (!pruner || pFinal === null) return null;
  const layers = pruner.report().layers;
  if (layers.length === 0) return null;
  const sizes = layers.map((l) => groupLayout(l.shape, l.granularity).size);
  if (sizes.some((n) => trimmable(n, pFinal) > 0)) return null;
  const largest = Math.max(...sizes);
  const granularity = layers.map((l) => l.granularity).includes("per-channel") ? "per-channel" : "per-tensor";
  let need = largest + 1;
  while (pFinal < 1 && trimmable(need, pFinal) === 0) need++;
  const why =
    pFinal < 1
      ? `a weight group needs at least ${need} weights to lose one, and the largest ${granularity} group has ${largest}`
      : "pFinal 1 keeps every weight";
  const fixes = [
    recipe.settings.bits === 4 ? null : "--bits 4",
    granularity === "per-tensor" ? null : "--granularity per-tensor",
  ];
  const hint = fixes.filter((f) => f !== null).join(" or ");
  return `warning: reverse pruning will trim nothing at pFinal ${pFinal}: ${why}${hint ? `; try ${hint}` : ""}`;
}

/** How many of a group's n weights can lie above its p-quantile (the most a projection moves). */
function trimmable(n: number, p: number): number {
  return n === 0 ? 0 : n - 1 - quantileRank(n, p);
}
