import { escapeHtml } from "./escape.js";
import type { ExperimentResults } from "./results-schema.js";
import { accuracySection } from "./sections/accuracy.js";
import { costSection } from "./sections/cost.js";
import { gapsSection } from "./sections/gaps.js";
import { histogramsSection } from "./sections/histograms.js";
import { overviewSection } from "./sections/overview.js";
import { runDetailsSection } from "./sections/run-details.js";
import { schedulesSection } from "./sections/schedules.js";
import { sqnrSection } from "./sections/sqnr.js";
import { trainingSection } from "./sections/training.js";
import { REPORT_CSS } from "./style.js";

/** The sections of report.html in page order: anchor id and the title the navigation shows. */
export const REPORT_SECTIONS: readonly (readonly [string, string])[] = [
  ["summary", "Summary"],
  ["accuracy", "Accuracy"],
  ["gaps", "Gap & spread"],
  ["training", "Training"],
  ["schedules", "Schedules"],
  ["histograms", "Weights"],
  ["sqnr", "SQNR"],
  ["cost", "Cost"],
  ["details", "Config & data"],
];

/**
 * report.html for a results object (check a parsed file with parseResults first). The page is
 * self-contained: inline CSS and SVG, no script, no font, image or stylesheet to fetch, and a Content
 * Security Policy that forbids fetching any, so it renders the same offline, from an e-mail attachment or
 * years later. Every string from the results is escaped.
 */
export function renderReport(results: ExperimentResults): string {
  const title = `quant-trim · ${results.config.arch} · ${results.date}`;
  const nav = REPORT_SECTIONS.map(([id, label]) => `<a href="#${id}">${escapeHtml(label)}</a>`).join("");
  const body = [
    overviewSection(results),
    accuracySection(results),
    gapsSection(results),
    trainingSection(results),
    schedulesSection(results),
    histogramsSection(results),
    sqnrSection(results),
    costSection(results),
    runDetailsSection(results),
  ];
  // The overview's header comes before the navigation; its summary section after it.
  const [overview, ...rest] = body;
  const split = overview!.indexOf("</header>") + "</header>".length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="quant-trim ${escapeHtml(results.software.packageVersion)}">
<title>${escapeHtml(title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<main>
${overview!.slice(0, split)}
<nav>${nav}</nav>
${overview!.slice(split)}
${rest.join("\n")}
</main>
</body>
</html>
`;
}
