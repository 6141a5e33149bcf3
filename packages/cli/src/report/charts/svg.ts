import { escapeHtml } from "../escape.js";

/*
 * A few helpers that write SVG markup as strings. Attribute values are escaped here; element content is
 * either other markup built by these helpers or text passed through `svgText`, which escapes it.
 */

export type Attrs = Readonly<Record<string, string | number | null | undefined>>;

/** Coordinates to two decimals: enough for a screen, and the page stays small. */
export function coord(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function attributes(attrs: Attrs): string {
  let out = "";
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    out += ` ${k}="${typeof v === "number" ? coord(v) : escapeHtml(v)}"`;
  }
  return out;
}

/** `<name attrs>children</name>`; `children` must already be markup. */
export function element(name: string, attrs: Attrs, children: string | readonly string[] = ""): string {
  const inner = typeof children === "string" ? children : children.join("");
  return `<${name}${attributes(attrs)}>${inner}</${name}>`;
}

/** A text element with escaped content. */
export function svgText(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return element("text", { x, y, ...attrs }, escapeHtml(content));
}

/** A tooltip for the enclosing shape (the browser shows it on hover; no script involved). */
export function tooltip(content: string): string {
  return element("title", {}, escapeHtml(content));
}

/** The outer element of a chart: scales with the page width, labelled for screen readers. */
export function svgRoot(width: number, height: number, label: string, children: readonly string[]): string {
  return element(
    "svg",
    {
      viewBox: `0 0 ${coord(width)} ${coord(height)}`,
      width,
      height,
      role: "img",
      "aria-label": label,
      class: "chart",
    },
    children,
  );
}

/** Approximate width of `text` at `fontSize` px in the page's sans-serif font (for layout only). */
export function textWidth(text: string, fontSize: number): number {
  return [...text].length * fontSize * 0.58;
}
