import type { SeedStat } from "./results-schema.js";

/*
 * Number formats of the report: accuracies as percentages, gaps and spreads as percentage points, each
 * with its ± when there are seeds to have one.
 */

/** 0.97853 → "97.85 %". */
export function percent(fraction: number, digits = 2): string {
  return `${(100 * fraction).toFixed(digits)} %`;
}

/** A gap or spread in percentage points: 0.0123 → "1.23". */
export function points(fraction: number, digits = 2): string {
  return (100 * fraction).toFixed(digits);
}

/** "97.85 ± 0.12" (in %), or "97.85" alone for one seed. */
export function statPercent(s: SeedStat, digits = 2): string {
  const m = (100 * s.mean).toFixed(digits);
  return s.std === null ? m : `${m} ± ${(100 * s.std).toFixed(digits)}`;
}

/** A number in engineering form with an SI prefix: 1.2e-4 s → "120 µs", 3.4e6 → "3.4 M". */
export function siNumber(value: number, unit = ""): string {
  if (value === 0) return `0 ${unit}`.trim();
  const prefixes: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
    [1, ""],
    [1e-3, "m"],
    [1e-6, "µ"],
    [1e-9, "n"],
    [1e-12, "p"],
  ];
  const abs = Math.abs(value);
  const [scale, prefix] = prefixes.find(([s]) => abs >= s) ?? prefixes[prefixes.length - 1]!;
  const scaled = value / scale;
  const digits = Math.abs(scaled) >= 100 ? 0 : Math.abs(scaled) >= 10 ? 1 : 2;
  return `${scaled.toFixed(digits)} ${prefix}${unit}`.trim();
}

/** Bytes with binary prefixes: 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}
