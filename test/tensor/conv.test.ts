import {
  type Conv2dOptions,
  col2im,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dOutputShape,
  im2col,
  Rng,
  randn,
  type Tensor,
  tensor,
  zeros,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randnNCHW } from "./arbitraries.js";

interface Problem {
  x: Tensor;
  w: Tensor;
  bias: Tensor | null;
  dy: Tensor;
  opts: Required<Conv2dOptions>;
  kH: number;
  kW: number;
}

/**
 * Naive float64 convolution straight from the definition, with its two adjoints computed in the same loop:
 * y[n,co,oh,ow] = b[co] + Σ x[n, g·cinG+ci, oh·sH−pH+ki·dH, ow·sW−pW+kj·dW] · w[co,ci,ki,kj].
 */
function reference(p: Problem) {
  const [N, C, H, W] = p.x.shape as number[] as [number, number, number, number];
  const [Cout, cinG, kH, kW] = p.w.shape as number[] as [number, number, number, number];
  const [sH, sW] = p.opts.stride as [number, number];
  const [pH, pW] = p.opts.padding as [number, number];
  const [dH, dW] = p.opts.dilation as [number, number];
  const coutG = Cout / p.opts.groups;
  const Hout = Math.floor((H + 2 * pH - dH * (kH - 1) - 1) / sH) + 1;
  const Wout = Math.floor((W + 2 * pW - dW * (kW - 1) - 1) / sW) + 1;
  const xv = p.x.toArray();
  const wv = p.w.toArray();
  const dyv = p.dy.toArray();
  const bv = p.bias?.toArray();
  const y = new Float64Array(N * Cout * Hout * Wout);
  const dx = new Float64Array(xv.length);
  const dw = new Float64Array(wv.length);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < Cout; co++) {
      const grp = Math.floor(co / coutG);
      for (let oh = 0; oh < Hout; oh++) {
        for (let ow = 0; ow < Wout; ow++) {
          const yi = ((n * Cout + co) * Hout + oh) * Wout + ow;
          let s = bv ? bv[co]! : 0;
          for (let ci = 0; ci < cinG; ci++) {
            for (let ki = 0; ki < kH; ki++) {
              for (let kj = 0; kj < kW; kj++) {
                const ih = oh * sH - pH + ki * dH;
                const iw = ow * sW - pW + kj * dW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const xi = ((n * C + grp * cinG + ci) * H + ih) * W + iw;
                const wi = ((co * cinG + ci) * kH + ki) * kW + kj;
                s += xv[xi]! * wv[wi]!;
                dx[xi]! += wv[wi]! * dyv[yi]!;
                dw[wi]! += xv[xi]! * dyv[yi]!;
              }
            }
          }
          y[yi] = s;
        }
      }
    }
  }
  return { y, yShape: [N, Cout, Hout, Wout], dx, dw };
}

function expectClose(got: Tensor, want: ArrayLike<number>, tol: number, what: string): void {
  const g = got.toArray();
  expect(g.length).toBe(want.length);
  for (let i = 0; i < g.length; i++) {
    const w = want[i]!;
    if (!(Math.abs(g[i]! - w) <= tol + tol * Math.abs(w))) {
      throw new Error(`${what}[${i}] = ${g[i]}, expected ${w}`);
    }
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Random valid convolution problems: groups, depthwise, dilation, stride above kernel, non-contiguous x. */
const problemArb = fc
  .record({
    N: fc.integer({ min: 1, max: 3 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cinG: fc.integer({ min: 1, max: 3 }),
    coutG: fc.integer({ min: 1, max: 3 }),
    k: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
    padding: fc.tuple(fc.nat(2), fc.nat(2)),
    dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    extra: fc.tuple(fc.nat(6), fc.nat(6)),
    bias: fc.boolean(),
    transposedInput: fc.boolean(),
    f64: fc.boolean(),
    seed: fc.nat(),
  })
  .map((r): Problem => {
    const rng = new Rng(r.seed);
    const dtype = r.f64 ? "float64" : "float32";
    const [kH, kW] = r.k;
    const effH = r.dilation[0] * (kH - 1) + 1;
    const effW = r.dilation[1] * (kW - 1) + 1;
    const H = Math.max(1, effH - 2 * r.padding[0]) + r.extra[0];
    const W = Math.max(1, effW - 2 * r.padding[1]) + r.extra[1];
    const C = r.groups * r.cinG;
    const Cout = r.groups * r.coutG;
    const x = randnNCHW([r.N, C, H, W], r.transposedInput, rng, dtype);
    const w = randn([Cout, r.cinG, kH, kW], rng, 0, 1, dtype);
    const opts = { stride: r.stride, padding: r.padding, dilation: r.dilation, groups: r.groups };
    const dy = randn(conv2dOutputShape(x.shape, w.shape, opts), rng, 0, 1, dtype);
    const bias = r.bias ? randn([Cout], rng, 0, 1, dtype) : null;
    return { x, w, bias, dy, opts, kH, kW };
  });

describe("conv2d", () => {
  it("forward and both backward helpers match the naive reference", () => {
    fc.assert(
      fc.property(problemArb, (p) => {
        const ref = reference(p);
        const tol = p.x.dtype === "float64" ? 1e-10 : 2e-5;
        const y = conv2d(p.x, p.w, p.bias, p.opts);
        expect(y.shape).toEqual(ref.yShape);
        expectClose(y, ref.y, tol, "y");
        expectClose(conv2dBackwardInput(p.dy, p.w, p.x.shape, p.opts), ref.dx, tol, "dx");
        expectClose(conv2dBackwardWeight(p.dy, p.x, p.w.shape, p.opts), ref.dw, tol, "dw");
      }),
      { numRuns: 150, seed: 21 },
    );
  });

  it("backward helpers are the adjoints of the forward map: <conv(x, w), dy> = <x, dx> = <w, dw>", () => {
    fc.assert(
      fc.property(
        problemArb.filter((p) => p.x.dtype === "float64"),
        (p) => {
          const y = conv2d(p.x, p.w, null, p.opts).toArray();
          const lhs = dot(y, p.dy.toArray());
          const viaX = dot(p.x.toArray(), conv2dBackwardInput(p.dy, p.w, p.x.shape, p.opts).toArray());
          const viaW = dot(p.w.toArray(), conv2dBackwardWeight(p.dy, p.x, p.w.shape, p.opts).toArray());
          const scale = 1e-10 * (1 + Math.abs(lhs));
          expect(Math.abs(viaX - lhs)).toBeLessThanOrEqual(scale);
          expect(Math.abs(viaW - lhs)).toBeLessThanOrEqual(scale);
        },
      ),
      { numRuns: 60, seed: 22 },
    );
  });

  it("handles depthwise convolution (groups = Cin) with a channel multiplier, and 1×1 kernels", () => {
    const rng = new Rng(23);
    const x = randn([2, 4, 7, 6], rng, 0, 1, "float64");
    const dwise = {
      x,
      w: randn([8, 1, 3, 3], rng, 0, 1, "float64"),
      bias: randn([8], rng, 0, 1, "float64"),
      dy: randn([2, 8, 4, 3], rng, 0, 1, "float64"),
      opts: {
        stride: [2, 2] as [number, number],
        padding: [1, 1] as [number, number],
        dilation: [1, 1] as [number, number],
        groups: 4,
      },
      kH: 3,
      kW: 3,
    };
    const ref = reference(dwise);
    expectClose(conv2d(dwise.x, dwise.w, dwise.bias, dwise.opts), ref.y, 1e-10, "y");
    expectClose(conv2dBackwardInput(dwise.dy, dwise.w, x.shape, dwise.opts), ref.dx, 1e-10, "dx");
    expectClose(conv2dBackwardWeight(dwise.dy, x, dwise.w.shape, dwise.opts), ref.dw, 1e-10, "dw");

    const pointwise = {
      x,
      w: randn([6, 2, 1, 1], rng, 0, 1, "float64"),
      bias: null,
      dy: randn([2, 6, 7, 6], rng, 0, 1, "float64"),
      opts: {
        stride: [1, 1] as [number, number],
        padding: [0, 0] as [number, number],
        dilation: [1, 1] as [number, number],
        groups: 2,
      },
      kH: 1,
      kW: 1,
    };
    const ref1 = reference(pointwise);
    expectClose(conv2d(x, pointwise.w, null, pointwise.opts), ref1.y, 1e-10, "y");
    expectClose(
      conv2dBackwardInput(pointwise.dy, pointwise.w, x.shape, pointwise.opts),
      ref1.dx,
      1e-10,
      "dx",
    );
    expectClose(
      conv2dBackwardWeight(pointwise.dy, x, pointwise.w.shape, pointwise.opts),
      ref1.dw,
      1e-10,
      "dw",
    );
  });

  it("rejects bad shapes and options with messages naming them", () => {
    const x = zeros([1, 4, 5, 5]);
    const w = zeros([6, 2, 3, 3]);
    expect(() => conv2d(x, zeros([6, 3, 3, 3]))).toThrow(
      "conv2d: weight [6, 3, 3, 3] expects 3 input channels (3 per group × 1 groups), but input [1, 4, 5, 5] has 4",
    );
    expect(() => conv2d(x, w, null, { groups: 3 })).toThrow(
      "conv2d: groups = 3 must divide both input channels (4) and output channels (6)",
    );
    expect(() => conv2d(x, zeros([6, 4, 7, 3]), null, { padding: 0 })).toThrow(
      "conv2d: kernel 7×3 (7×3 with dilation) is larger than the padded input 5×5 (input [1, 4, 5, 5], padding [0, 0])",
    );
    expect(() => conv2d(x, zeros([6, 4, 3, 3]), null, { dilation: 3 })).toThrow(
      /conv2d: kernel 3×3 \(7×7 with dilation\)/,
    );
    expect(() => conv2d(x, w, null, { groups: 2, stride: 0 })).toThrow(
      "conv2d: stride must be positive integers, got [0, 0]",
    );
    expect(() => conv2d(x, w, null, { groups: 2, padding: [1, -1] })).toThrow(
      "conv2d: padding must be non-negative integers, got [1, -1]",
    );
    expect(() => conv2d(x, w, null, { groups: 0 })).toThrow(
      "conv2d: groups must be a positive integer, got 0",
    );
    expect(() => conv2d(zeros([4, 5, 5]), w)).toThrow(
      "conv2d: input must be 4-D [N, C, H, W], got [4, 5, 5]",
    );
    expect(() => conv2d(x, w, zeros([5]), { groups: 2 })).toThrow(
      "conv2d: bias has shape [5], expected [6] for weight [6, 2, 3, 3]",
    );
    expect(() => conv2dBackwardInput(zeros([1, 6, 4, 4]), w, x.shape, { groups: 2 })).toThrow(
      "conv2dBackwardInput: dy has shape [1, 6, 4, 4], expected [1, 6, 3, 3]",
    );
    expect(() => conv2dBackwardWeight(zeros([1, 6, 3, 3]), x, [6, 2, 3], { groups: 2 })).toThrow(
      /conv2dBackwardWeight: weight must be 4-D/,
    );
    expect(() => im2col(x, 0, 3)).toThrow("im2col: kernel size must be positive integers, got [0, 3]");
    expect(() => col2im(zeros([1, 36, 8]), x.shape, 3, 3)).toThrow(
      "col2im: cols has shape [1, 36, 8], expected [1, 36, 9] for input [1, 4, 5, 5] and kernel 3×3",
    );
  });
});

describe("im2col / col2im", () => {
  const unfoldArb = problemArb.map((p) => ({ ...p, opts: { ...p.opts, groups: 1 } }));

  it("im2col lays out window (c, ki, kj) × pixel (oh, ow) per image, zero in the padding", () => {
    fc.assert(
      fc.property(unfoldArb, (p) => {
        const cols = im2col(p.x, p.kH, p.kW, p.opts);
        const [N, C, H, W] = p.x.shape as number[] as [number, number, number, number];
        const [, , Hout, Wout] = conv2dOutputShape(p.x.shape, [1, C, p.kH, p.kW], p.opts) as [
          number,
          number,
          number,
          number,
        ];
        expect(cols.shape).toEqual([N, C * p.kH * p.kW, Hout * Wout]);
        const [sH, sW] = p.opts.stride as [number, number];
        const [pH, pW] = p.opts.padding as [number, number];
        const [dH, dW] = p.opts.dilation as [number, number];
        for (let n = 0; n < N; n++) {
          for (let c = 0; c < C; c++) {
            for (let ki = 0; ki < p.kH; ki++) {
              for (let kj = 0; kj < p.kW; kj++) {
                for (let oh = 0; oh < Hout; oh++) {
                  for (let ow = 0; ow < Wout; ow++) {
                    const ih = oh * sH - pH + ki * dH;
                    const iw = ow * sW - pW + kj * dW;
                    const inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
                    const want = inside ? p.x.get(n, c, ih, iw) : 0;
                    const got = cols.get(n, (c * p.kH + ki) * p.kW + kj, oh * Wout + ow);
                    if (got !== want) throw new Error(`cols mismatch at n=${n} c=${c} ki=${ki} kj=${kj}`);
                  }
                }
              }
            }
          }
        }
      }),
      { numRuns: 80, seed: 31 },
    );
  });

  it("col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>", () => {
    fc.assert(
      fc.property(
        unfoldArb.filter((p) => p.x.dtype === "float64"),
        fc.nat(),
        (p, seed) => {
          const cols = im2col(p.x, p.kH, p.kW, p.opts);
          const c = randn(cols.shape, new Rng(seed), 0, 1, "float64");
          const back = col2im(c, p.x.shape, p.kH, p.kW, p.opts);
          expect(back.shape).toEqual(p.x.shape);
          const lhs = dot(cols.toArray(), c.toArray());
          const rhs = dot(p.x.toArray(), back.toArray());
          expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
        },
      ),
      { numRuns: 80, seed: 32 },
    );
  });

  it("col2im sums overlapping windows", () => {
    // A 3×3 input, 2×2 kernel, stride 1: the centre pixel is in all four windows.
    const cols = tensor(new Array(16).fill(1), [1, 4, 4]);
    expect(col2im(cols, [1, 1, 3, 3], 2, 2).toArray()).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
  });
});
