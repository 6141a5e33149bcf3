/**
 * The seeded generator is part of the reproducibility contract (same seed → same bits on every machine),
 * so its algorithm is pinned here against an independent BigInt re-implementation of the documented
 * design: SplitMix32 seeding (golden-ratio increment, then the xor-shift/multiply finaliser with
 * constants 0x85ebca6b and 0xc2b2ae35) and xoshiro128** (Blackman & Vigna) for the stream. Any change to
 * the generator fails these tests.
 */
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const MASK = (1n << 32n) - 1n;
const u32 = (x: bigint) => x & MASK;
const rotl = (x: bigint, k: bigint) => u32((x << k) | (x >> (32n - k)));

/** ToUint32 of the seed, then four SplitMix32 outputs as the xoshiro state. */
function referenceState(seed: number): bigint[] {
  let x = BigInt.asUintN(32, BigInt(Math.trunc(seed)));
  const state: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    x = u32(x + 0x9e3779b9n);
    let z = x;
    z = u32((z ^ (z >> 16n)) * 0x85ebca6bn);
    z = u32((z ^ (z >> 13n)) * 0xc2b2ae35n);
    state.push(z ^ (z >> 16n));
  }
  if (state.reduce((acc, s) => acc | s, 0n) === 0n) state[0] = 1n;
  return state;
}

/** xoshiro128**: returns the output and advances `s` in place. */
function referenceNext(s: bigint[]): bigint {
  const [s0, s1, s2, s3] = s as [bigint, bigint, bigint, bigint];
  const result = u32(rotl(u32(s1 * 5n), 7n) * 9n);
  const t = u32(s1 << 9n);
  let n2 = s2 ^ s0;
  let n3 = s3 ^ s1;
  const n1 = s1 ^ n2;
  const n0 = s0 ^ n3;
  n2 ^= t;
  n3 = rotl(n3, 11n);
  s[0] = n0;
  s[1] = n1;
  s[2] = n2;
  s[3] = n3;
  return result;
}

function referenceWords(seed: number, count: number): number[] {
  const s = referenceState(seed);
  return Array.from({ length: count }, () => Number(referenceNext(s)));
}

describe("Rng algorithm (pinned)", () => {
  it("the reference xoshiro128** reproduces the published test vector for state (1, 2, 3, 4)", () => {
    // First outputs of xoshiro128** from state s = {1, 2, 3, 4}, as listed by common implementations'
    // test suites; guards the reference itself against a transcription slip.
    const s = [1n, 2n, 3n, 4n];
    const words = Array.from({ length: 10 }, () => Number(referenceNext(s)));
    expect(words).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it("nextUint32 equals SplitMix32-seeded xoshiro128** for any seed", () => {
    const seeds = [0, 1, 42, 123456789, 0xffffffff, -1, 2 ** 40 + 5, 3.7, -2.5];
    for (const seed of seeds) {
      const rng = new Rng(seed);
      expect(Array.from({ length: 200 }, () => rng.nextUint32())).toEqual(referenceWords(seed, 200));
    }
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (seed) => {
        const rng = new Rng(seed);
        expect(Array.from({ length: 8 }, () => rng.nextUint32())).toEqual(referenceWords(seed, 8));
      }),
      { numRuns: 100 },
    );
  });

  it("the default seed is 0", () => {
    const rng = new Rng();
    expect(Array.from({ length: 5 }, () => rng.nextUint32())).toEqual(referenceWords(0, 5));
  });

  it("next() takes 27 + 26 bits of two words; nextFloat32() the top 24 bits of one", () => {
    const seed = 2024;
    const words = referenceWords(seed, 300);
    const rng = new Rng(seed);
    for (let i = 0; i < 100; i++) {
      const hi = BigInt(words[2 * i]!) >> 5n;
      const lo = BigInt(words[2 * i + 1]!) >> 6n;
      expect(rng.next()).toBe(Number((hi << 26n) | lo) / 2 ** 53);
    }
    for (let i = 200; i < 300; i++) {
      const v = rng.nextFloat32();
      expect(v).toBe(Number(BigInt(words[i]!) >> 8n) / 2 ** 24);
      expect(Math.fround(v)).toBe(v);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  });

  it("int(n) rejects words at or above the largest multiple of n below 2^32, then takes the remainder", () => {
    for (const n of [1, 3, 10, 1000, 2 ** 31 + 1, 2 ** 32]) {
      const words = referenceWords(99, 400);
      const rng = new Rng(99);
      const limit = 2n ** 32n - (2n ** 32n % BigInt(n));
      let k = 0;
      for (let i = 0; i < 100; i++) {
        let w = BigInt(words[k++]!);
        while (w >= limit) w = BigInt(words[k++]!);
        expect(rng.int(n)).toBe(Number(w % BigInt(n)));
      }
    }
  });

  it("normal() is Box–Muller on two next() values, caching the sine branch", () => {
    const u = new Rng(5);
    const rng = new Rng(5);
    for (let i = 0; i < 50; i++) {
      let a = 0;
      while (a === 0) a = u.next();
      const b = u.next();
      const r = Math.sqrt(-2 * Math.log(a));
      expect(rng.normal()).toBe(r * Math.cos(2 * Math.PI * b));
      expect(rng.normal(1, 2)).toBe(1 + 2 * (r * Math.sin(2 * Math.PI * b)));
    }
  });

  it("permutation(n) is Fisher–Yates from the last index down with int(i + 1)", () => {
    const u = new Rng(11);
    const rng = new Rng(11);
    const want = [...Array(20).keys()];
    for (let i = 19; i > 0; i--) {
      const j = u.int(i + 1);
      [want[i], want[j]] = [want[j]!, want[i]!];
    }
    expect(Array.from(rng.permutation(20))).toEqual(want);
  });

  it("fork() seeds a new generator with the parent's next word", () => {
    const parent = new Rng(8);
    const child = parent.fork();
    const seed = referenceWords(8, 1)[0]!;
    expect(Array.from({ length: 5 }, () => child.nextUint32())).toEqual(referenceWords(seed, 5));
    expect(parent.nextUint32()).toBe(referenceWords(8, 2)[1]);
  });
});

describe("Rng determinism and sanity", () => {
  it("same seed, same streams (every method); different seeds differ", () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const draw = (rng: Rng) => [
          rng.nextUint32(),
          rng.next(),
          rng.nextFloat32(),
          rng.uniform(-2, 3),
          rng.int(17),
          rng.normal(),
          rng.normal(),
          ...rng.permutation(6),
          rng.fork().nextUint32(),
        ];
        expect(draw(new Rng(seed))).toEqual(draw(new Rng(seed)));
        expect(new Rng(seed).nextUint32()).not.toBe(new Rng(seed + 1).nextUint32());
      }),
      { numRuns: 50 },
    );
  });

  it("uniform and normal have the right first two moments (10k draws)", () => {
    const rng = new Rng(1234);
    const n = 10_000;
    const us = Array.from({ length: n }, () => rng.next());
    const mean = us.reduce((p, x) => p + x, 0) / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(us.every((x) => x >= 0 && x < 1)).toBe(true);
    const zs = Array.from({ length: n }, () => rng.normal());
    const zm = zs.reduce((p, x) => p + x, 0) / n;
    const zv = zs.reduce((p, x) => p + (x - zm) ** 2, 0) / n;
    expect(Math.abs(zm)).toBeLessThan(0.04);
    expect(Math.abs(zv - 1)).toBeLessThan(0.05);
  });

  it("bad arguments fail with a message naming the method", () => {
    expect(() => new Rng(Number.NaN)).toThrow("Rng: seed must be a finite number, got NaN");
    expect(() => new Rng(Infinity)).toThrow("Rng: seed must be a finite number, got Infinity");
    expect(() => new Rng(1).int(0)).toThrow("Rng.int: n must be an integer in [1, 2^32], got 0");
    expect(() => new Rng(1).int(2.5)).toThrow(/^Rng.int: n must be an integer/);
  });
});
