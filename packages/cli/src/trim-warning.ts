import type { QuantTrimRun } from "@quant-trim/recipes";

/**
 * The CLI's line when reverse pruning can trim no layer at all, with the options that would change that
 * (the pruner's own message names layers, not flags). Null when some layer can be trimmed or the
 * recipe does not prune. Why a group can be too small: `ReversePruner.untrimmableLayers`.
 */
export function untrimmableWarning(run: QuantTrimRun): string | null {
  const { pruner } = run;
  if (!pruner || pruner.layerNames.length === 0) return null;
  const layers = pruner.untrimmableLayers();
  if (layers.length < pruner.layerNames.length) return null;
  const p = layers[0]!.p;
  const largest = Math.max(...layers.map((l) => l.groupSize));
  const granularity = layers.some((l) => l.granularity === "per-channel") ? "per-channel" : "per-tensor";
  const need = Math.max(...layers.map((l) => l.minGroupSize ?? 0));
  const why =
    layers[0]!.minGroupSize !== null
      ? `a weight group needs at least ${need} weights to lose one, and the largest ${granularity} group has ${largest}`
      : "pFinal 1 keeps every weight";
  const fixes = [
    run.settings.bits === 4 ? null : "--bits 4",
    granularity === "per-tensor" ? null : "--granularity per-tensor",
  ];
  const hint = fixes.filter((f) => f !== null).join(" or ");
  return `warning: reverse pruning will trim nothing at pFinal ${p}: ${why}${hint ? `; try ${hint}` : ""}`;
}
