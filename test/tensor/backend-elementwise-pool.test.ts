/**
 * Max pooling and the elementwise fast paths, one suite on every backend. These kernels only select or
 * do one correctly rounded float32 operation per element, so every backend must return exactly the
 * same bits: each result is compared with an independent scalar evaluation (Math.fround for
 * arithmetic, a plain scan of the window for pooling), including NaN, ±Infinity, ±0 and ties.
 */
import {
  add,
  div,
  equal,
  greater,
  greaterEqual,
  less,
  lessEqual,
  maxPool2d,
  maxPool2dBackward,
  mul,
  notEqual,
  Rng,
  relu,
  sub,
  type Tensor,
  tensor,
  transpose,
} from "@quant-trim/tensor";
import fc from "fast-check";
import { expect, it } from "vitest";
import { MIN_ELEMENTS } from "../../packages/tensor/src/wasm/elementwise.js";
import { describeEachBackend, expectSame } from "./backends.js";

const SPECIALS = [Number.NaN, Infinity, -Infinity, 0, -0, 1, -1];

/** float32 values mixing small integers (ties, exact zeros), uniform values and specials. */
function values(n: number, seed: number, specials = true): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    out[i] =
      specials && u < 0.05
        ? SPECIALS[rng.int(SPECIALS.length)]!
        : u < 0.35
          ? rng.int(5) - 2
          : rng.uniform(-3, 3);
  }
  return out;
}

const fr = Math.fround;
const arithmetic: [
  string,
  (a: Tensor | number, b: Tensor | number) => Tensor,
  (a: number, b: number) => number,
][] = [
  ["add", add, (a, b) => fr(a + b)],
  ["sub", sub, (a, b) => fr(a - b)],
  ["mul", mul, (a, b) => fr(a * b)],
  ["div", div, (a, b) => fr(a / b)],
];
const comparisons: [
  string,
  (a: Tensor | number, b: Tensor | number) => Tensor,
  (a: number, b: number) => boolean,
][] = [
  ["greater", greater, (a, b) => a > b],
  ["greaterEqual", greaterEqual, (a, b) => a >= b],
  ["less", less, (a, b) => a < b],
  ["lessEqual", lessEqual, (a, b) => a <= b],
  ["equal", equal, (a, b) => a === b],
  ["notEqual", notEqual, (a, b) => a !== b],
];

describeEachBackend("elementwise fast paths", () => {
  // Sizes below, at and above the wasm backend's threshold, with vector tails of 0–3 elements.
  const sizes = [7, MIN_ELEMENTS - 1, MIN_ELEMENTS, MIN_ELEMENTS + 3, 3 * MIN_ELEMENTS + 1];

  it("relu: x where x > 0 or NaN, else +0", () => {
    for (const n of sizes) {
      const x = values(n, n);
      const y = relu(tensor(x, [n])).values();
      expectSame(
        y,
        Array.from(x, (v) => (v > 0 || Number.isNaN(v) ? v : 0)),
        `relu n=${n}`,
      );
    }
  });

  it("add, sub, mul, div of same-shape tensors and with a number on either side", () => {
    for (const n of sizes) {
      const a = values(n, 2 * n);
      const b = values(n, 2 * n + 1);
      const ta = tensor(a, [n]);
      const tb = tensor(b, [n]);
      for (const [name, op, model] of arithmetic) {
        expectSame(
          op(ta, tb).values(),
          Array.from(a, (v, i) => model(v, b[i]!)),
          `${name} n=${n}`,
        );
        for (const s of [0.1, -3, 0, Number.NaN]) {
          const sf = fr(s); // the number is rounded to float32 first
          expectSame(
            op(ta, s).values(),
            Array.from(a, (v) => model(v, sf)),
            `${name}(a, ${s})`,
          );
          expectSame(
            op(s, ta).values(),
            Array.from(a, (v) => model(sf, v)),
            `${name}(${s}, a)`,
          );
        }
      }
    }
  });

  it("comparisons with a number give 1 or 0 (NaN compares false except notEqual), either side", () => {
    for (const n of sizes) {
      const a = values(n, 3 * n);
      const ta = tensor(a, [n]);
      for (const [name, op, model] of comparisons) {
        for (const s of [0, 1.5, -Infinity, Number.NaN, 0.1]) {
          const sf = fr(s);
          expectSame(
            op(ta, s).values(),
            Array.from(a, (v) => (model(v, sf) ? 1 : 0)),
            `${name}(a, ${s})`,
          );
          expectSame(
            op(s, ta).values(),
            Array.from(a, (v) => (model(sf, v) ? 1 : 0)),
            `${name}(${s}, a)`,
          );
        }
      }
    }
  });

  it("views, float64 and broadcasting keep their results (they take the general loops)", () => {
    const n = 2 * MIN_ELEMENTS;
    const a = tensor(values(n, 5), [2, n / 2]);
    const col = tensor(values(2, 6), [2, 1]);
    const view = transpose(a);
    expectSame(
      relu(view).values(),
      Array.from(view.toFloat32Array(), (v) => (v > 0 || Number.isNaN(v) ? v : 0)),
      "relu view",
    );
    const sum = add(a, col).values();
    const av = a.values();
    expectSame(
      sum,
      Array.from(av, (v, i) => fr(v + col.data[Math.floor(i / (n / 2))]!)),
      "broadcast add",
    );
    const a64 = tensor(values(n, 7), [n], "float64");
    expect(mul(a64, a64).dtype).toBe("float64");
    expectSame(
      mul(a64, a64).values(),
      Array.from(a64.values(), (v) => v * v),
      "float64 mul",
    );
  });
});

/** Max pooling by scanning each window in row-major order with the documented selection rule. */
function referencePool(
  x: Float32Array,
  [N, C, H, W]: number[],
  k: [number, number],
  s: [number, number],
  p: [number, number],
  d: [number, number],
) {
  const Hout = Math.floor((H + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0]) + 1;
  const Wout = Math.floor((W + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1]) + 1;
  const out: number[] = [];
  const idx: number[] = [];
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < Hout; oh++) {
      for (let ow = 0; ow < Wout; ow++) {
        let best = 0;
        let at = -1;
        for (let ki = 0; ki < k[0]; ki++) {
          for (let kj = 0; kj < k[1]; kj++) {
            const ih = oh * s[0] - p[0] + ki * d[0];
            const iw = ow * s[1] - p[1] + kj * d[1];
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const v = x[nc * H * W + ih * W + iw]!;
            if (at < 0 || v > best || Number.isNaN(v)) {
              best = v;
              at = ih * W + iw;
            }
          }
        }
        out.push(best);
        idx.push(at);
      }
    }
  }
  return { out, idx, shape: [N, C, Hout, Wout] };
}

describeEachBackend("maxPool2d", () => {
  const poolArb = fc
    .record({
      N: fc.integer({ min: 1, max: 3 }),
      C: fc.integer({ min: 1, max: 3 }),
      H: fc.integer({ min: 1, max: 12 }),
      W: fc.integer({ min: 1, max: 21 }),
      k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      p: fc.tuple(fc.nat(1), fc.nat(1)),
      d: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      seed: fc.nat(),
      specials: fc.boolean(),
    })
    .filter(
      (r) =>
        2 * r.p[0] <= r.d[0] * (r.k[0] - 1) + 1 &&
        2 * r.p[1] <= r.d[1] * (r.k[1] - 1) + 1 &&
        r.d[0] * (r.k[0] - 1) + 1 <= r.H + 2 * r.p[0] &&
        r.d[1] * (r.k[1] - 1) + 1 <= r.W + 2 * r.p[1],
    );

  const check = (r: {
    N: number;
    C: number;
    H: number;
    W: number;
    k: [number, number];
    s: [number, number];
    p: [number, number];
    d: [number, number];
    seed: number;
    specials: boolean;
  }) => {
    const shape = [r.N, r.C, r.H, r.W];
    const x = values(r.N * r.C * r.H * r.W, r.seed, r.specials);
    let got: { out: Tensor; indices: Int32Array };
    try {
      got = maxPool2d(tensor(x, shape), { kernel: r.k, stride: r.s, padding: r.p, dilation: r.d });
    } catch (e) {
      // Windows covering only padding are refused on every backend (validation precedes the kernels).
      expect(String(e)).toMatch(/covers only padding/);
      return;
    }
    const want = referencePool(x, shape, r.k, r.s, r.p, r.d);
    expect(got.out.shape).toEqual(want.shape);
    expectSame(got.out.values(), want.out, "out");
    expect(Array.from(got.indices)).toEqual(want.idx);
    // Backward: each upstream value lands on its window's argmax, summed in output order.
    const dy = values(got.out.size, r.seed + 1, false);
    const dx = maxPool2dBackward(tensor(dy, got.out.shape), got.indices, shape).values();
    const plane = r.H * r.W;
    const perPlane = got.out.size / (r.N * r.C);
    const want2 = new Float32Array(x.length);
    for (let i = 0; i < dy.length; i++) {
      const at = Math.floor(i / perPlane) * plane + got.indices[i]!;
      want2[at] = fr(want2[at]! + dy[i]!);
    }
    expectSame(dx, want2, "dx");
  };

  it("any kernel, stride, padding, dilation; NaN wins (last one), ties keep the first", () => {
    fc.assert(fc.property(poolArb, check), { numRuns: 200 });
  });

  it("2×2 windows with stride 2 (the vectorised case), odd sizes and wide rows", () => {
    const two: [number, number] = [2, 2];
    for (const [H, W] of [
      [28, 28],
      [14, 14],
      [7, 9],
      [2, 17],
      [5, 2],
      [4, 40],
    ]) {
      for (const specials of [false, true]) {
        check({ N: 2, C: 3, H: H!, W: W!, k: two, s: two, p: [0, 0], d: [1, 1], seed: H! * W!, specials });
      }
    }
    // Ties everywhere: the first element of each window wins.
    const flat = maxPool2d(tensor(new Float32Array(4 * 8).fill(1), [1, 1, 4, 8]), { kernel: 2 });
    expect(Array.from(flat.indices)).toEqual([0, 2, 4, 6, 16, 18, 20, 22]);
  });

  it("the backward pass rejects an index outside its plane, naming it", () => {
    const x = tensor(values(2 * 16, 1, false), [1, 2, 4, 4]);
    const { out, indices } = maxPool2d(x, { kernel: 2 });
    const bad = Int32Array.from(indices);
    bad[5] = 16;
    expect(() => maxPool2dBackward(out, bad, x.shape)).toThrow(
      /index 16 at position 5 is outside an input plane of 4×4/,
    );
    bad[5] = -1;
    expect(() => maxPool2dBackward(out, bad, x.shape)).toThrow(/index -1 at position 5/);
  });
});
