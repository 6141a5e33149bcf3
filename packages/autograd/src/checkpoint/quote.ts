/** A name from the file, escaped and cut short, between single quotes. */
export function quote(s: string): string {
  const q = JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
  return `'${q.slice(1, -1)}'`;
}
