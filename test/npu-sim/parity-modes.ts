import { expect } from "vitest";

/*
 * "Every case of an operator matches exactly under ONE named mode." A mode is one arithmetic the
 * simulator offers for the operator (e.g. exact int32 accumulation, or x86 int16 pair saturation);
 * the modes are tried in a fixed order and the first that reproduces every case wins. The verdict is
 * printed once per operator so the test log says which arithmetic this machine's ONNX Runtime used.
 */

export interface ParityCase {
  /** Describes the case in a failure message (shapes, types, qparams). */
  readonly label: string;
  /** What ONNX Runtime returned. */
  readonly ort: ArrayLike<number>;
  /** The simulator's answer under a mode. */
  readonly simulate: (mode: string) => ArrayLike<number>;
}

export interface ModeVerdict {
  readonly mode: string;
  /** Cases matched exactly under each mode tried, in order. */
  readonly matchesByMode: Readonly<Record<string, number>>;
}

/** Exact equality of two number arrays; float values compare by bits (so −0 ≠ 0 and NaN = NaN). */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

/**
 * Find the first mode in `modes` under which every case matches; fail the test (with the first
 * mismatch under each mode) when none does. Unless `mustSeparate` is false, each mode after the winner
 * must give a different answer on at least one case, or the cases could not have told the modes apart.
 * Logs `ORT parity <op>: …` once.
 */
export function requireOneMode(
  op: string,
  modes: readonly string[],
  cases: readonly ParityCase[],
  options: { mustSeparate?: boolean } = {},
): ModeVerdict {
  expect(cases.length, `${op}: no cases`).toBeGreaterThan(0);
  const matchesByMode: Record<string, number> = {};
  const firstMismatch: string[] = [];
  for (const mode of modes) {
    let matches = 0;
    let mismatch: string | undefined;
    for (const c of cases) {
      const sim = c.simulate(mode);
      const at = firstDifference(sim, c.ort);
      if (at < 0) matches++;
      else if (mismatch === undefined) {
        mismatch =
          sim.length !== c.ort.length
            ? `${c.label}: ${sim.length} elements vs ONNX Runtime's ${c.ort.length}`
            : `${c.label}: element ${at} is ${sim[at]} but ONNX Runtime gives ${c.ort[at]}`;
      }
    }
    matchesByMode[mode] = matches;
    if (matches === cases.length) {
      const tried = Object.entries(matchesByMode)
        .filter(([m]) => m !== mode)
        .map(([m, n]) => `"${m}" matched ${n}`);
      // The verdict means something only if the other modes would have given different integers.
      const separated = modes.slice(modes.indexOf(mode) + 1).map((m) => {
        const differing = cases.filter((c) => firstDifference(c.simulate(m), c.ort) >= 0).length;
        if (options.mustSeparate ?? true) {
          expect(
            differing,
            `${op}: mode "${m}" agrees with "${mode}" on every case; the cases cannot tell them apart`,
          ).toBeGreaterThan(0);
        }
        return `"${m}" would differ on ${differing}`;
      });
      const notes = [...tried, ...separated];
      console.log(
        `ORT parity ${op}: ${cases.length} cases, ${matches} exact matches, mode "${mode}"${notes.length > 0 ? ` (${notes.join("; ")})` : ""}`,
      );
      return { mode, matchesByMode };
    }
    firstMismatch.push(`  mode "${mode}": ${matches}/${cases.length} match; first mismatch ${mismatch}`);
  }
  throw new Error(`ORT parity ${op}: no single mode matches every case\n${firstMismatch.join("\n")}`);
}
