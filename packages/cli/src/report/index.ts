// report.html from results.json: the results' type, its checker, and the renderer.
export { alignDecimals } from "./charts/frame.js";
export { niceDomain, niceStep, niceTicks } from "./charts/scale.js";
export { escapeHtml } from "./escape.js";
export { parseResults } from "./parse-results.js";
export { REPORT_SECTIONS, renderReport } from "./render-report.js";
export * from "./results-schema.js";
