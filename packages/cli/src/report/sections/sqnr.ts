import { escapeHtml } from "../escape.js";
import type { ExperimentResults } from "../results-schema.js";
import { absent, type Cell, paragraph, section, table } from "./html-parts.js";
import { firstRun, recipesOf } from "./select.js";

/** Red at 0 dB through yellow to green at 40 dB and above. */
function heat(db: number): string {
  const t = Math.max(0, Math.min(1, db / 40));
  return `hsl(${Math.round(120 * t)}, 70%, 84%)`;
}

/** Per-layer SQNR of each profile's integer program against FP32, one table per recipe (first seed). */
export function sqnrSection(r: ExperimentResults): string {
  const parts: string[] = [];
  for (const recipe of recipesOf(r)) {
    const run = firstRun(r, recipe);
    if (!run) continue;
    const measured = r.config.profiles.filter((p) => run.profiles[p]?.layerSqnr);
    if (measured.length === 0) continue;
    const layers: string[] = [];
    for (const p of measured)
      for (const l of run.profiles[p]!.layerSqnr!) if (!layers.includes(l.layer)) layers.push(l.layer);
    // Profiles down, layers across: there are more profiles than layers in the zoo's models.
    const rows = measured.map((p) => [
      p,
      ...layers.map((layer): Cell => {
        const entry = run.profiles[p]!.layerSqnr!.find((l) => l.layer === layer);
        if (!entry) return { text: "–", className: "num" };
        if (entry.sqnrDb === null) return { text: "exact", className: "num", background: heat(40) };
        return { text: entry.sqnrDb.toFixed(1), className: "num", background: heat(entry.sqnrDb) };
      }),
    ]);
    parts.push(
      `<div><h3>${escapeHtml(`${recipe} (seed ${run.seed})`)}</h3>${table(["profile", ...layers], rows)}</div>`,
    );
  }
  return section(
    "sqnr",
    "Per-layer SQNR per profile",
    parts.length === 0
      ? absent("Intermediate outputs were not compared in this run, so there is no per-layer SQNR.")
      : `${paragraph(
          'Signal-to-quantization-noise ratio of each layer\'s output in the integer program against the FP32 model, in dB (higher is better; every 6 dB is about one bit). "exact": no difference at all.',
          "note",
        )}<div class="side-by-side">${parts.join("")}</div>`,
  );
}
