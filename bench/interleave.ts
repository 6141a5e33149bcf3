/**
 * Interleaved timing for comparisons on a shared machine: every round runs a block of calls of each
 * case, one case after the other (the order rotates each round), and records the block's wall time and
 * this process's CPU time (user + system). Load from other processes then hits every case of a round
 * alike, so per-round ratios stay meaningful when absolute times drift; CPU time is steadier still (it
 * excludes time spent waiting for a core, though not cache and memory-bandwidth contention).
 */
export interface InterleavedCase {
  name: string;
  /** One call; its result is kept so the work cannot be optimised away. */
  fn: () => unknown;
  /** Calls per block (default 1). */
  calls?: number;
}

export interface InterleavedResult {
  /** Median seconds per call, by case. */
  wall: Record<string, number>;
  cpu: Record<string, number>;
  /** Per-round seconds per call, by case (wall and CPU). */
  samples: Record<string, { wall: number[]; cpu: number[] }>;
}

let sink: unknown;

export function interleaved(
  cases: readonly InterleavedCase[],
  options: { rounds: number; warmupMs?: number },
): InterleavedResult {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`interleaved: duplicate case name '${c.name}'`);
    names.add(c.name);
  }
  for (const c of cases) {
    const t0 = performance.now();
    do sink = c.fn();
    while (performance.now() - t0 < (options.warmupMs ?? 300));
  }
  const samples: InterleavedResult["samples"] = {};
  for (const c of cases) samples[c.name] = { wall: [], cpu: [] };
  for (let r = 0; r < options.rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + r) % cases.length]!;
      const calls = c.calls ?? 1;
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) sink = c.fn();
      const wall = (performance.now() - t0) / 1e3 / calls;
      const u = process.cpuUsage(u0);
      samples[c.name]!.wall.push(wall);
      samples[c.name]!.cpu.push((u.user + u.system) / 1e6 / calls);
    }
  }
  const wall: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  for (const c of cases) {
    wall[c.name] = median(samples[c.name]!.wall);
    cpu[c.name] = median(samples[c.name]!.cpu);
  }
  if (sink === Symbol.for("never")) console.log("");
  return { wall, cpu, samples };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median over rounds of time(a) / time(b), from wall or CPU samples. */
export function roundRatio(
  r: InterleavedResult,
  a: string,
  b: string,
  kind: "wall" | "cpu" = "wall",
): number {
  const xs = r.samples[a]![kind];
  const ys = r.samples[b]![kind];
  return median(xs.map((x, i) => x / ys[i]!));
}
