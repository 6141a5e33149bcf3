/**
 * gemmInt8Wasm against a naive JavaScript reference, bit for bit: zero points subtracted, products
 * summed exactly and wrapped to int32; in pair-saturation mode, raw u8 × s8 products summed two by two
 * along k (k = 2j, 2j + 1 from 0; an odd K's last product alone), each pair clamped to int16, then the
 * zero-point correction. Shapes cross the kernel's k-, row- and column-blocks and its edge tiles.
 */
import { gemmInt8Wasm, Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

interface Case {
  M: number;
  N: number;
  K: number;
  A: Uint8Array | Int8Array;
  za: number;
  B: Int8Array;
  layout: "KxN" | "NxK";
  zb: Int32Array | number;
  pairs: boolean;
}

function reference(c: Case): Int32Array {
  const { M, N, K, A, za, B, layout, zb, pairs } = c;
  const b = (k: number, j: number) => (layout === "KxN" ? B[k * N + j]! : B[j * K + k]!);
  const zbOf = (j: number) => (typeof zb === "number" ? zb : zb[j]!);
  const out = new Int32Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      if (!pairs) {
        for (let k = 0; k < K; k++) s += (A[i * K + k]! - za) * (b(k, j) - zbOf(j));
      } else {
        for (let k = 0; k < K; k += 2) {
          let p = A[i * K + k]! * b(k, j);
          if (k + 1 < K) p += A[i * K + k + 1]! * b(k + 1, j);
          s += Math.min(32767, Math.max(-32768, p));
        }
        let rowA = 0;
        let colB = 0;
        for (let k = 0; k < K; k++) {
          rowA += A[i * K + k]!;
          colB += b(k, j);
        }
        s += -za * colB - zbOf(j) * rowA + K * za * zbOf(j);
      }
      out[i * N + j] = s | 0; // |s| < 2^53 here, so ToInt32 wraps it exactly
    }
  }
  return out;
}

function makeCase(
  M: number,
  N: number,
  K: number,
  opts: {
    unsigned: boolean;
    layout: "KxN" | "NxK";
    perColumn: boolean;
    pairs: boolean;
    seed: number;
    extreme: boolean;
  },
): Case {
  const rng = new Rng(opts.seed);
  const A = opts.unsigned ? new Uint8Array(M * K) : new Int8Array(M * K);
  const [aLo, aHi] = opts.unsigned ? [0, 255] : [-128, 127];
  for (let i = 0; i < A.length; i++)
    A[i] = opts.extreme && rng.next() < 0.7 ? aHi : aLo + rng.int(aHi - aLo + 1);
  const B = new Int8Array(K * N);
  for (let i = 0; i < B.length; i++)
    B[i] = opts.extreme && rng.next() < 0.7 ? (i % 3 ? 127 : -128) : rng.int(256) - 128;
  const za = aLo + rng.int(aHi - aLo + 1);
  const zb = opts.perColumn ? Int32Array.from({ length: N }, () => rng.int(256) - 128) : rng.int(256) - 128;
  return { M, N, K, A, za, B, layout: opts.layout, zb, pairs: opts.pairs };
}

function check(c: Case): void {
  const out = new Int32Array(c.M * c.N).fill(123456);
  gemmInt8Wasm(c.M, c.N, c.K, c.A, c.za, c.B, c.layout, c.zb, out, c.pairs);
  const want = reference(c);
  for (let i = 0; i < want.length; i++) {
    if (out[i] !== want[i]) throw new Error(`out[${i}] = ${out[i]}, expected ${want[i]}`);
  }
}

const optsArb = fc.record({
  unsigned: fc.boolean(),
  layout: fc.constantFrom<"KxN" | "NxK">("KxN", "NxK"),
  perColumn: fc.boolean(),
  pairs: fc.boolean(),
  seed: fc.nat(),
  extreme: fc.boolean(),
});

describe("gemmInt8Wasm", () => {
  it("matches the reference exactly on small shapes (odd K, edge tiles), both layouts and zero points", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 11 }),
        fc.integer({ min: 1, max: 19 }),
        fc.integer({ min: 1, max: 23 }),
        optsArb,
        (M, N, K, o) => check(makeCase(M, N, K, { ...o, unsigned: o.unsigned || o.pairs })),
      ),
      { numRuns: 300 },
    );
  });

  it("matches across k-blocks, row blocks and column blocks", () => {
    for (const [M, N, K] of [
      [133, 9, 1031],
      [5, 1030, 7],
      [130, 40, 513],
      [64, 256, 784],
    ] as const) {
      for (const pairs of [false, true]) {
        check(
          makeCase(M, N, K, {
            unsigned: true,
            layout: "KxN",
            perColumn: true,
            pairs,
            seed: M + N + K,
            extreme: pairs,
          }),
        );
        check(
          makeCase(M, N, K, {
            unsigned: pairs, // signed A without pair saturation, u8 with it
            layout: "NxK",
            perColumn: false,
            pairs,
            seed: 7,
            extreme: false,
          }),
        );
      }
    }
  });

  it("pair saturation clamps each u8×s8 pair to int16, and only there", () => {
    // 255·127 + 255·127 = 64770 clamps to 32767; 255·(−128)·2 = −65280 clamps to −32768.
    const A = Uint8Array.of(255, 255, 255);
    const B = Int8Array.of(127, -128, 127, -128, 127, -128); // K×N with N = 2
    const out = new Int32Array(2);
    gemmInt8Wasm(1, 2, 3, A, 0, B, "KxN", 0, out, true);
    expect(Array.from(out)).toEqual([32767 + 255 * 127, -32768 + 255 * -128]);
    gemmInt8Wasm(1, 2, 3, A, 0, B, "KxN", 0, out, false);
    expect(Array.from(out)).toEqual([3 * 255 * 127, 3 * 255 * -128]);
  });

  it("wraps an int32 overflow of the accumulator instead of clamping it", () => {
    const K = 40000; // 40000 · 255 · 255 > 2^31
    const c: Case = {
      M: 1,
      N: 1,
      K,
      A: new Uint8Array(K).fill(255),
      za: 0,
      B: new Int8Array(K).fill(-128),
      layout: "KxN",
      zb: 127,
      pairs: false,
    };
    check(c);
    const out = new Int32Array(1);
    gemmInt8Wasm(1, 1, K, c.A, 0, c.B, "KxN", 127, out);
    expect(out[0]).toBe((K * 255 * -255) | 0);
    expect(out[0]).not.toBe(K * 255 * -255);
  });

  it("K = 0 gives zeros; empty M or N leave out alone", () => {
    const out = new Int32Array(6).fill(5);
    gemmInt8Wasm(2, 3, 0, new Uint8Array(0), 0, new Int8Array(0), "KxN", 0, out);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(
      gemmInt8Wasm(0, 3, 2, new Uint8Array(0), 0, new Int8Array(6), "KxN", 0, new Int32Array(0)),
    ).toHaveLength(0);
  });

  it("rejects bad arguments, naming the function and the argument", () => {
    const A = new Uint8Array(6);
    const B = new Int8Array(6);
    const out = new Int32Array(4);
    const call = (over: Partial<Record<string, unknown>>) => () =>
      gemmInt8Wasm(
        (over.M ?? 2) as number,
        (over.N ?? 2) as number,
        (over.K ?? 3) as number,
        (over.A ?? A) as Uint8Array,
        (over.za ?? 0) as number,
        (over.B ?? B) as Int8Array,
        (over.layout ?? "KxN") as "KxN",
        (over.zb ?? 0) as number,
        (over.out ?? out) as Int32Array,
        (over.pairs ?? false) as boolean,
      );
    expect(call({ M: -1 })).toThrow(/gemmInt8Wasm: M must be a non-negative integer/);
    expect(call({ A: new Float32Array(6) })).toThrow(/gemmInt8Wasm: A must be a Uint8Array or an Int8Array/);
    expect(call({ A: new Uint8Array(5) })).toThrow(/gemmInt8Wasm: A must hold M·K = 6 values, got 5/);
    expect(call({ B: new Uint8Array(6) })).toThrow(/gemmInt8Wasm: B must be an Int8Array/);
    expect(call({ layout: "KN" })).toThrow(/gemmInt8Wasm: bLayout must be "KxN" or "NxK"/);
    expect(call({ out: new Int32Array(3) })).toThrow(/gemmInt8Wasm: out must be an Int32Array of M·N = 4/);
    expect(call({ za: 256 })).toThrow(/gemmInt8Wasm: aZeroPoint must be an integer in \[0, 255\], got 256/);
    expect(call({ A: new Int8Array(6), za: 200 })).toThrow(/aZeroPoint must be an integer in \[-128, 127\]/);
    expect(call({ zb: 128 })).toThrow(
      /gemmInt8Wasm: bZeroPoints must be an integer in \[-128, 127\], got 128/,
    );
    expect(call({ zb: new Int32Array(3) })).toThrow(/bZeroPoints must be a number or an Int32Array of N = 2/);
    expect(call({ zb: Int32Array.of(0, -129) })).toThrow(/bZeroPoints\[1\] = -129 is outside int8/);
    expect(call({ A: new Int8Array(6), pairs: true })).toThrow(
      /pairSaturation models u8 × s8.*A must be a Uint8Array/,
    );
  });
});
