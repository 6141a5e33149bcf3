/**
 * Text made safe for HTML and SVG, in element content and in quoted attribute values alike. Every string
 * that reaches the report goes through here: recipe, profile, layer and file names come from
 * results.json, which anyone can edit.
 */
export function escapeHtml(text: string): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
