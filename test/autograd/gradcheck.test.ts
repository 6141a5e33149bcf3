import { gradcheck, ops, record, Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

// Every differentiable op is checked against central finite differences in float64, on random small shapes
// drawn by fast-check (seeded, so a failure replays).

const dim = fc.integer({ min: 1, max: 4 });
const shape = (rank: number) => fc.array(dim, { minLength: rank, maxLength: rank });
const seed = fc.integer({ min: 0, max: 1 << 30 });

function randT(shape: readonly number[], s: number, lo = -2, hi = 2): T.Tensor {
  return T.rand(shape, new T.Rng(s), lo, hi, "float64");
}

/** Values kept away from kinks (0 for relu/abs, the clamp bounds) so finite differences are valid. */
function awayFrom(t: T.Tensor, kinks: readonly number[], margin = 0.05): T.Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    for (const k of kinks) if (Math.abs(d[i]! - k) < margin) d[i] = k + (d[i]! >= k ? margin : -margin) * 2;
  }
  return t;
}

function check(fn: (...v: Variable[]) => Variable, inputs: T.Tensor[], constants?: number[]): void {
  const r = gradcheck(fn, inputs, constants ? { constants } : {});
  expect(r.failures).toEqual([]);
  expect(r.ok).toBe(true);
}

const runs = { numRuns: 20 };

describe("gradcheck: broadcasting binary ops", () => {
  // a has a random rank-3 shape; b is a broadcastable variant (some axes set to 1, maybe fewer axes).
  const pairShapes = shape(3).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc
        .array(fc.boolean(), { minLength: 3, maxLength: 3 })
        .map((ones) => s.map((d, i) => (ones[i] ? 1 : d))),
      fc.integer({ min: 0, max: 2 }),
    ),
  );
  for (const [name, fn] of [
    ["add", ops.add],
    ["sub", ops.sub],
    ["mul", ops.mul],
  ] as const) {
    it(name, () => {
      fc.assert(
        fc.property(pairShapes, seed, ([sa, sb, drop], s) => {
          check((a, b) => fn(a, b), [randT(sa, s), randT(sb.slice(drop), s + 1)]);
        }),
        runs,
      );
    });
  }
  it("div (denominator away from 0)", () => {
    fc.assert(
      fc.property(pairShapes, seed, ([sa, sb], s) => {
        check((a, b) => ops.div(a, b), [randT(sa, s), randT(sb, s + 1, 0.5, 2)]);
      }),
      runs,
    );
  });
  it("maximum and minimum split a tie's gradient in half between the operands (as PyTorch)", () => {
    const a = new Variable(T.tensor([1, 2, 3]), { requiresGrad: true });
    const b = new Variable(T.tensor([2, 2, 2]), { requiresGrad: true });
    ops.sum(ops.maximum(a, b)).backward();
    expect([a.grad!.toArray(), b.grad!.toArray()]).toEqual([
      [0, 0.5, 1],
      [1, 0.5, 0],
    ]);
    a.grad = b.grad = null;
    ops.sum(ops.minimum(a, b)).backward();
    expect([a.grad!.toArray(), b.grad!.toArray()]).toEqual([
      [1, 0.5, 0],
      [0, 0.5, 1],
    ]);
  });
  it("pow with exponent 0 has gradient 0 everywhere, x = 0 included", () => {
    const x = new Variable(T.tensor([0, 2, -1]), { requiresGrad: true });
    ops.sum(ops.pow(x, 0)).backward();
    expect(x.grad!.toArray()).toEqual([0, 0, 0]);
  });
  it("maximum and minimum (no ties)", () => {
    fc.assert(
      fc.property(shape(2), seed, (sh, s) => {
        const a = randT(sh, s);
        const b = T.add(a, T.sub(T.greater(randT(sh, s + 1), 0), 0.5));
        check((x, y) => ops.maximum(x, y), [a, b]);
        check((x, y) => ops.minimum(x, y), [a, b]);
      }),
      runs,
    );
  });
  it("where", () => {
    fc.assert(
      fc.property(shape(2), seed, (sh, s) => {
        const cond = T.greater(randT(sh, s + 7), 0);
        check((a, b) => ops.where(cond, a, b), [randT(sh, s), randT(sh, s + 1)]);
      }),
      runs,
    );
  });
});

describe("gradcheck: unary ops", () => {
  const cases: Array<[string, (v: Variable) => Variable, number, number, number[]]> = [
    ["neg", ops.neg, -2, 2, []],
    ["exp", ops.exp, -2, 2, []],
    ["log", ops.log, 0.2, 3, []],
    ["sqrt", ops.sqrt, 0.2, 3, []],
    ["abs", ops.abs, -2, 2, [0]],
    ["tanh", ops.tanh, -2, 2, []],
    ["sigmoid", ops.sigmoid, -3, 3, []],
    ["relu", ops.relu, -2, 2, [0]],
    ["relu6", ops.relu6, -2, 8, [0, 6]],
    ["clamp", (v) => ops.clamp(v, -0.5, 1), -2, 2, [-0.5, 1]],
    ["pow 3", (v) => ops.pow(v, 3), -2, 2, []],
    ["pow -1.5", (v) => ops.pow(v, -1.5), 0.3, 2, []],
    ["square", ops.square, -2, 2, []],
  ];
  for (const [name, fn, lo, hi, kinks] of cases) {
    it(name, () => {
      fc.assert(
        fc.property(shape(2), seed, (sh, s) => {
          check(fn, [awayFrom(randT(sh, s, lo, hi), kinks)]);
        }),
        runs,
      );
    });
  }
});

describe("gradcheck: reductions and softmax", () => {
  const axesArb = fc.subarray([0, 1, 2], { minLength: 1 });
  it("sum and mean over random axes, with and without keepdims", () => {
    fc.assert(
      fc.property(shape(3), axesArb, fc.boolean(), seed, (sh, axes, keep, s) => {
        check((v) => ops.sum(v, axes, keep), [randT(sh, s)]);
        check((v) => ops.mean(v, axes, keep), [randT(sh, s)]);
      }),
      runs,
    );
  });
  it("max and min (distinct values)", () => {
    fc.assert(
      fc.property(shape(3), axesArb, fc.boolean(), seed, (sh, axes, keep, s) => {
        const n = T.shapeSize(sh);
        const perm = new T.Rng(s).permutation(n);
        const x = T.tensor(
          Array.from(perm, (p) => p * 0.37 - n * 0.1),
          sh,
          "float64",
        );
        check((v) => ops.max(v, axes, keep), [x]);
        check((v) => ops.min(v, axes, keep), [x]);
      }),
      runs,
    );
  });
  it("variance (population and sample)", () => {
    fc.assert(
      fc.property(
        shape(2).filter((sh) => sh[1]! > 1),
        seed,
        (sh, s) => {
          check((v) => ops.variance(v, 1, false, 0), [randT(sh, s)]);
          check((v) => ops.variance(v, 1, true, 1), [randT(sh, s)]);
        },
      ),
      runs,
    );
  });
  it("logSumExp, softmax, logSoftmax along each axis", () => {
    fc.assert(
      fc.property(shape(3), fc.integer({ min: -3, max: 2 }), seed, (sh, axis, s) => {
        check((v) => ops.logSumExp(v, axis), [randT(sh, s, -4, 4)]);
        check((v) => ops.softmax(v, axis), [randT(sh, s, -4, 4)]);
        check((v) => ops.logSoftmax(v, axis), [randT(sh, s, -4, 4)]);
      }),
      runs,
    );
  });
});

describe("gradcheck: movement ops", () => {
  it("reshape, flatten, permute, transpose, squeeze, unsqueeze, expand", () => {
    fc.assert(
      fc.property(shape(3), seed, (sh, s) => {
        const x = randT(sh, s);
        check((v) => ops.reshape(v, [-1]), [x]);
        check((v) => ops.flatten(v, 1), [x]);
        check((v) => ops.permute(v, [2, 0, 1]), [x]);
        check((v) => ops.transpose(v, 0, 2), [x]);
        check((v) => ops.unsqueeze(v, 1), [x]);
        check((v) => ops.squeeze(ops.unsqueeze(v, 0), [0]), [x]);
        check((v) => ops.expand(ops.unsqueeze(v, 0), [2, ...sh]), [x]);
      }),
      runs,
    );
  });
  it("slice, pad, concat, stack", () => {
    fc.assert(
      fc.property(
        shape(2).filter((sh) => sh[0]! > 1),
        seed,
        (sh, s) => {
          const x = randT(sh, s);
          check(
            (v) =>
              ops.slice(v, [
                [1, sh[0]!],
                [0, sh[1]!, 2],
              ]),
            [x],
          );
          check(
            (v) =>
              ops.pad(
                v,
                [
                  [1, 0],
                  [2, 1],
                ],
                0.5,
              ),
            [x],
          );
          check((a, b) => ops.concat([a, b, a], 1), [x, randT(sh, s + 1)]);
          check((a, b) => ops.stack([a, b], 0), [x, randT(sh, s + 1)]);
        },
      ),
      runs,
    );
  });
});

describe("gradcheck: matmul, linear, conv, pooling, batchnorm, losses", () => {
  it("matmul: 2-D, batched with broadcast, 1-D operands", () => {
    fc.assert(
      fc.property(dim, dim, dim, dim, seed, (b, m, k, n, s) => {
        check((x, y) => ops.matmul(x, y), [randT([m, k], s), randT([k, n], s + 1)]);
        check((x, y) => ops.matmul(x, y), [randT([b, m, k], s), randT([k, n], s + 1)]);
        check((x, y) => ops.matmul(x, y), [randT([k], s), randT([b, k, n], s + 1)]);
        check((x, y) => ops.matmul(x, y), [randT([m, k], s), randT([k], s + 1)]);
        check((x, y) => ops.matmul(x, y), [randT([k], s), randT([k], s + 1)]); // dot product, scalar out
      }),
      runs,
    );
  });
  it("linear with and without bias", () => {
    fc.assert(
      fc.property(dim, dim, dim, seed, (n, i, o, s) => {
        check((x, w, b) => ops.linear(x, w, b), [randT([n, i], s), randT([o, i], s + 1), randT([o], s + 2)]);
        check((x, w) => ops.linear(x, w, null), [randT([n, i], s), randT([o, i], s + 1)]);
      }),
      runs,
    );
  });
  it("conv2d: stride, padding, dilation, groups", () => {
    const cfg = fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      g: fc.integer({ min: 1, max: 2 }),
      cin: fc.integer({ min: 1, max: 2 }),
      cout: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 3, max: 6 }),
      w: fc.integer({ min: 3, max: 6 }),
      k: fc.integer({ min: 1, max: 3 }),
      stride: fc.integer({ min: 1, max: 3 }),
      pad: fc.integer({ min: 0, max: 1 }),
      dil: fc.integer({ min: 1, max: 2 }),
    });
    fc.assert(
      fc.property(cfg, seed, (c, s) => {
        const ext = c.dil * (c.k - 1) + 1;
        fc.pre(ext <= c.h + 2 * c.pad && ext <= c.w + 2 * c.pad);
        const opts = { stride: c.stride, padding: c.pad, dilation: c.dil, groups: c.g };
        const x = randT([c.n, c.cin * c.g, c.h, c.w], s);
        const w = randT([c.cout * c.g, c.cin, c.k, c.k], s + 1);
        const b = randT([c.cout * c.g], s + 2);
        check((xv, wv, bv) => ops.conv2d(xv, wv, bv, opts), [x, w, b]);
      }),
      { numRuns: 30 },
    );
  });
  it("maxPool2d and avgPool2d", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        seed,
        (hw, k, st, s) => {
          fc.pre(k <= hw);
          const n = 2 * 2 * hw * hw;
          const perm = new T.Rng(s).permutation(n);
          const x = T.tensor(
            Array.from(perm, (p) => p * 0.1),
            [2, 2, hw, hw],
            "float64",
          );
          check((v) => ops.maxPool2d(v, { kernel: k, stride: st }), [x]);
          check((v) => ops.avgPool2d(v, { kernel: k, stride: st }), [x]);
          if (k > 1)
            check(
              (v) => ops.avgPool2d(v, { kernel: k, stride: st, padding: 1, countIncludePad: false }),
              [x],
            );
        },
      ),
      runs,
    );
  });
  it("batchNorm (training mode) on [N, C] and [N, C, H, W]", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), dim, seed, (n, c, s) => {
        check(
          (x, g, b) => ops.batchNormTrain(x, g, b, 1e-5).out,
          [randT([n, c], s), randT([c], s + 1), randT([c], s + 2)],
        );
        check(
          (x, g, b) => ops.batchNormTrain(x, g, b, 1e-5).out,
          [randT([n, c, 2, 3], s), randT([c], s + 1), randT([c], s + 2)],
        );
      }),
      runs,
    );
  });
  it("crossEntropy with and without label smoothing; mse", () => {
    fc.assert(
      fc.property(dim, fc.integer({ min: 2, max: 5 }), seed, (n, c, s) => {
        const rng = new T.Rng(s);
        const labels = Array.from({ length: n }, () => rng.int(c));
        check((z) => ops.crossEntropy(z, labels), [randT([n, c], s, -3, 3)]);
        check(
          (z) => ops.crossEntropy(z, labels, { labelSmoothing: 0.1, reduction: "sum" }),
          [randT([n, c], s, -3, 3)],
        );
        check((p, t) => ops.mse(p, t), [randT([n, c], s), randT([n, c], s + 1)], [1]);
      }),
      runs,
    );
  });
});

describe("gradcheck itself", () => {
  it("rejects a wrong gradient rule (so the checks above can fail)", () => {
    const wrongSquare = (v: Variable) =>
      record("wrongSquare", [v], T.mul(v.data, v.data), (g) => [T.mul(g, v.data)]);
    const r = gradcheck(wrongSquare, [T.tensor([0.5, -1.5, 2], [3], "float64")]);
    expect(r.ok).toBe(false);
    expect(r.failures.length).toBe(3);
  });
  it("checks the whole vector-Jacobian product of a non-scalar output", () => {
    // Wrong only in the cross term: d(y1)/d(x0) is dropped.
    const op = (v: Variable) =>
      record(
        "coupled",
        [v],
        T.tensor([v.data.get(0), v.data.get(0) * v.data.get(1)], [2], "float64"),
        (g) => [T.tensor([g.get(0), g.get(1) * v.data.get(0)], [2], "float64")],
      );
    expect(gradcheck(op, [T.tensor([1.5, -2], [2], "float64")]).ok).toBe(false);
  });
});
