/**
 * The report's only stylesheet, inlined: system fonts (nothing to download), one column up to 1160 px,
 * charts that shrink with the window, tables that scroll sideways rather than widen the page.
 */
export const REPORT_CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fafafa; color: #1d1d1f;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
.meta { color: #555; margin: 0 0 12px; }
nav { position: sticky; top: 0; z-index: 1; background: #fafafa; border-bottom: 1px solid #ddd; padding: 6px 0; margin-bottom: 8px; }
nav a { color: #0b5394; text-decoration: none; margin-right: 16px; font-size: 13px; }
section { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 14px 18px 16px; margin: 16px 0; }
h2 { font-size: 18px; margin: 0 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
figure { margin: 6px 0; min-width: 0; }
figcaption { font-size: 13px; color: #333; margin-bottom: 2px; }
.chart { display: block; max-width: 100%; height: auto; }
.chart text { font-size: 12px; fill: #222; }
.chart .tick { font-size: 11px; fill: #444; }
.chart .axis-title { font-size: 12px; fill: #222; }
.chart .legend { font-size: 11px; fill: #222; }
.chart .note { font-size: 11px; fill: #666; font-style: italic; }
.chart .chart-title { font-size: 13px; font-weight: 600; }
.chart .grid { stroke: #e6e6e6; stroke-width: 1; }
.chart .zero { stroke: #888; stroke-width: 1; }
.chart .axis { stroke: #555; stroke-width: 1; }
.chart .band { stroke: #999; stroke-width: 1; stroke-dasharray: 4 3; }
.chart .band-label { font-size: 11px; fill: #555; font-weight: 600; }
.chart .error { stroke: #1d1d1f; stroke-width: 1.3; fill: none; }
.chart-row { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start; }
.chart-row > figure { flex: 1 1 320px; max-width: 560px; }
.table-box { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
.caption { font-size: 12px; color: #666; margin: -4px 0 8px; }
th, td { border-bottom: 1px solid #e6e6e6; padding: 3px 9px; text-align: right; white-space: nowrap; }
th:first-child { text-align: left; }
thead th { border-bottom: 2px solid #bbb; font-weight: 600; }
tbody th { font-weight: 500; }
.note { color: #555; font-size: 13px; margin: 6px 0; }
.absent { color: #8a6d00; background: #fff8e1; border-left: 3px solid #e6b800; padding: 6px 10px; margin: 6px 0; }
.two-col { display: flex; flex-wrap: wrap; gap: 0 28px; }
.two-col > div { flex: 1 1 420px; min-width: 0; }
.two-col th, .two-col td { text-align: left; }
.two-col td { white-space: normal; overflow-wrap: anywhere; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 0 28px; }
.side-by-side > div { flex: 0 1 auto; min-width: 0; }
.warnings { margin: 4px 0; padding-left: 20px; color: #8a3b00; }
`;
