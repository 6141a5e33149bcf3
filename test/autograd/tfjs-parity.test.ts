import { ops, record, type Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { compareWithTfjs, type ParityCase, tf, tfjsReady, toNchw, toNhwc } from "./tfjs-harness.js";

// Every autograd op that tfjs-core also has, checked against it on random shapes: forward values and
// vector–Jacobian products. Ops tfjs lacks (grouped convolutions other than depthwise, gradients of
// dilated convolutions, where/pad gradients of some kinds) stay covered by gradcheck.test.ts.

beforeAll(() => tfjsReady(), 60_000);

const runs = { numRuns: 8 };
const seed = fc.integer({ min: 0, max: 2 ** 30 });
const dim = (max = 4) => fc.integer({ min: 1, max });

function agrees(c: Omit<ParityCase, "rng">, s: number): void {
  expect(compareWithTfjs({ ...c, rng: new T.Rng(s) })).toEqual([]);
}

/** Values at least `margin` away from each kink, where one-sided derivatives differ. */
const awayFrom =
  (kinks: readonly number[], margin = 0.05) =>
  (v: number) => {
    for (const k of kinks) if (Math.abs(v - k) < margin) return k + (v >= k ? 2 * margin : -2 * margin);
    return v;
  };

describe("matmul", () => {
  it("2-D and batched (same batch; broadcast batch forward only) against tf.matMul", () => {
    fc.assert(
      fc.property(dim(6), dim(6), dim(6), dim(3), seed, (m, k, n, b, s) => {
        const mm = {
          ours: ([x, y]: Variable[]) => ops.matmul(x!, y!),
          theirs: ([x, y]: tf.Tensor[]) => tf.matMul(x!, y!),
        };
        agrees(
          {
            ...mm,
            inputs: [
              [m, k],
              [k, n],
            ],
          },
          s,
        );
        agrees(
          {
            ...mm,
            inputs: [
              [b, m, k],
              [b, k, n],
            ],
          },
          s + 1,
        );
        // tfjs's BatchMatMul gradient keeps the broadcast batch axis of b (a shape error): forward only.
        agrees(
          {
            ...mm,
            inputs: [
              [b, m, k],
              [k, n],
            ],
            grads: [],
          },
          s + 2,
        );
      }),
      runs,
    );
  });

  it("linear (x·Wᵀ + b) against tf.matMul with transposeB", () => {
    fc.assert(
      fc.property(dim(6), dim(6), dim(6), seed, (n, i, o, s) => {
        agrees(
          {
            inputs: [[n, i], [o, i], [o]],
            ours: ([x, w, b]) => ops.linear(x!, w!, b!),
            theirs: ([x, w, b]) => tf.add(tf.matMul(x!, w!, false, true), b!),
          },
          s,
        );
      }),
      runs,
    );
  });
});

/** A convolution's geometry; kernels never exceed the padded input. */
const convGeometry = fc
  .record({
    n: dim(2),
    cin: dim(3),
    cout: dim(3),
    h: fc.integer({ min: 3, max: 7 }),
    w: fc.integer({ min: 3, max: 7 }),
    kh: dim(3),
    kw: dim(3),
    sh: dim(2),
    sw: dim(2),
    ph: fc.integer({ min: 0, max: 1 }),
    pw: fc.integer({ min: 0, max: 1 }),
    bias: fc.boolean(),
  })
  .filter((g) => g.kh <= g.h + 2 * g.ph && g.kw <= g.w + 2 * g.pw);

const explicitPadding = (ph: number, pw: number) =>
  [
    [0, 0],
    [ph, ph],
    [pw, pw],
    [0, 0],
  ] as [[number, number], [number, number], [number, number], [number, number]];

describe("conv2d (NCHW, weights [Cout, Cin/groups, kH, kW]) against tfjs (NHWC, HWIO)", () => {
  it("stride, asymmetric padding and bias: forward and gradients for x, w, b", () => {
    fc.assert(
      fc.property(convGeometry, seed, (g, s) => {
        const opts = { stride: [g.sh, g.sw] as [number, number], padding: [g.ph, g.pw] as [number, number] };
        agrees(
          {
            inputs: [[g.n, g.cin, g.h, g.w], [g.cout, g.cin, g.kh, g.kw], ...(g.bias ? [[g.cout]] : [])],
            ours: ([x, w, b]) => ops.conv2d(x!, w!, b ?? null, opts),
            theirs: ([x, w, b]) => {
              const y = tf.conv2d(
                toNhwc(x!) as tf.Tensor4D,
                tf.transpose(w!, [2, 3, 1, 0]) as tf.Tensor4D,
                [g.sh, g.sw],
                explicitPadding(g.ph, g.pw),
              );
              return toNchw(b ? tf.add(y, tf.reshape(b, [1, 1, 1, g.cout])) : y);
            },
          },
          s,
        );
      }),
      runs,
    );
  });

  it("dilation 2 (tfjs has no gradient for dilated convolutions: forward only)", () => {
    fc.assert(
      fc.property(convGeometry, seed, (g, s) => {
        const kh = Math.min(g.kh, 2);
        const kw = Math.min(g.kw, 2);
        fc.pre(2 * (kh - 1) + 1 <= g.h + 2 * g.ph && 2 * (kw - 1) + 1 <= g.w + 2 * g.pw);
        agrees(
          {
            inputs: [
              [g.n, g.cin, g.h, g.w],
              [g.cout, g.cin, kh, kw],
            ],
            ours: ([x, w]) => ops.conv2d(x!, w!, null, { padding: [g.ph, g.pw], dilation: 2 }),
            theirs: ([x, w]) =>
              toNchw(
                tf.conv2d(
                  toNhwc(x!) as tf.Tensor4D,
                  tf.transpose(w!, [2, 3, 1, 0]) as tf.Tensor4D,
                  1,
                  explicitPadding(g.ph, g.pw),
                  "NHWC",
                  2,
                ),
              ),
            grads: [],
          },
          s,
        );
      }),
      runs,
    );
  });

  it("depthwise (groups = Cin, channel multiplier 1–2) against tf.depthwiseConv2d", () => {
    fc.assert(
      fc.property(convGeometry, dim(2), seed, (g, mult, s) => {
        const stride = Math.min(g.sh, g.sw);
        agrees(
          {
            inputs: [
              [g.n, g.cin, g.h, g.w],
              [g.cin * mult, 1, g.kh, g.kw],
            ],
            ours: ([x, w]) => ops.conv2d(x!, w!, null, { groups: g.cin, stride, padding: [g.ph, g.pw] }),
            theirs: ([x, w]) =>
              toNchw(
                tf.depthwiseConv2d(
                  toNhwc(x!) as tf.Tensor4D,
                  // Output channel c·mult + m reads input channel c in both layouts.
                  tf.transpose(tf.reshape(w!, [g.cin, mult, g.kh, g.kw]), [2, 3, 0, 1]) as tf.Tensor4D,
                  stride,
                  explicitPadding(g.ph, g.pw),
                ),
              ),
          },
          s,
        );
      }),
      runs,
    );
  });
});

const poolGeometry = fc
  .record({
    n: dim(2),
    c: dim(3),
    h: fc.integer({ min: 2, max: 7 }),
    w: fc.integer({ min: 2, max: 7 }),
    kh: dim(3),
    kw: dim(3),
    sh: dim(2),
    sw: dim(2),
  })
  .chain((g) =>
    fc.record({
      g: fc.constant(g),
      // Padding at most half the smaller kernel side, so every window holds a real element.
      p: fc.integer({ min: 0, max: Math.floor(Math.min(g.kh, g.kw) / 2) }),
    }),
  )
  .filter(({ g, p }) => g.kh <= g.h + 2 * p && g.kw <= g.w + 2 * p);

describe("pooling against tf.maxPool / tf.avgPool", () => {
  it("max pooling with stride and padding: forward and gradient", () => {
    fc.assert(
      fc.property(poolGeometry, seed, ({ g, p }, s) => {
        agrees(
          {
            inputs: [[g.n, g.c, g.h, g.w]],
            ours: ([x]) => ops.maxPool2d(x!, { kernel: [g.kh, g.kw], stride: [g.sh, g.sw], padding: p }),
            theirs: ([x]) =>
              toNchw(
                tf.maxPool(toNhwc(x!) as tf.Tensor4D, [g.kh, g.kw], [g.sh, g.sw], explicitPadding(p, p)),
              ),
          },
          s,
        );
      }),
      runs,
    );
  });

  it("average pooling over the real elements (countIncludePad: false, tfjs's rule); gradients without padding", () => {
    fc.assert(
      fc.property(poolGeometry, seed, ({ g, p }, s) => {
        agrees(
          {
            inputs: [[g.n, g.c, g.h, g.w]],
            ours: ([x]) =>
              ops.avgPool2d(x!, {
                kernel: [g.kh, g.kw],
                stride: [g.sh, g.sw],
                padding: p,
                countIncludePad: false,
              }),
            theirs: ([x]) =>
              toNchw(
                tf.avgPool(toNhwc(x!) as tf.Tensor4D, [g.kh, g.kw], [g.sh, g.sw], explicitPadding(p, p)),
              ),
            // With padding, tfjs's AvgPool gradient divides by the whole window while its forward divides by
            // the real elements, so it is not the gradient of its own forward (ours agrees with finite
            // differences, gradcheck.test.ts): compare the forward only there.
            ...(p > 0 ? { grads: [] } : {}),
          },
          s,
        );
      }),
      runs,
    );
  });
});

const anyShape = fc.array(dim(4), { minLength: 1, maxLength: 3 });

describe("elementwise ops against tfjs", () => {
  const unary: Array<{
    name: string;
    ours: (x: Variable) => Variable;
    theirs: (x: tf.Tensor) => tf.Tensor;
    lo?: number;
    hi?: number;
    adjust?: (v: number) => number;
  }> = [
    { name: "relu", ours: ops.relu, theirs: tf.relu, adjust: awayFrom([0]) },
    { name: "relu6", ours: ops.relu6, theirs: tf.relu6, lo: -2, hi: 8, adjust: awayFrom([0, 6]) },
    { name: "sigmoid", ours: ops.sigmoid, theirs: tf.sigmoid },
    { name: "tanh", ours: ops.tanh, theirs: tf.tanh },
    { name: "exp", ours: ops.exp, theirs: tf.exp },
    { name: "log", ours: ops.log, theirs: tf.log, lo: 0.1, hi: 3 },
    { name: "sqrt", ours: ops.sqrt, theirs: tf.sqrt, lo: 0.1, hi: 3 },
    { name: "abs", ours: ops.abs, theirs: tf.abs, adjust: awayFrom([0]) },
    { name: "neg", ours: ops.neg, theirs: tf.neg },
    { name: "square", ours: ops.square, theirs: tf.square },
    { name: "pow 3", ours: (x) => ops.pow(x, 3), theirs: (x) => tf.pow(x, tf.scalar(3)) },
    {
      name: "pow 0.5",
      ours: (x) => ops.pow(x, 0.5),
      theirs: (x) => tf.pow(x, tf.scalar(0.5)),
      lo: 0.1,
      hi: 3,
    },
    {
      name: "clamp [-1, 1]",
      ours: (x) => ops.clamp(x, -1, 1),
      theirs: (x) => tf.clipByValue(x, -1, 1),
      adjust: awayFrom([-1, 1]),
    },
  ];
  for (const u of unary) {
    it(u.name, () => {
      fc.assert(
        fc.property(anyShape, seed, (shape, s) => {
          agrees(
            {
              inputs: [shape],
              ours: ([x]) => u.ours(x!),
              theirs: ([x]) => u.theirs(x!),
              ...(u.lo !== undefined ? { lo: u.lo, hi: u.hi } : {}),
              ...(u.adjust ? { adjust: u.adjust } : {}),
            },
            s,
          );
        }),
        runs,
      );
    });
  }

  // a has a random rank-3 shape; b drops leading axes and/or sets some axes to 1 (both directions).
  const broadcastPair = fc
    .tuple(
      fc.array(dim(4), { minLength: 3, maxLength: 3 }),
      fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    )
    .chain(([a, ones]) =>
      fc.record({
        a: fc.constant(a),
        b: fc.constant(a.map((d, i) => (ones[i] ? 1 : d))),
        drop: fc.integer({ min: 0, max: 2 }),
        swap: fc.boolean(),
      }),
    );
  const binary: Array<{
    name: string;
    ours: (a: Variable, b: Variable) => Variable;
    theirs: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
    adjust?: (v: number) => number;
    /**
     * tfjs's gradient of this op does not sum over broadcast axes (a shape error): with broadcasting only
     * the forward is compared, and the gradients on a second pair of equal shapes.
     */
    broadcastGradientBug?: boolean;
  }> = [
    { name: "add", ours: ops.add, theirs: tf.add },
    { name: "sub", ours: ops.sub, theirs: tf.sub },
    { name: "mul", ours: ops.mul, theirs: tf.mul },
    // Divisors kept away from 0, where the gradient explodes.
    { name: "div", ours: ops.div, theirs: tf.div, adjust: awayFrom([0], 0.25) },
    { name: "maximum", ours: ops.maximum, theirs: tf.maximum, broadcastGradientBug: true },
    { name: "minimum", ours: ops.minimum, theirs: tf.minimum, broadcastGradientBug: true },
  ];
  for (const op of binary) {
    it(`${op.name} with broadcasting`, () => {
      fc.assert(
        fc.property(broadcastPair, seed, ({ a, b: full, drop, swap }, s) => {
          const b = full.slice(drop);
          const c = {
            ours: ([x, y]: Variable[]) => op.ours(x!, y!),
            theirs: ([x, y]: tf.Tensor[]) => op.theirs(x!, y!),
            ...(op.adjust ? { adjust: op.adjust } : {}),
          };
          agrees(
            { ...c, inputs: swap ? [b, a] : [a, b], ...(op.broadcastGradientBug ? { grads: [] } : {}) },
            s,
          );
          if (op.broadcastGradientBug) agrees({ ...c, inputs: [a, a] }, s + 1);
        }),
        runs,
      );
    });
  }
});

describe("softmax, losses and batch normalisation against tfjs", () => {
  it("softmax and logSoftmax over the last axis", () => {
    fc.assert(
      fc.property(anyShape, seed, (shape, s) => {
        agrees({ inputs: [shape], ours: ([x]) => ops.softmax(x!, -1), theirs: ([x]) => tf.softmax(x!) }, s);
        agrees(
          { inputs: [shape], ours: ([x]) => ops.logSoftmax(x!, -1), theirs: ([x]) => tf.logSoftmax(x!) },
          s,
        );
      }),
      runs,
    );
  });

  it("cross-entropy from logits (mean over the batch, with and without label smoothing)", () => {
    fc.assert(
      fc.property(dim(6), fc.integer({ min: 2, max: 6 }), fc.constantFrom(0, 0.1), seed, (n, c, ls, s) => {
        const rng = new T.Rng(s + 7);
        const labels = Uint8Array.from({ length: n }, () => rng.int(c));
        agrees(
          {
            inputs: [[n, c]],
            ours: ([x]) => ops.crossEntropy(x!, labels, { labelSmoothing: ls }),
            theirs: ([x]) =>
              tf.losses.softmaxCrossEntropy(
                tf.oneHot(tf.tensor1d(Array.from(labels), "int32"), c),
                x!,
                undefined,
                ls,
                tf.Reduction.MEAN,
              ),
            grads: [0],
          },
          s,
        );
      }),
      runs,
    );
  });

  it("mean squared error", () => {
    fc.assert(
      fc.property(anyShape, seed, (shape, s) => {
        agrees(
          {
            inputs: [shape, shape],
            ours: ([a, b]) => ops.mse(a!, b!),
            theirs: ([a, b]) => tf.losses.meanSquaredError(b!, a!, undefined, tf.Reduction.MEAN),
          },
          s,
        );
      }),
      runs,
    );
  });

  it("training-mode batch norm ([N, C, H, W] and [N, C]) with batch statistics: forward and gradients", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 3 }),
        dim(3),
        dim(3),
        dim(3),
        fc.boolean(),
        seed,
        (n, c, h, w, flat, s) => {
          const eps = 1e-5;
          const shape = flat ? [n, c] : [n, c, h, w];
          agrees(
            {
              inputs: [shape, [c], [c]],
              ours: ([x, gamma, beta]) => ops.batchNormTrain(x!, gamma!, beta!, eps).out,
              theirs: ([x, gamma, beta]) => {
                const channelsLast = flat ? x! : toNhwc(x!);
                const axes = flat ? [0] : [0, 1, 2];
                const { mean, variance } = tf.moments(channelsLast, axes);
                const y = tf.batchNorm(channelsLast, mean, variance, beta!, gamma!, eps);
                return flat ? y : toNchw(y);
              },
              // Gradients through batch statistics cancel to small numbers: compare with a looser atol.
              backward: { atol: 5e-4, rtol: 2e-3 },
            },
            s,
          );
        },
      ),
      runs,
    );
  });
});

describe("reductions and shape ops against tfjs", () => {
  /** A rank-1..3 shape and a non-empty subset of its axes. */
  const shapeAndAxes = fc.array(dim(4), { minLength: 1, maxLength: 3 }).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      axes: fc.subarray(
        shape.map((_, i) => i),
        { minLength: 1 },
      ),
      keep: fc.boolean(),
    }),
  );
  const reductions: Array<{
    name: string;
    ours: (x: Variable, axes: number[], keep: boolean) => Variable;
    theirs: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor;
  }> = [
    { name: "sum", ours: ops.sum, theirs: (x, a, k) => tf.sum(x, a, k) },
    { name: "mean", ours: ops.mean, theirs: (x, a, k) => tf.mean(x, a, k) },
    { name: "max", ours: ops.max, theirs: (x, a, k) => tf.max(x, a, k) },
    { name: "min", ours: ops.min, theirs: (x, a, k) => tf.min(x, a, k) },
    { name: "logSumExp", ours: ops.logSumExp, theirs: (x, a, k) => tf.logSumExp(x, a, k) },
    {
      name: "variance (biased)",
      ours: (x, a, k) => ops.variance(x, a, k, 0),
      theirs: (x, a, k) => tf.moments(x, a, k).variance,
    },
  ];
  for (const r of reductions) {
    it(`${r.name} over random axes, keepdims or not`, () => {
      fc.assert(
        fc.property(shapeAndAxes, seed, ({ shape, axes, keep }, s) => {
          agrees(
            {
              inputs: [shape],
              ours: ([x]) => r.ours(x!, axes, keep),
              theirs: ([x]) => r.theirs(x!, axes, keep),
            },
            s,
          );
        }),
        runs,
      );
    });
  }

  it("permute, concat and pad", () => {
    fc.assert(
      fc.property(
        fc.array(dim(4), { minLength: 3, maxLength: 3 }),
        fc.constantFrom([0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]),
        fc.integer({ min: 0, max: 2 }),
        seed,
        (shape, perm, axis, s) => {
          agrees(
            {
              inputs: [shape],
              ours: ([x]) => ops.permute(x!, perm),
              theirs: ([x]) => tf.transpose(x!, [...perm]),
            },
            s,
          );
          const other = shape.map((d, i) => (i === axis ? d + 1 : d));
          agrees(
            {
              inputs: [shape, other],
              ours: ([a, b]) => ops.concat([a!, b!], axis),
              theirs: ([a, b]) => tf.concat([a!, b!], axis),
            },
            s,
          );
          const pads = shape.map((_, i) => [i, (i + axis) % 2] as [number, number]);
          agrees({ inputs: [shape], ours: ([x]) => ops.pad(x!, pads), theirs: ([x]) => tf.pad(x!, pads) }, s);
        },
      ),
      runs,
    );
  });
});

describe("the harness itself", () => {
  it("reports a forward with the wrong convention and a backward that is not the forward's gradient", () => {
    const wrongAxis = compareWithTfjs({
      inputs: [[3, 4]],
      ours: ([x]) => ops.softmax(x!, 0),
      theirs: ([x]) => tf.softmax(x!),
      rng: new T.Rng(1),
    });
    expect(wrongAxis.some((p) => p.startsWith("forward: element"))).toBe(true);
    const wrongGradient = compareWithTfjs({
      inputs: [[5]],
      // 2·x forward, but a gradient of 3.
      ours: ([x]) => record("double", [x!], T.mul(x!.data, T.tensor(2)), (g) => [T.mul(g, T.tensor(3))]),
      theirs: ([x]) => tf.mul(x!, 2),
      rng: new T.Rng(2),
    });
    expect(wrongGradient).toEqual([expect.stringMatching(/^gradient of input 0: element 0 is /)]);
  });
});
