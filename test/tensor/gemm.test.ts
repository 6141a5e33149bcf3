import { gemm, Rng, type TypedData } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** Everything one gemm call needs, with operands stored in padded buffers at non-zero offsets. */
interface Case {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  A: TypedData;
  aOff: number;
  lda: number;
  B: TypedData;
  bOff: number;
  ldb: number;
  C: TypedData;
  cOff: number;
  ldc: number;
}

const dtypeArb = fc.constantFrom<"float32" | "float64">("float32", "float64");

const caseArb = (dims: fc.Arbitrary<[number, number, number]>) =>
  fc
    .record({
      dims,
      transA: fc.boolean(),
      transB: fc.boolean(),
      alpha: fc.constantFrom(1, -0.5, 2, 0.3),
      beta: fc.constantFrom(0, 1, 0.5, -1.25),
      pad: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)),
      offs: fc.tuple(fc.nat(5), fc.nat(5), fc.nat(5)),
      types: fc.tuple(dtypeArb, dtypeArb, dtypeArb),
      seed: fc.nat(),
    })
    .map((r): Case => {
      const [M, N, K] = r.dims;
      const rng = new Rng(r.seed);
      const [rowsA, colsA] = r.transA ? [K, M] : [M, K];
      const [rowsB, colsB] = r.transB ? [N, K] : [K, N];
      const lda = Math.max(1, colsA) + r.pad[0];
      const ldb = Math.max(1, colsB) + r.pad[1];
      const ldc = Math.max(1, N) + r.pad[2];
      const fill = (dtype: string, n: number): TypedData => {
        const out = dtype === "float32" ? new Float32Array(n) : new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = rng.uniform(-1, 1);
        return out;
      };
      return {
        transA: r.transA,
        transB: r.transB,
        M,
        N,
        K,
        alpha: r.alpha,
        beta: r.beta,
        A: fill(r.types[0], r.offs[0] + rowsA * lda),
        aOff: r.offs[0],
        lda,
        B: fill(r.types[1], r.offs[1] + rowsB * ldb),
        bOff: r.offs[1],
        ldb,
        C: fill(r.types[2], r.offs[2] + M * ldc + 3),
        cOff: r.offs[2],
        ldc,
      };
    });

/** float64 reference straight from the definition; beta = 0 ignores C entirely. */
function referenceGemm(c: Case): Float64Array {
  const out = new Float64Array(c.M * c.N);
  for (let i = 0; i < c.M; i++) {
    for (let j = 0; j < c.N; j++) {
      let s = 0;
      for (let p = 0; p < c.K; p++) {
        const a = c.transA ? c.A[c.aOff + p * c.lda + i]! : c.A[c.aOff + i * c.lda + p]!;
        const b = c.transB ? c.B[c.bOff + j * c.ldb + p]! : c.B[c.bOff + p * c.ldb + j]!;
        s += a * b;
      }
      const prior = c.beta === 0 ? 0 : c.beta * c.C[c.cOff + i * c.ldc + j]!;
      out[i * c.N + j] = c.alpha * s + prior;
    }
  }
  return out;
}

function run(c: Case): void {
  gemm(
    c.transA,
    c.transB,
    c.M,
    c.N,
    c.K,
    c.alpha,
    c.A,
    c.aOff,
    c.lda,
    c.B,
    c.bOff,
    c.ldb,
    c.beta,
    c.C,
    c.cOff,
    c.ldc,
  );
}

/**
 * Runs gemm on a case and compares with the reference. With beta = 0 the C block starts as NaN, which
 * must not leak. Elements of C outside the M×N block (offset, row padding, tail) must be untouched.
 */
function checkCase(c: Case): void {
  if (c.beta === 0) {
    for (let i = 0; i < c.M; i++) c.C.fill(Number.NaN, c.cOff + i * c.ldc, c.cOff + i * c.ldc + c.N);
  }
  const ref = referenceGemm(c);
  const before = Float64Array.from(c.C);
  run(c);
  const f32 = c.C instanceof Float32Array;
  const atol = f32 ? 1e-5 : 1e-12;
  const rtol = f32 ? 1e-5 : 1e-12;
  for (let i = 0; i < c.M; i++) {
    for (let j = 0; j < c.N; j++) {
      const got = c.C[c.cOff + i * c.ldc + j]!;
      const want = ref[i * c.N + j]!;
      if (!(Math.abs(got - want) <= atol + rtol * Math.abs(want))) {
        throw new Error(`C[${i}, ${j}] = ${got}, expected ${want}`);
      }
    }
  }
  for (let k = 0; k < c.C.length; k++) {
    const r = Math.floor((k - c.cOff) / c.ldc);
    const col = k - c.cOff - r * c.ldc;
    const inside = k >= c.cOff && r < c.M && col < c.N;
    if (!inside && !Object.is(c.C[k], before[k])) throw new Error(`C[${k}] outside the block was written`);
  }
}

describe("gemm", () => {
  it("matches the reference on small odd shapes, all transposes, strides, offsets and dtypes", () => {
    const dims = fc.tuple(
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 13 }),
    );
    fc.assert(fc.property(caseArb(dims), checkCase), { numRuns: 300, seed: 1 });
  });

  it("matches the reference across k-blocks, row blocks and column blocks", () => {
    // K above 256 splits the sum into k-blocks (float32 C is rounded between them); M above 64 uses several
    // packed A blocks; N above the packed-B width uses several B blocks.
    const dims = fc.tuple(
      fc.constantFrom(1, 5, 63, 64, 67),
      fc.constantFrom(3, 257, 300),
      fc.constantFrom(1, 255, 256, 257, 530),
    );
    fc.assert(fc.property(caseArb(dims), checkCase), { numRuns: 25, seed: 2 });
  });

  it("handles a small M or N against a huge N or K (im2col and gradient shapes)", () => {
    const dims = fc.tuple(fc.constantFrom(1, 8, 9), fc.constantFrom(1, 7000), fc.constantFrom(1, 9, 16));
    fc.assert(fc.property(caseArb(dims), checkCase), { numRuns: 15, seed: 3 });
    const tall = fc.tuple(fc.constantFrom(8, 16), fc.constantFrom(9, 10), fc.constantFrom(3000));
    fc.assert(fc.property(caseArb(tall), checkCase), { numRuns: 8, seed: 4 });
  });

  it("with beta = 0 overwrites a NaN-filled C", () => {
    const A = Float32Array.from({ length: 6 * 7 }, (_, i) => (i % 5) - 2);
    const B = Float32Array.from({ length: 7 * 5 }, (_, i) => (i % 3) - 1);
    const C = new Float32Array(6 * 5).fill(Number.NaN);
    gemm(false, false, 6, 5, 7, 1, A, 0, 7, B, 0, 5, 0, C, 0, 5);
    expect(C.every((v) => Number.isFinite(v))).toBe(true);
  });

  it("with alpha = 0 or K = 0 scales C by beta without reading A or B", () => {
    const A = new Float64Array(4).fill(Number.NaN);
    const B = new Float64Array(4).fill(Number.NaN);
    const C = Float64Array.from([1, 2, 3, 4]);
    gemm(false, false, 2, 2, 2, 0, A, 0, 2, B, 0, 2, 3, C, 0, 2);
    expect(Array.from(C)).toEqual([3, 6, 9, 12]);
    gemm(false, false, 2, 2, 0, 1, A, 0, 1, B, 0, 2, 0, C, 0, 2);
    expect(Array.from(C)).toEqual([0, 0, 0, 0]);
  });

  it("rejects bad arguments with messages naming the problem", () => {
    const A = new Float32Array(12);
    const B = new Float32Array(12);
    const C = new Float32Array(16);
    expect(() => gemm(false, false, 3, 4, 4, 1, A, 0, 3, B, 0, 4, 0, C, 0, 4)).toThrow(
      /gemm: lda = 3 is too small for A stored M×K \(3×4\)/,
    );
    expect(() => gemm(false, false, 3, 4, 4, 1, A, 0, 4, B, 0, 4, 0, C, 0, 4)).toThrow(
      /gemm: B stored K×N \(4×4, ld 4, offset 0\) needs 16 elements, but its array has 12/,
    );
    expect(() => gemm(false, false, -1, 4, 4, 1, A, 0, 4, B, 0, 4, 0, C, 0, 4)).toThrow(
      /gemm: M must be a non-negative integer, got -1/,
    );
    expect(() => gemm(true, false, 2, 2, 2, 1, C, 0, 2, B, 0, 2, 0, C, 2, 2)).toThrow(/gemm: C overlaps A/);
    const shared = new Float64Array(20);
    const left = shared.subarray(0, 4);
    const right = shared.subarray(4, 8);
    const out = shared.subarray(8, 12);
    expect(() => gemm(false, false, 2, 2, 2, 1, left, 0, 2, right, 0, 2, 0, out, 0, 2)).not.toThrow();
    expect(() => gemm(false, false, 2, 2, 2, 1, left, 0, 2, shared, 6, 2, 0, out, 0, 2)).toThrow(
      /gemm: C overlaps B/,
    );
  });
});
