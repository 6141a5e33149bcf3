/** "2026-11-29T23:50:00.000Z" → "2026-11-29 23:50:00 UTC"; any other text is returned as it is. */
export function readableDate(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}
