/**
 * The fused conv → ReLU → max pool, one suite on every backend. Its reference is the unfused composition
 * on the same backend: maxPool2d(relu(conv2d(…))) for the values and indices, and for the gradient wrt
 * the convolution's output mul(maxPool2dBackward(g), greater(c, 0)). Both backends' fused kernels use
 * the same convolution kernels as their conv2d and apply the ReLU and the selection rule exactly, so
 * values and indices must match bit for bit, and the gradients of x, w and bias too (the conv gradient
 * kernels see the same values).
 */
import {
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dReluMaxPool,
  conv2dReluMaxPoolBackward,
  getBackend,
  greater,
  maxPool2d,
  maxPool2dBackward,
  mul,
  type Pool2dOptions,
  Rng,
  relu,
  reluMaxPoolBackward,
  sum,
  type Tensor,
  tensor,
  withBackend,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { expect, it } from "vitest";
import { savedColumnCount } from "../../packages/tensor/src/wasm/conv.js";
import { describeEachBackend, expectSame } from "./backends.js";

const SPECIALS = [Number.NaN, Infinity, -Infinity, 0, -0];

/** Small integers (ties, exact zeros, all-negative windows), uniform values, and rarely specials. */
function values(n: number, seed: number, specialRate: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    out[i] =
      u < specialRate ? SPECIALS[rng.int(SPECIALS.length)]! : u < 0.4 ? rng.int(5) - 3 : rng.uniform(-2, 2);
  }
  return out;
}

/** Equality as numbers (+0 = −0; NaN = NaN): the masked-out gradient is +0 fused, ±0 unfused. */
function expectEqualValues(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!(g === w || (Number.isNaN(g) && Number.isNaN(w))))
      throw new Error(`${what}[${i}] = ${g}, expected ${w}`);
  }
}

const geometry = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  cin: fc.integer({ min: 1, max: 3 }),
  cout: fc.integer({ min: 1, max: 5 }),
  h: fc.integer({ min: 3, max: 11 }),
  w: fc.integer({ min: 3, max: 11 }),
  k: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 2 }),
  pad: fc.integer({ min: 0, max: 1 }),
  bias: fc.boolean(),
  // 0: the 2×2 fast path; otherwise a generic window.
  pool: fc.record({
    kind: fc.integer({ min: 0, max: 1 }),
    k: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 3 }),
    pad: fc.integer({ min: 0, max: 1 }),
    dil: fc.integer({ min: 1, max: 2 }),
  }),
  specials: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1 << 30 }),
});

type Case = {
  x: Tensor;
  w: Tensor;
  b: Tensor | null;
  convOpts: { stride: number; padding: number };
  poolOpts: Pool2dOptions;
};

/** A random case whose pooling is valid on the convolution's output, or null. */
type Geometry = typeof geometry extends fc.Arbitrary<infer R> ? R : never;

function makeCase(c: Geometry): Case | null {
  const hc = Math.floor((c.h + 2 * c.pad - c.k) / c.stride) + 1;
  const wc = Math.floor((c.w + 2 * c.pad - c.k) / c.stride) + 1;
  if (hc < 1 || wc < 1) return null;
  const p = c.pool;
  const poolOpts: Pool2dOptions =
    p.kind === 0 ? { kernel: 2 } : { kernel: p.k, stride: p.stride, padding: p.pad, dilation: p.dil };
  const ext = p.kind === 0 ? 2 : p.dil * (p.k - 1) + 1;
  const pad = p.kind === 0 ? 0 : p.pad;
  if (2 * pad > ext || ext > hc + 2 * pad || ext > wc + 2 * pad || (p.dil > 1 && ext > Math.min(hc, wc)))
    return null;
  const rate = c.specials ? 0.02 : 0;
  return {
    x: tensor(values(c.n * c.cin * c.h * c.w, c.seed, rate), [c.n, c.cin, c.h, c.w]),
    w: tensor(values(c.cout * c.cin * c.k * c.k, c.seed + 1, 0), [c.cout, c.cin, c.k, c.k]),
    b: c.bias ? tensor(values(c.cout, c.seed + 2, 0), [c.cout]) : null,
    convOpts: { stride: c.stride, padding: c.pad },
    poolOpts,
  };
}

describeEachBackend("conv2dReluMaxPool", () => {
  it("pools relu(conv2d(x)) with maxPool2d's values and indices, ties and NaN included", () => {
    fc.assert(
      fc.property(geometry, (g) => {
        const c = makeCase(g);
        fc.pre(c !== null);
        const { x, w, b, convOpts, poolOpts } = c!;
        const fused = conv2dReluMaxPool(x, w, b, convOpts, poolOpts);
        const conv = conv2d(x, w, b, convOpts);
        const ref = maxPool2d(relu(conv), poolOpts);
        expect(fused.convShape).toEqual(conv.shape);
        expect(fused.out.shape).toEqual(ref.out.shape);
        expectSame(fused.out.contiguous().data, ref.out.contiguous().data, "out");
        expectSame(fused.indices, ref.indices, "indices");
      }),
      { numRuns: 60 },
    );
  });

  it("backward: one masked scatter equals relu's mask times maxPool2d's scatter; x, w, bias gradients match", () => {
    fc.assert(
      fc.property(geometry, (g) => {
        const c = makeCase(g);
        fc.pre(c !== null);
        const { x, w, b, convOpts, poolOpts } = c!;
        const fused = conv2dReluMaxPool(x, w, b, convOpts, poolOpts);
        const dy = tensor(values(fused.out.size, g.seed + 3, 0), fused.out.shape);
        const conv = conv2d(x, w, b, convOpts);
        const ref = maxPool2d(relu(conv), poolOpts);
        const dcRef = mul(maxPool2dBackward(dy, ref.indices, conv.shape), greater(conv, 0));
        const dc = reluMaxPoolBackward(dy, fused.out, fused.indices, fused.convShape);
        expectEqualValues(dc.contiguous().data, dcRef.contiguous().data, "dc");

        const grads = conv2dReluMaxPoolBackward(dy, fused, x, w, convOpts, {
          x: true,
          w: true,
          bias: b !== null,
        });
        expectSame(grads.dx!.data, conv2dBackwardInput(dcRef, w, x.shape, convOpts).data, "dx");
        expectSame(grads.dw!.data, conv2dBackwardWeight(dcRef, x, w.shape, convOpts).data, "dw");
        if (b !== null) expectSame(grads.dbias!.data, sum(dcRef, [0, 2, 3]).data, "dbias");
        else expect(grads.dbias).toBeNull();
      }),
      { numRuns: 40 },
    );
  });

  it("selection rules on chosen values (a 1×1 identity convolution exposes the pooling)", () => {
    // Windows of 2×2: all negative → first element (ReLU makes them equal 0s); a tie → the first;
    // NaN wins; −0 and 0 tie as ReLU zeros.
    const x = tensor(
      [
        [-3, -1, 2, 2, Number.NaN, 5, -0, 0],
        [-2, -5, 1, 2, 1, 7, 0, -0],
      ],
      [1, 1, 2, 8],
    );
    const w = tensor([1], [1, 1, 1, 1]);
    const { out, indices } = conv2dReluMaxPool(x, w, null, {}, { kernel: 2 });
    const o = out.contiguous().data;
    expect(o[0]).toBe(0);
    expect(Object.is(o[0], 0)).toBe(true);
    expect(o[1]).toBe(2);
    expect(Number.isNaN(o[2]!)).toBe(true);
    expect(Object.is(o[3], 0)).toBe(true);
    expect([...indices]).toEqual([0, 2, 4, 6]);
    // Only the positive pooled value passes its gradient; the clipped window and the NaN pass none,
    // even an infinite upstream gradient (which the unfused mask product would turn into NaN).
    const dc = reluMaxPoolBackward(tensor([1, 2, 3, Infinity], [1, 1, 1, 4]), out, indices, [1, 1, 2, 8]);
    expect([...dc.contiguous().data]).toEqual([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("float64 and grouped convolutions (the js kernels on every backend) match the composition", () => {
    const rng = new Rng(7);
    const x64 = tensor(
      Array.from({ length: 2 * 4 * 6 * 6 }, () => rng.uniform(-1, 1)),
      [2, 4, 6, 6],
      "float64",
    );
    const w64 = tensor(
      Array.from({ length: 4 * 2 * 9 }, () => rng.uniform(-1, 1)),
      [4, 2, 3, 3],
      "float64",
    );
    const opts = { padding: 1, groups: 2 };
    const fused = conv2dReluMaxPool(x64, w64, null, opts, { kernel: 2 });
    const ref = maxPool2d(relu(conv2d(x64, w64, null, opts)), { kernel: 2 });
    expect(fused.out.dtype).toBe("float64");
    expectSame(fused.out.contiguous().data, ref.out.contiguous().data, "out");
    expectSame(fused.indices, ref.indices, "indices");
  });

  it("keeps the forward's columns for the weight gradient on wasm, as conv2d does", () => {
    const x = tensor(values(2 * 3 * 8 * 8, 11, 0), [2, 3, 8, 8]);
    const w = tensor(values(4 * 3 * 9, 12, 0), [4, 3, 3, 3]);
    // Entries of earlier wasm calls may still be cached (evicted by geometry and bytes, not by age).
    const before = savedColumnCount();
    const fused = conv2dReluMaxPool(x, w, null, { padding: 1 }, { kernel: 2 });
    const kept = savedColumnCount();
    if (getBackend() === "wasm") expect(kept).toBeGreaterThan(0);
    else expect(kept).toBe(before);
    const dy = tensor(values(fused.out.size, 13, 0), fused.out.shape);
    conv2dReluMaxPoolBackward(dy, fused, x, w, { padding: 1 }, { x: false, w: true, bias: false });
    // The weight gradient took x's columns from the cache (the js kernels neither add nor take any).
    expect(savedColumnCount()).toBe(getBackend() === "wasm" ? kept - 1 : before);
  });

  it("2×2 pooling, fused and plain, on rows of every width from 1 to 21 windows (the wasm kernel's vector tail)", () => {
    for (let wout = 1; wout <= 21; wout++) {
      for (const W of [2 * wout, 2 * wout + 1]) {
        const x = tensor(values(2 * 2 * 5 * W, 100 + W, 0.05), [2, 2, 5, W]);
        const id = tensor([1, 0, 0, 1], [2, 2, 1, 1]);
        const fused = conv2dReluMaxPool(x, id, null, {}, { kernel: 2 });
        const plain = maxPool2d(x, { kernel: 2 });
        const ref = withBackend("js", () => ({
          fused: maxPool2d(relu(conv2d(x, id, null)), { kernel: 2 }),
          plain: maxPool2d(x, { kernel: 2 }),
        }));
        expectSame(fused.out.contiguous().data, ref.fused.out.contiguous().data, `fused out W=${W}`);
        expectSame(fused.indices, ref.fused.indices, `fused indices W=${W}`);
        expectSame(plain.out.contiguous().data, ref.plain.out.contiguous().data, `plain out W=${W}`);
        expectSame(plain.indices, ref.plain.indices, `plain indices W=${W}`);
      }
    }
  });

  it("validates its arguments", () => {
    const x = tensor(values(1 * 2 * 4 * 4, 1, 0), [1, 2, 4, 4]);
    const w = tensor(values(3 * 2 * 9, 2, 0), [3, 2, 3, 3]);
    expect(() => conv2dReluMaxPool(x, w, tensor([1, 2], [2]), {}, { kernel: 2 })).toThrow(
      /bias has shape \[2\]/,
    );
    // The 2×2 conv output cannot hold a 3×3 window.
    expect(() => conv2dReluMaxPool(x, w, null, {}, { kernel: 3 })).toThrow(/larger than the padded input/);
    const { out, indices } = conv2dReluMaxPool(x, w, null, { padding: 1 }, { kernel: 2 });
    expect(() => reluMaxPoolBackward(out, out, indices.subarray(1), [1, 3, 4, 4])).toThrow(/indices/);
    expect(() => reluMaxPoolBackward(out, out, indices, [1, 2, 4, 4])).toThrow(/must both be/);
  });
});
