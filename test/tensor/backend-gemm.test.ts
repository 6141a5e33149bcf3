/**
 * gemm and matmul, one suite run on every backend against a float64 reference, within the rounding
 * bound of a sum of K products: |c − ref| ≤ γ(K + 2)·(|α|·Σₖ|aᵢₖ·bₖⱼ| + |β·cᵢⱼ|) with u the unit
 * roundoff of C's type (float32: the wasm kernel accumulates in float32, the js kernel in float64 and
 * rounds per k-block; float64 C: both sum in float64). The +2 covers α folded into A and the final
 * rounding of C. A tiny absolute term absorbs underflow.
 */
import { gemm, matmul, Rng, randn, type Tensor, type TypedData, transpose } from "@quant-trim/tensor";
import fc from "fast-check";
import { expect, it } from "vitest";
import { describeEachBackend, gamma, U32, U64 } from "./backends.js";

interface GemmCase {
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

type DType = "float32" | "float64";

function makeCase(
  M: number,
  N: number,
  K: number,
  opts: {
    transA: boolean;
    transB: boolean;
    alpha: number;
    beta: number;
    pads: [number, number, number];
    offs: [number, number, number];
    types: [DType, DType, DType];
    seed: number;
  },
): GemmCase {
  const rng = new Rng(opts.seed);
  const alloc = (t: DType, n: number) => (t === "float32" ? new Float32Array(n) : new Float64Array(n));
  const filled = (t: DType, n: number) => {
    const x = alloc(t, n);
    // Mixed magnitudes and signs, some exact small integers (cancellation to exactly 0 happens).
    for (let i = 0; i < n; i++) x[i] = rng.next() < 0.3 ? rng.int(5) - 2 : rng.uniform(-3, 3);
    return x;
  };
  const [aRows, aCols] = opts.transA ? [K, M] : [M, K];
  const [bRows, bCols] = opts.transB ? [N, K] : [K, N];
  const lda = Math.max(1, aCols) + opts.pads[0];
  const ldb = Math.max(1, bCols) + opts.pads[1];
  const ldc = Math.max(1, N) + opts.pads[2];
  return {
    transA: opts.transA,
    transB: opts.transB,
    M,
    N,
    K,
    alpha: opts.alpha,
    beta: opts.beta,
    A: filled(opts.types[0], opts.offs[0] + aRows * lda),
    aOff: opts.offs[0],
    lda,
    B: filled(opts.types[1], opts.offs[1] + bRows * ldb),
    bOff: opts.offs[1],
    ldb,
    C: filled(opts.types[2], opts.offs[2] + M * ldc + 2),
    cOff: opts.offs[2],
    ldc,
  };
}

const caseArb = (dims: fc.Arbitrary<[number, number, number]>, types?: fc.Arbitrary<[DType, DType, DType]>) =>
  fc
    .record({
      dims,
      transA: fc.boolean(),
      transB: fc.boolean(),
      alpha: fc.constantFrom(1, -0.5, 2, 0.3),
      beta: fc.constantFrom(0, 1, 0.5, -1.25),
      pads: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)),
      offs: fc.tuple(fc.nat(5), fc.nat(5), fc.nat(5)),
      types:
        types ??
        fc.tuple(
          fc.constantFrom<DType>("float32", "float32", "float64"),
          fc.constantFrom<DType>("float32", "float32", "float64"),
          fc.constantFrom<DType>("float32", "float32", "float64"),
        ),
      seed: fc.nat(),
    })
    .map((r) => makeCase(r.dims[0], r.dims[1], r.dims[2], r));

/** Runs gemm and checks every element of C against the bound, and that nothing outside the block moved. */
function checkGemm(c: GemmCase): void {
  if (c.beta === 0) {
    for (let i = 0; i < c.M; i++) c.C.fill(Number.NaN, c.cOff + i * c.ldc, c.cOff + i * c.ldc + c.N);
  }
  const before = Float64Array.from(c.C);
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
  const u = c.C instanceof Float32Array ? U32 : U64;
  const g = gamma(c.K + 2, u);
  for (let i = 0; i < c.M; i++) {
    for (let j = 0; j < c.N; j++) {
      let exact = 0;
      let magnitude = 0;
      for (let p = 0; p < c.K; p++) {
        const a = c.transA ? c.A[c.aOff + p * c.lda + i]! : c.A[c.aOff + i * c.lda + p]!;
        const b = c.transB ? c.B[c.bOff + j * c.ldb + p]! : c.B[c.bOff + p * c.ldb + j]!;
        exact += a * b;
        magnitude += Math.abs(a * b);
      }
      const prior = c.beta === 0 ? 0 : c.beta * before[c.cOff + i * c.ldc + j]!;
      const want = c.alpha * exact + prior;
      const bound = g * (Math.abs(c.alpha) * magnitude + Math.abs(prior)) + 1e-30;
      const got = c.C[c.cOff + i * c.ldc + j]!;
      if (!(Math.abs(got - want) <= bound)) {
        throw new Error(`C[${i}, ${j}] = ${got}, expected ${want} ± ${bound}`);
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

describeEachBackend("gemm", () => {
  it("small odd shapes, every transpose, padded strides, offsets, mixed dtypes", () => {
    const dims = fc.tuple(
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0, max: 19 }),
    );
    fc.assert(fc.property(caseArb(dims), checkGemm), { numRuns: 250 });
  });

  it("float32 shapes that cross k-blocks, row blocks and column blocks, with edge tiles", () => {
    const dims = fc.tuple(
      fc.constantFrom(1, 3, 4, 5, 129, 131),
      fc.constantFrom(7, 8, 9, 300),
      fc.constantFrom(1, 255, 257, 600),
    );
    const f32: fc.Arbitrary<[DType, DType, DType]> = fc.constant(["float32", "float32", "float32"]);
    fc.assert(fc.property(caseArb(dims, f32), checkGemm), { numRuns: 12 });
  });

  it("im2col-like shapes: a few rows against many columns, and long sums into a small C", () => {
    const f32: fc.Arbitrary<[DType, DType, DType]> = fc.constant(["float32", "float32", "float32"]);
    const wide = fc.tuple(fc.constantFrom(8, 16), fc.constantFrom(3001), fc.constantFrom(9, 72));
    fc.assert(fc.property(caseArb(wide, f32), checkGemm), { numRuns: 4 });
    const long = fc.tuple(fc.constantFrom(8, 16), fc.constantFrom(9, 72), fc.constantFrom(5000));
    fc.assert(fc.property(caseArb(long, f32), checkGemm), { numRuns: 4 });
  });

  it("beta = 0 never reads C (NaN there does not leak); alpha = 0 and K = 0 only scale C", () => {
    const A = Float32Array.from({ length: 9 * 6 }, (_, i) => (i % 5) - 2);
    const B = Float32Array.from({ length: 6 * 10 }, (_, i) => (i % 3) - 1);
    const C = new Float32Array(9 * 10).fill(Number.NaN);
    gemm(false, false, 9, 10, 6, 1, A, 0, 6, B, 0, 10, 0, C, 0, 10);
    expect(C.every(Number.isFinite)).toBe(true);
    const nan = new Float32Array(4).fill(Number.NaN);
    const D = Float32Array.of(1, 2, 3, 4);
    gemm(false, false, 2, 2, 2, 0, nan, 0, 2, nan, 0, 2, 3, D, 0, 2);
    expect(Array.from(D)).toEqual([3, 6, 9, 12]);
  });

  it("NaN and Infinity in A or B propagate as IEEE arithmetic says", () => {
    const A = Float32Array.of(1, Number.NaN, 2, 3, Infinity, 0, 1, 1);
    const B = Float32Array.of(1, 0, 0, 1);
    const C = new Float32Array(8);
    // C = A[4×2] · B[2×2], B the identity: NaN·0 is NaN, Inf·1 + 0·0 is Inf, Inf·0 is NaN.
    gemm(false, false, 4, 2, 2, 1, A, 0, 2, B, 0, 2, 0, C, 0, 2);
    expect(Array.from(C.subarray(0, 2)).map(Number.isNaN)).toEqual([true, true]);
    expect(Array.from(C.subarray(2, 4))).toEqual([2, 3]);
    expect(C[4]).toBe(Infinity);
    expect(Number.isNaN(C[5]!)).toBe(true);
    expect(Array.from(C.subarray(6, 8))).toEqual([1, 1]);
  });
});

describeEachBackend("matmul", () => {
  /** float64 reference of a @ b for 2-D operands, with Σ|terms| for the bound. */
  function reference(a: Tensor, b: Tensor): { want: Float64Array; magnitude: Float64Array } {
    const [M, K] = a.shape as [number, number];
    const N = b.shape[1]!;
    const av = a.contiguous().values();
    const bv = b.contiguous().values();
    const want = new Float64Array(M * N);
    const magnitude = new Float64Array(M * N);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        for (let p = 0; p < K; p++) {
          const t = av[i * K + p]! * bv[p * N + j]!;
          want[i * N + j] += t;
          magnitude[i * N + j] += Math.abs(t);
        }
      }
    }
    return { want, magnitude };
  }

  it("2-D products, transposed views and a batch folded into one GEMM agree with the reference", () => {
    const rng = new Rng(11);
    for (const [M, K, N] of [
      [1, 1, 1],
      [5, 7, 3],
      [33, 65, 17],
      [64, 784, 10],
    ] as const) {
      const a = randn([M, K], rng);
      const b = randn([K, N], rng);
      const bt = randn([N, K], rng);
      for (const [x, y] of [
        [a, b],
        [a, transpose(bt)],
      ] as const) {
        const out = matmul(x, y);
        const { want, magnitude } = reference(x, y);
        const g = gamma(K + 1, U32);
        out.values().forEach((v, i) => {
          expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(g * magnitude[i]! + 1e-30);
        });
      }
    }
    // [3, 5, 6] @ [6, 4]: the stack becomes one 15×6 · 6×4 product.
    const stack = randn([3, 5, 6], rng);
    const w = randn([6, 4], rng);
    const out = matmul(stack, w);
    for (let t = 0; t < 3; t++) {
      for (let i = 0; i < 5; i++) {
        for (let j = 0; j < 4; j++) {
          let s = 0;
          let m = 0;
          for (let p = 0; p < 6; p++) {
            s += stack.get(t, i, p) * w.get(p, j);
            m += Math.abs(stack.get(t, i, p) * w.get(p, j));
          }
          expect(Math.abs(out.get(t, i, j) - s)).toBeLessThanOrEqual(gamma(7, U32) * m + 1e-30);
        }
      }
    }
  });
});
