import {
  broadcastShapes,
  expand,
  matmul,
  permute,
  Rng,
  randn,
  reshape,
  slice,
  Tensor,
  tensor,
  transpose,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";

/** float64 NumPy-matmul reference built from element access only (no shared code with the kernel). */
function referenceMatmul(a: Tensor, b: Tensor): { shape: number[]; values: number[] } {
  const a2 = a.ndim === 1 ? reshape(a.contiguous(), [1, a.shape[0]!]) : a;
  const b2 = b.ndim === 1 ? reshape(b.contiguous(), [b.shape[0]!, 1]) : b;
  const M = a2.shape[a2.ndim - 2]!;
  const K = a2.shape[a2.ndim - 1]!;
  const N = b2.shape[b2.ndim - 1]!;
  const batch = broadcastShapes("ref", a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const ae = expand(a2, [...batch, M, K]);
  const be = expand(b2, [...batch, K, N]);
  const values: number[] = [];
  const count = batch.reduce((x, y) => x * y, 1);
  for (let t = 0; t < count; t++) {
    const idx: number[] = [];
    let rest = t;
    for (let ax = batch.length - 1; ax >= 0; ax--) {
      idx.unshift(rest % batch[ax]!);
      rest = Math.floor(rest / batch[ax]!);
    }
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let p = 0; p < K; p++) s += ae.get(...idx, i, p) * be.get(...idx, p, j);
        values.push(s);
      }
    }
  }
  const shape = [...batch];
  if (a.ndim > 1) shape.push(M);
  if (b.ndim > 1) shape.push(N);
  return { shape, values };
}

function expectClose(got: Tensor, want: { shape: number[]; values: number[] }, tol: number): void {
  expect(got.shape).toEqual(want.shape);
  expect(got.isContiguous()).toBe(true);
  const g = got.toArray();
  for (let i = 0; i < g.length; i++) {
    const w = want.values[i]!;
    if (!(Math.abs(g[i]! - w) <= tol + tol * Math.abs(w))) {
      throw new Error(`element ${i}: got ${g[i]}, expected ${w}`);
    }
  }
}

type Layout = "contiguous" | "transposed" | "strided";

/**
 * A tensor with the given logical shape whose last two axes are stored as asked: row-major, as a transposed
 * view of a column-major buffer (no copy needed), or with a column step of 2 (must be copied).
 */
function makeOperand(shape: number[], layout: Layout, rng: Rng, dtype: "float32" | "float64"): Tensor {
  if (shape.length < 2 || layout === "contiguous") return randn(shape, rng, 0, 1, dtype);
  const n = shape.length;
  if (layout === "transposed") {
    const stored = [...shape.slice(0, -2), shape[n - 1]!, shape[n - 2]!];
    return transpose(randn(stored, rng, 0, 1, dtype));
  }
  const wide = [...shape.slice(0, -1), shape[n - 1]! * 2];
  return slice(randn(wide, rng, 0, 1, dtype), [...shape.slice(0, -1).map(() => null), [0, undefined, 2]]);
}

const layoutArb = fc.constantFrom<Layout>("contiguous", "transposed", "strided");

describe("matmul", () => {
  afterEach(() => vi.restoreAllMocks());

  it("matches the reference for 2-D and batched operands with broadcast batch axes and any layout", () => {
    const arb = fc.record({
      M: fc.integer({ min: 1, max: 9 }),
      K: fc.integer({ min: 0, max: 9 }),
      N: fc.integer({ min: 1, max: 9 }),
      batchA: fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }),
      batchB: fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }),
      layoutA: layoutArb,
      layoutB: layoutArb,
      f64: fc.boolean(),
      seed: fc.nat(),
    });
    fc.assert(
      fc.property(arb, (r) => {
        // Make the batch shapes broadcastable: where both have an axis, equal or one of them 1.
        const batchB = r.batchB.map((d, i) => {
          const j = r.batchA.length - r.batchB.length + i;
          const other = j >= 0 ? r.batchA[j]! : 1;
          return d === 1 || other === 1 ? d : other;
        });
        const rng = new Rng(r.seed);
        const dtype = r.f64 ? "float64" : "float32";
        const a = makeOperand([...r.batchA, r.M, r.K], r.layoutA, rng, dtype);
        const b = makeOperand([...batchB, r.K, r.N], r.layoutB, rng, "float32");
        const out = matmul(a, b);
        expect(out.dtype).toBe(dtype);
        expectClose(out, referenceMatmul(a, b), r.f64 ? 1e-6 : 1e-5);
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  it("follows NumPy for 1-D operands", () => {
    const rng = new Rng(5);
    const v = randn([4], rng, 0, 1, "float64");
    const w = randn([4], rng, 0, 1, "float64");
    const m = randn([4, 3], rng, 0, 1, "float64");
    const s = randn([2, 3, 4], rng, 0, 1, "float64");
    for (const [a, b, shape] of [
      [v, w, []],
      [v, m, [3]],
      [transpose(m), v, [3]],
      [s, v, [2, 3]],
      [v, permute(s, [0, 2, 1]), [2, 3]],
      [slice(v, [[0, undefined, 2]]), slice(m, [[1, undefined, 2]]), [3]],
    ] as [Tensor, Tensor, number[]][]) {
      const out = matmul(a, b);
      expect(out.shape).toEqual(shape);
      expectClose(out, referenceMatmul(a, b), 1e-12);
    }
  });

  it("reads transposed views in place instead of copying them", () => {
    const rng = new Rng(9);
    const x = randn([5, 7], rng);
    const y = randn([6, 7], rng);
    const stack = randn([3, 7, 5], rng);
    const copy = vi.spyOn(Tensor.prototype, "copy");
    const out1 = matmul(x, transpose(y));
    const out2 = matmul(transpose(stack), transpose(x));
    expect(copy).not.toHaveBeenCalled();
    copy.mockRestore();
    expectClose(out1, referenceMatmul(x, transpose(y)), 1e-5);
    expectClose(out2, referenceMatmul(transpose(stack), transpose(x)), 1e-5);
  });

  it("folds a stack times a shared matrix into one product, and still copies truly strided operands", () => {
    const rng = new Rng(10);
    const stack = randn([2, 3, 4, 5], rng);
    const w = randn([5, 6], rng);
    expectClose(matmul(stack, w), referenceMatmul(stack, w), 1e-5);
    // Row-major matrices whose batch axes are permuted or stepped cannot be folded into one product.
    const swapped = permute(stack, [1, 0, 2, 3]);
    expectClose(matmul(swapped, w), referenceMatmul(swapped, w), 1e-5);
    const everyOther = slice(randn([5, 4, 5], rng), [[0, undefined, 2]]);
    expectClose(matmul(everyOther, w), referenceMatmul(everyOther, w), 1e-5);
    const stepped = slice(randn([4, 10], rng), [null, [0, undefined, 2]]);
    const copy = vi.spyOn(Tensor.prototype, "copy");
    const out = matmul(stepped, w);
    expect(copy).toHaveBeenCalled();
    copy.mockRestore();
    expectClose(out, referenceMatmul(stepped, w), 1e-5);
  });

  it("handles empty dimensions", () => {
    expect(matmul(tensor([], [0, 3]), tensor([1, 2, 3, 4, 5, 6], [3, 2])).shape).toEqual([0, 2]);
    const z = matmul(tensor([], [2, 0]), tensor([], [0, 3]));
    expect(z.shape).toEqual([2, 3]);
    expect(z.toArray()).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("names the shapes in its errors", () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor(new Array(20).fill(1), [4, 5]);
    expect(() => matmul(a, b)).toThrow("matmul: inner dimensions differ: [2, 3] @ [4, 5]");
    expect(() => matmul(tensor(1), a)).toThrow(
      /matmul: scalar operands are not allowed, got \[\] @ \[2, 3\]/,
    );
    const s = tensor(new Array(24).fill(1), [2, 3, 4]);
    const t = tensor(new Array(60).fill(1), [3, 4, 5]);
    expect(() => matmul(s, t)).toThrow(
      "matmul: batch dimensions [2] and [3] cannot be broadcast ([2, 3, 4] @ [3, 4, 5])",
    );
  });
});
