/**
 * conv2d and its two gradients, one suite on every backend, against a float64 evaluation of the
 * definition. Every output is a sum of n products, so it must lie within γ(n + 2)·Σ|products| (+|bias|)
 * of the exact value, u being float32's unit roundoff (float64's for float64 tensors): n = C·kH·kW for
 * the forward pass, at most Cout·kH·kW for the input gradient, N·Hout·Wout for the weight gradient.
 */
import {
  type Conv2dOptions,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  getBackend,
  Rng,
  randn,
  type Tensor,
  tensor,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { expect, it } from "vitest";
import { savedColumnCount } from "../../packages/tensor/src/wasm/conv.js";
import { describeEachBackend, gamma, U32, U64 } from "./backends.js";

interface Problem {
  x: Tensor;
  w: Tensor;
  bias: Tensor | null;
  dy: Tensor;
  opts: { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number };
}

/** Exact (float64) values and Σ|terms| of y, dx and dw, straight from the definition. */
function reference(p: Problem) {
  const [N, C, H, W] = p.x.shape as [number, number, number, number];
  const [Cout, cinG, kH, kW] = p.w.shape as [number, number, number, number];
  const { stride, padding, dilation, groups } = p.opts;
  const Hout = Math.floor((H + 2 * padding[0] - dilation[0] * (kH - 1) - 1) / stride[0]) + 1;
  const Wout = Math.floor((W + 2 * padding[1] - dilation[1] * (kW - 1) - 1) / stride[1]) + 1;
  const x = p.x.contiguous().values();
  const w = p.w.contiguous().values();
  const dy = p.dy.contiguous().values();
  const b = p.bias?.contiguous().values();
  const y = new Float64Array(N * Cout * Hout * Wout);
  const yAbs = new Float64Array(y.length);
  const dx = new Float64Array(x.length);
  const dxAbs = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const dwAbs = new Float64Array(w.length);
  const coutG = Cout / groups;
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < Cout; co++) {
      const g0 = Math.floor(co / coutG) * cinG;
      for (let oh = 0; oh < Hout; oh++) {
        for (let ow = 0; ow < Wout; ow++) {
          const yi = ((n * Cout + co) * Hout + oh) * Wout + ow;
          y[yi] = b ? b[co]! : 0;
          yAbs[yi] = b ? Math.abs(b[co]!) : 0;
          for (let ci = 0; ci < cinG; ci++) {
            for (let ki = 0; ki < kH; ki++) {
              const ih = oh * stride[0] - padding[0] + ki * dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (let kj = 0; kj < kW; kj++) {
                const iw = ow * stride[1] - padding[1] + kj * dilation[1];
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * C + g0 + ci) * H + ih) * W + iw;
                const wi = ((co * cinG + ci) * kH + ki) * kW + kj;
                y[yi] += x[xi]! * w[wi]!;
                yAbs[yi] += Math.abs(x[xi]! * w[wi]!);
                dx[xi] += dy[yi]! * w[wi]!;
                dxAbs[xi] += Math.abs(dy[yi]! * w[wi]!);
                dw[wi] += dy[yi]! * x[xi]!;
                dwAbs[wi] += Math.abs(dy[yi]! * x[xi]!);
              }
            }
          }
        }
      }
    }
  }
  return {
    y,
    yAbs,
    dx,
    dxAbs,
    dw,
    dwAbs,
    terms: { y: cinG * kH * kW, dx: coutG * kH * kW, dw: N * Hout * Wout },
  };
}

function within(name: string, got: Tensor, want: Float64Array, abs: Float64Array, terms: number): void {
  expect(got.size).toBe(want.length);
  const u = got.dtype === "float32" ? U32 : U64;
  const g = gamma(terms + 2, u);
  const v = got.contiguous().values();
  for (let i = 0; i < want.length; i++) {
    const bound = g * abs[i]! + 1e-30;
    if (!(Math.abs(v[i]! - want[i]!) <= bound)) {
      throw new Error(`${name}[${i}] = ${v[i]}, expected ${want[i]} ± ${bound}`);
    }
  }
}

function check(p: Problem): void {
  const ref = reference(p);
  const y = conv2d(p.x, p.w, p.bias, p.opts);
  within("y", y, ref.y, ref.yAbs, ref.terms.y);
  within("dx", conv2dBackwardInput(p.dy, p.w, p.x.shape, p.opts), ref.dx, ref.dxAbs, ref.terms.dx);
  within("dw", conv2dBackwardWeight(p.dy, p.x, p.w.shape, p.opts), ref.dw, ref.dwAbs, ref.terms.dw);
}

const problemArb = (dtypes: fc.Arbitrary<"float32" | "float64">, groups: fc.Arbitrary<number>) =>
  fc
    .record({
      N: fc.integer({ min: 1, max: 4 }),
      cinG: fc.integer({ min: 1, max: 3 }),
      coutG: fc.integer({ min: 1, max: 6 }),
      groups,
      H: fc.integer({ min: 1, max: 9 }),
      W: fc.integer({ min: 1, max: 11 }),
      kH: fc.integer({ min: 1, max: 3 }),
      kW: fc.integer({ min: 1, max: 3 }),
      stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      padding: fc.tuple(fc.nat(2), fc.nat(2)),
      dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      bias: fc.boolean(),
      dtype: dtypes,
      seed: fc.nat(),
    })
    .filter(
      (r) =>
        r.dilation[0] * (r.kH - 1) + 1 <= r.H + 2 * r.padding[0] &&
        r.dilation[1] * (r.kW - 1) + 1 <= r.W + 2 * r.padding[1],
    )
    .map((r): Problem => {
      const rng = new Rng(r.seed);
      const C = r.cinG * r.groups;
      const Cout = r.coutG * r.groups;
      const opts = { stride: r.stride, padding: r.padding, dilation: r.dilation, groups: r.groups };
      const x = randn([r.N, C, r.H, r.W], rng, 0, 1, r.dtype);
      const w = randn([Cout, r.cinG, r.kH, r.kW], rng, 0, 1, r.dtype);
      const bias = r.bias ? randn([Cout], rng, 0, 1, r.dtype) : null;
      const Hout = Math.floor((r.H + 2 * r.padding[0] - r.dilation[0] * (r.kH - 1) - 1) / r.stride[0]) + 1;
      const Wout = Math.floor((r.W + 2 * r.padding[1] - r.dilation[1] * (r.kW - 1) - 1) / r.stride[1]) + 1;
      const dy = randn([r.N, Cout, Hout, Wout], rng, 0, 1, r.dtype);
      return { x, w, bias, dy, opts };
    });

describeEachBackend("conv2d", () => {
  it("float32, one group: strides, padding, dilation, bias, edge sizes", () => {
    fc.assert(fc.property(problemArb(fc.constant("float32"), fc.constant(1)), check), { numRuns: 120 });
  });

  it("grouped and float64 convolutions (the js kernels on every backend)", () => {
    fc.assert(
      fc.property(problemArb(fc.constantFrom("float32", "float64"), fc.integer({ min: 1, max: 3 })), check),
      { numRuns: 40 },
    );
  });

  it("the MNIST CNN's layer shapes, batch 24: several chunks of images, a partial last chunk", () => {
    const rng = new Rng(5);
    const pad1: Conv2dOptions = { padding: 1 };
    for (const [C, Cout, HW] of [
      [1, 8, 28],
      [8, 16, 14],
    ] as const) {
      const x = randn([24, C, HW, HW], rng);
      const w = randn([Cout, C, 3, 3], rng, 0, 0.3);
      const bias = randn([Cout], rng);
      const dy = randn([24, Cout, HW, HW], rng);
      check({ x, w, bias, dy, opts: { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 } });
      expect(conv2d(x, w, bias, pad1).shape).toEqual([24, Cout, HW, HW]);
    }
  });

  it("the weight gradient is the same whether the forward pass's columns are reused or rebuilt", () => {
    const rng = new Rng(9);
    const opts: Conv2dOptions = { padding: 1, stride: [1, 2] };
    const x = randn([3, 2, 7, 9], rng);
    const w = randn([5, 2, 3, 3], rng);
    const dy = randn([3, 5, 7, 5], rng);
    const rebuilt = conv2dBackwardWeight(dy, x, w.shape, opts).toArray();
    conv2d(x, w, null, opts);
    expect(conv2dBackwardWeight(dy, x, w.shape, opts).toArray()).toEqual(rebuilt);
    // x changed in place between the forward and the backward pass: its new values must be used.
    conv2d(x, w, null, opts);
    x.data[4] += 1;
    x.data[100] = -7;
    const changed = conv2dBackwardWeight(dy, x, w.shape, opts).toArray();
    expect(changed).toEqual(conv2dBackwardWeight(dy, x.copy(), w.shape, opts).toArray());
    expect(changed).not.toEqual(rebuilt);
  });

  it("forward passes without a backward pass keep a bounded number of column buffers", () => {
    const rng = new Rng(2);
    const w = randn([4, 3, 3, 3], rng);
    const before = savedColumnCount();
    for (let i = 0; i < 10; i++) conv2d(randn([2, 3, 8, 8], rng), w, null, { padding: 1 });
    // At most one per geometry; other geometries' entries may be dropped meanwhile, never added.
    expect(savedColumnCount() - before).toBeLessThanOrEqual(getBackend() === "wasm" ? 1 : 0);
  });

  it("NaN and Infinity in x reach exactly the outputs whose windows contain them", () => {
    const x = tensor([[[[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]]]);
    x.data[2] = Number.NaN;
    x.data[7] = Infinity;
    const y = conv2d(x, tensor([[[[1, 1, 1]]]]), null, {}).toArray();
    expect(y.map((v) => (Number.isNaN(v) ? "nan" : v))).toEqual([
      "nan",
      "nan",
      "nan",
      15,
      18,
      Infinity,
      Infinity,
      Infinity,
    ]);
  });
});
