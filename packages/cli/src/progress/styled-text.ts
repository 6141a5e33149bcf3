/*
 * Text made of styled pieces, rendered with ANSI colours on a colour terminal and as plain text
 * everywhere else. Lines are cut by visible width (escape codes do not count), so a live line never
 * wraps: a wrapped line cannot be redrawn with a carriage return.
 */

export type Style = "bold" | "dim" | "green" | "yellow" | "cyan";

export interface Piece {
  readonly text: string;
  readonly style?: Style;
}

const SGR: Readonly<Record<Style, string>> = {
  bold: "\x1b[1m",
  dim: "\x1b[2m",
  green: "\x1b[32m",
  yellow: "\x1b[33m",
  cyan: "\x1b[36m",
};
const RESET = "\x1b[0m";

/** Visible width in code points (the progress lines hold no wide or combining characters). */
export function visibleLength(pieces: readonly Piece[]): number {
  let n = 0;
  for (const p of pieces) n += [...p.text].length;
  return n;
}

/**
 * The pieces as one string: styled when `color`, cut to `maxWidth` visible characters when given (the
 * last kept character becomes "…" so a cut is visible).
 */
export function renderPieces(pieces: readonly Piece[], color: boolean, maxWidth?: number): string {
  let budget = maxWidth ?? Number.POSITIVE_INFINITY;
  const cut = maxWidth !== undefined && visibleLength(pieces) > maxWidth;
  let out = "";
  for (const p of pieces) {
    if (budget <= 0) break;
    let chars = [...p.text];
    if (chars.length > budget) chars = chars.slice(0, budget);
    budget -= chars.length;
    let text = chars.join("");
    if (cut && budget === 0) text = `${[...text].slice(0, -1).join("")}…`;
    out += color && p.style && text !== "" ? `${SGR[p.style]}${text}${RESET}` : text;
  }
  return out;
}

/**
 * Whether to colour output: only on a terminal, and never when NO_COLOR is set to a non-empty value
 * (the no-color.org convention) or TERM is "dumb".
 */
export function colorEnabled(
  isTTY: boolean | undefined,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (!isTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return env.TERM !== "dumb";
}
