import { formatCount } from "../../progress/format.js";
import { escapeHtml } from "../escape.js";
import { readableDate } from "../format-dates.js";
import { percent, statPercent } from "../format-numbers.js";
import type { ExperimentResults, GroupSummary, SeedStat } from "../results-schema.js";
import { paragraph, section, table } from "./html-parts.js";
import { recipesOf, summaryOf } from "./select.js";

/** "1.23 ± 0.40" in percentage points. */
function statPoints(s: SeedStat): string {
  const m = (100 * s.mean).toFixed(2);
  return s.std === null ? m : `${m} ± ${(100 * s.std).toFixed(2)}`;
}

function group(g: GroupSummary | null | undefined, key: "worstGap" | "spread"): string {
  return g ? statPoints(g[key]) : "–";
}

/** Title, provenance line, and the table the paper is about with the test set's noise under it. */
export function overviewSection(r: ExperimentResults): string {
  const seeds = r.config.seeds.length;
  const commit =
    r.software.gitCommit === null
      ? "no git commit recorded"
      : `commit ${r.software.gitCommit.slice(0, 10)}${r.software.gitDirty ? " with uncommitted changes" : ""}`;
  const meta = [
    `Run ${readableDate(r.date)}`,
    `quant-trim ${r.software.packageVersion} (${commit})`,
    `Node ${r.software.node} on ${r.software.platform}${r.software.cpu === null ? "" : `, ${r.software.cpu}`}`,
    `${Math.round(r.timings.totalSeconds)} s in total`,
  ];
  const rows = recipesOf(r).map((recipe) => {
    const s = summaryOf(r, recipe);
    return [
      recipe,
      s ? statPercent(s.fpAccuracy) : "–",
      group(s?.int8, "worstGap"),
      group(s?.int8, "spread"),
      group(s?.int4, "worstGap"),
      group(s?.int4, "spread"),
    ];
  });
  const n = r.testNoise;
  const noise =
    `Test-set noise: ±${(100 * n.standardError).toFixed(2)} points — the binomial standard error of a ` +
    `${percent(n.accuracy)} accuracy on ${formatCount(n.testSamples)} test samples. Differences smaller than ` +
    "about twice this are within the noise of the test set itself.";
  const spreadNote =
    seeds === 1
      ? "One seed: no ± is shown, because a standard deviation does not exist for one run."
      : `Mean ± sample standard deviation over ${seeds} seeds (${r.config.seeds.join(", ")}).`;
  return (
    `<header><h1>${escapeHtml(`quant-trim experiment · ${r.config.arch} on ${r.dataset.name}`)}</h1>` +
    `<p class="meta">${meta.map(escapeHtml).join(" · ")}</p></header>` +
    section(
      "summary",
      "Summary",
      table(
        [
          "recipe",
          "FP32 accuracy (%)",
          "INT8 worst gap (pts)",
          "INT8 spread (pts)",
          "INT4 worst gap (pts)",
          "INT4 spread (pts)",
        ],
        rows,
        "Worst gap: the largest FP32 → integer accuracy drop over a group's profiles. Spread: best − worst integer accuracy in the group.",
      ) +
        paragraph(spreadNote, "note") +
        paragraph(noise, "note"),
    )
  );
}
