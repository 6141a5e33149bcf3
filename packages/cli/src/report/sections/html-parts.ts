import { escapeHtml } from "../escape.js";

/** One table cell: text (escaped here), an optional class and an optional background colour. */
export interface Cell {
  readonly text: string;
  readonly className?: string;
  readonly background?: string;
  /** Hover text. */
  readonly title?: string;
}

type CellLike = Cell | string;

function cell(tag: "td" | "th", c: CellLike): string {
  const x = typeof c === "string" ? { text: c } : c;
  const attrs =
    (x.className ? ` class="${escapeHtml(x.className)}"` : "") +
    (x.background ? ` style="background:${escapeHtml(x.background)}"` : "") +
    (x.title ? ` title="${escapeHtml(x.title)}"` : "");
  return `<${tag}${attrs}>${escapeHtml(x.text)}</${tag}>`;
}

/**
 * A table in a horizontally scrolling box (wide tables never widen the page); the caption goes under the
 * box, so that it wraps to the page instead of scrolling with the table.
 */
export function table(
  head: readonly CellLike[],
  rows: readonly (readonly CellLike[])[],
  caption?: string,
): string {
  return (
    `<div class="table-box"><table>` +
    `<thead><tr>${head.map((h) => cell("th", h)).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => cell(i === 0 ? "th" : "td", c)).join("")}</tr>`).join("")}</tbody></table></div>` +
    (caption ? `<p class="caption">${escapeHtml(caption)}</p>` : "")
  );
}

/** A report section with its anchor id and heading; `body` is markup. */
export function section(id: string, title: string, body: string): string {
  return `<section id="${escapeHtml(id)}"><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

/** A paragraph of escaped text. */
export function paragraph(text: string, className?: string): string {
  return `<p${className ? ` class="${escapeHtml(className)}"` : ""}>${escapeHtml(text)}</p>`;
}

/** Shown where a figure does not exist in this run (instead of leaving the section out). */
export function absent(text: string): string {
  return paragraph(text, "absent");
}

/** Charts side by side, wrapping on narrow pages. */
export function chartRow(charts: readonly string[]): string {
  return `<div class="chart-row">${charts.map((c) => `<figure>${c}</figure>`).join("")}</div>`;
}
