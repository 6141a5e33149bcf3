import {
  avgPool2d,
  avgPool2dBackward,
  maxPool2d,
  maxPool2dBackward,
  pool2dOutputShape,
  Rng,
  randn,
  type Tensor,
  tensor,
  zeros,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randnNCHW } from "./arbitraries.js";

interface PoolCase {
  x: Tensor;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  countIncludePad: boolean;
}

/** The real input positions of each window, in row-major window order, as flat offsets in the plane. */
function windows(c: PoolCase, visit: (n: number, ch: number, taps: number[]) => void): number[] {
  const [N, C, H, W] = c.x.shape as number[] as [number, number, number, number];
  const [kH, kW] = c.kernel;
  const [sH, sW] = c.stride;
  const [pH, pW] = c.padding;
  const [dH, dW] = c.dilation;
  const Hout = Math.floor((H + 2 * pH - dH * (kH - 1) - 1) / sH) + 1;
  const Wout = Math.floor((W + 2 * pW - dW * (kW - 1) - 1) / sW) + 1;
  for (let n = 0; n < N; n++) {
    for (let ch = 0; ch < C; ch++) {
      for (let oh = 0; oh < Hout; oh++) {
        for (let ow = 0; ow < Wout; ow++) {
          const taps: number[] = [];
          for (let ki = 0; ki < kH; ki++) {
            for (let kj = 0; kj < kW; kj++) {
              const ih = oh * sH - pH + ki * dH;
              const iw = ow * sW - pW + kj * dW;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) taps.push(ih * W + iw);
            }
          }
          visit(n, ch, taps);
        }
      }
    }
  }
  return [N, C, Hout, Wout];
}

/** Max of a window: the last NaN if any (PyTorch), else the first position holding the largest value. */
function referenceMax(c: PoolCase) {
  const [, C, H, W] = c.x.shape as number[];
  const xv = c.x.toArray();
  const out: number[] = [];
  const idx: number[] = [];
  const shape = windows(c, (n, ch, taps) => {
    const plane = (n * C! + ch) * H! * W!;
    const vals = taps.map((t) => xv[plane + t]!);
    const lastNaN = vals.map((v, i) => (Number.isNaN(v) ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
    const pick = lastNaN >= 0 ? lastNaN : vals.indexOf(Math.max(...vals));
    out.push(vals[pick]!);
    idx.push(taps[pick]!);
  });
  return { shape, out, idx };
}

function referenceAvg(c: PoolCase) {
  const [, C, H, W] = c.x.shape as number[];
  const xv = c.x.toArray();
  const out: number[] = [];
  const divisors: number[] = [];
  const shape = windows(c, (n, ch, taps) => {
    const plane = (n * C! + ch) * H! * W!;
    const d = c.countIncludePad ? c.kernel[0] * c.kernel[1] : taps.length;
    out.push(taps.reduce((s, t) => s + xv[plane + t]!, 0) / d);
    divisors.push(d);
  });
  return { shape, out, divisors };
}

const caseArb = (withDilation: boolean) =>
  fc
    .record({
      N: fc.integer({ min: 1, max: 2 }),
      C: fc.integer({ min: 1, max: 3 }),
      kernel: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
      stride: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
      padFrac: fc.tuple(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
      ),
      dilation: withDilation
        ? fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))
        : fc.constant<[number, number]>([1, 1]),
      extra: fc.tuple(fc.nat(6), fc.nat(6)),
      transposedInput: fc.boolean(),
      countIncludePad: fc.boolean(),
      // Small integers make ties common; NaN and -Infinity exercise the special rules.
      values: fc.constantFrom("ties", "nan", "normal"),
      f64: fc.boolean(),
      seed: fc.nat(),
    })
    .map((r): PoolCase => {
      const rng = new Rng(r.seed);
      const eff = r.kernel.map((k, i) => r.dilation[i]! * (k - 1) + 1) as [number, number];
      const padding = eff.map((e, i) => Math.floor((r.padFrac[i]! * e) / 2)) as [number, number];
      // Dilated windows can straddle a small input entirely; keep the input at least one effective window.
      const H = Math.max(1, eff[0] - 2 * padding[0], r.dilation[0] > 1 ? eff[0] : 1) + r.extra[0];
      const W = Math.max(1, eff[1] - 2 * padding[1], r.dilation[1] > 1 ? eff[1] : 1) + r.extra[1];
      const dtype = r.f64 ? "float64" : "float32";
      const base = randnNCHW([r.N, r.C, H, W], r.transposedInput, rng, dtype);
      if (r.values !== "normal") {
        const shape = base.shape;
        for (let n = 0; n < shape[0]!; n++)
          for (let c = 0; c < shape[1]!; c++)
            for (let h = 0; h < H; h++)
              for (let w = 0; w < W; w++) {
                const u = rng.next();
                const v =
                  r.values === "nan" && u < 0.1
                    ? Number.NaN
                    : r.values === "nan" && u < 0.2
                      ? Number.NEGATIVE_INFINITY
                      : rng.int(5) - 4;
                base.set([n, c, h, w], v);
              }
      }
      return {
        x: base,
        kernel: r.kernel,
        stride: r.stride,
        padding,
        dilation: r.dilation,
        countIncludePad: r.countIncludePad,
      };
    });

function sameValues(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const ok = Number.isNaN(w) ? Number.isNaN(g) : g === w || Math.abs(g - w) <= tol + tol * Math.abs(w);
    if (!ok) throw new Error(`${what}[${i}] = ${g}, expected ${w}`);
  }
}

describe("maxPool2d", () => {
  it("matches the reference, including dilation, stride above kernel, ties, NaN and -Infinity", () => {
    fc.assert(
      fc.property(caseArb(true), (c) => {
        const ref = referenceMax(c);
        const { out, indices } = maxPool2d(c.x, c);
        expect(out.shape).toEqual(ref.shape);
        expect(out.dtype).toBe(c.x.dtype);
        sameValues(out.toArray(), ref.out, 0, "out");
        expect(Array.from(indices)).toEqual(ref.idx);
      }),
      { numRuns: 200, seed: 41 },
    );
  });

  it("backward routes each upstream value to the argmax of its window", () => {
    fc.assert(
      fc.property(caseArb(true), fc.nat(), (c, seed) => {
        const { out, indices } = maxPool2d(c.x, c);
        const dy = randn(out.shape, new Rng(seed), 0, 1, "float64");
        const dx = maxPool2dBackward(dy, indices, c.x.shape);
        const [, C, H, W] = c.x.shape as number[];
        const want = new Float64Array(c.x.size);
        const ref = referenceMax(c);
        const dyv = dy.toArray();
        const perImage = ref.idx.length / c.x.shape[0]!;
        const perPlane = perImage / C!;
        ref.idx.forEach((at, k) => {
          want[Math.floor(k / perPlane) * H! * W! + at]! += dyv[k]!;
        });
        sameValues(dx.toArray(), want, 1e-12, "dx");
      }),
      { numRuns: 100, seed: 42 },
    );
  });

  it("treats padding as -Infinity, never as zero", () => {
    const x = tensor([-5, -4, -3, -2], [1, 1, 2, 2]);
    const { out, indices } = maxPool2d(x, { kernel: 2, stride: 1, padding: 1 });
    expect(out.toArray()).toEqual([-5, -4, -4, -3, -2, -2, -3, -2, -2]);
    expect(Array.from(indices)).toEqual([0, 1, 1, 2, 3, 3, 2, 3, 3]);
  });

  it("rejects bad options with clear messages", () => {
    const x = zeros([1, 1, 4, 4]);
    expect(() => maxPool2d(x, { kernel: 2, padding: 2 })).toThrow(
      "maxPool2d: padding [2, 2] must be at most half the (dilated) kernel 2×2",
    );
    expect(() => maxPool2d(x, { kernel: 5 })).toThrow(
      "maxPool2d: kernel 5×5 is larger than the padded input 4×4 (input [1, 1, 4, 4])",
    );
    expect(() => maxPool2d(x, { kernel: 2, stride: 0 })).toThrow(
      "maxPool2d: stride must be positive integers, got [0, 0]",
    );
    expect(() => maxPool2d(zeros([4, 4]), { kernel: 2 })).toThrow(
      "maxPool2d: input must be 4-D [N, C, H, W], got [4, 4]",
    );
    expect(() => maxPool2d(zeros([1, 1, 2, 2]), { kernel: 2, dilation: 4, padding: 2 })).toThrow(
      /maxPool2d: the window of output row 0 covers only padding/,
    );
    const { out, indices } = maxPool2d(x, { kernel: 2 });
    expect(() => maxPool2dBackward(out, indices.subarray(1), x.shape)).toThrow(
      "maxPool2dBackward: 3 indices for dy of shape [1, 1, 2, 2] (4 elements)",
    );
    expect(() => maxPool2dBackward(out, indices, [1, 2, 4, 4])).toThrow(
      "maxPool2dBackward: dy has shape [1, 1, 2, 2], expected [1, 2, Hout, Wout] for input [1, 2, 4, 4]",
    );
  });
});

describe("avgPool2d", () => {
  it("matches the reference with and without counting the padding", () => {
    fc.assert(
      fc.property(
        caseArb(false).filter((c) => c.x.toArray().every(Number.isFinite)),
        (c) => {
          const ref = referenceAvg(c);
          const out = avgPool2d(c.x, c);
          expect(out.shape).toEqual(ref.shape);
          expect(pool2dOutputShape(c.x.shape, c)).toEqual(ref.shape);
          sameValues(out.toArray(), ref.out, c.x.dtype === "float64" ? 1e-12 : 1e-6, "out");
        },
      ),
      { numRuns: 200, seed: 43 },
    );
  });

  it("backward is the adjoint of the forward map and spreads each value over its window", () => {
    fc.assert(
      fc.property(
        caseArb(false).filter((c) => c.x.toArray().every(Number.isFinite)),
        fc.nat(),
        (c, seed) => {
          const x = c.x.copy("float64");
          const out = avgPool2d(x, c);
          const dy = randn(out.shape, new Rng(seed), 0, 1, "float64");
          const dx = avgPool2dBackward(dy, x.shape, c);
          let lhs = 0;
          const o = out.toArray();
          const d = dy.toArray();
          for (let i = 0; i < o.length; i++) lhs += o[i]! * d[i]!;
          let rhs = 0;
          const xv = x.toArray();
          const g = dx.toArray();
          for (let i = 0; i < xv.length; i++) rhs += xv[i]! * g[i]!;
          expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
          // Direct check: each input receives Σ dy / divisor over the windows that contain it.
          const [, C, H, W] = x.shape as number[];
          const want = new Float64Array(x.size);
          const { divisors } = referenceAvg({ ...c, x });
          let k = 0;
          windows({ ...c, x }, (n, ch, taps) => {
            const plane = (n * C! + ch) * H! * W!;
            for (const t of taps) want[plane + t]! += d[k]! / divisors[k]!;
            k++;
          });
          sameValues(g, want, 1e-12, "dx");
        },
      ),
      { numRuns: 100, seed: 44 },
    );
  });

  it("rejects dilation and a wrong dy shape", () => {
    const x = zeros([1, 1, 4, 4]);
    expect(() => avgPool2d(x, { kernel: 2, dilation: 2 })).toThrow(
      "avgPool2d: dilation is not supported for average pooling, got [2, 2]",
    );
    expect(() => avgPool2dBackward(zeros([1, 1, 3, 3]), x.shape, { kernel: 2 })).toThrow(
      "avgPool2dBackward: dy has shape [1, 1, 3, 3], expected [1, 1, 2, 2]",
    );
    expect(() => avgPool2d(x, {} as { kernel: number })).toThrow("avgPool2d: options.kernel is required");
  });
});
