/**
 * The fused convReluMaxPool op and Sequential's use of it. The reference is always the unfused
 * composition conv2d → relu → maxPool2d: the fused op must give the same values and gradients (bit for
 * bit: on both backends it runs the same conv kernels and the exact ReLU/pool rules), Sequential must
 * fuse only where that is invisible (no tracer, hooks, weight hooks, QAT points or other activation),
 * and training with or without fusion must end at the same parameters.
 */
import { gradcheck, nn, ops, SGD, trace, Variable } from "@quant-trim/autograd";
import { setOpObserver } from "@quant-trim/autograd/internal";
import { prepareQat } from "@quant-trim/quant";
import { zoo } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { describeEachBackend, expectSame } from "../tensor/backends.js";

/** Every op name in the recorded graph behind `y`. */
function opsOf(y: Variable): Set<string> {
  const seen = new Set<Variable>();
  const names = new Set<string>();
  const stack = [y];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    names.add(v.op);
    stack.push(...v.inputs);
  }
  return names;
}

const FUSED = "convReluMaxPool";

describe("convReluMaxPool: gradcheck", () => {
  // Finite differences are valid only away from ReLU's kink and from ties between a window's top two
  // candidates; such draws are skipped (fc.pre), the margin being far above the step's effect.
  const margin = 1e-3;
  const cfg = fc.record({
    n: fc.integer({ min: 1, max: 2 }),
    cin: fc.integer({ min: 1, max: 2 }),
    cout: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 4, max: 7 }),
    w: fc.integer({ min: 4, max: 7 }),
    k: fc.integer({ min: 1, max: 3 }),
    pad: fc.integer({ min: 0, max: 1 }),
    pk: fc.integer({ min: 2, max: 3 }),
    ps: fc.integer({ min: 1, max: 2 }),
    seed: fc.integer({ min: 0, max: 1 << 30 }),
  });
  it("x, w and bias against central differences in float64", () => {
    fc.assert(
      fc.property(cfg, (c) => {
        const hc = c.h + 2 * c.pad - c.k + 1;
        const wc = c.w + 2 * c.pad - c.k + 1;
        fc.pre(hc >= c.pk && wc >= c.pk);
        const rng = new T.Rng(c.seed);
        const x = T.rand([c.n, c.cin, c.h, c.w], rng, -2, 2, "float64");
        const w = T.rand([c.cout, c.cin, c.k, c.k], rng, -1, 1, "float64");
        const b = T.rand([c.cout], rng, -0.5, 0.5, "float64");
        const convOpts = { padding: c.pad };
        const poolOpts = { kernel: c.pk, stride: c.ps };
        const conv = T.conv2d(x, w, b, convOpts);
        fc.pre(wellSeparated(conv, c.pk, c.ps, margin));
        const r = gradcheck((xv, wv, bv) => ops.convReluMaxPool(xv, wv, bv, convOpts, poolOpts), [x, w, b]);
        expect(r.failures).toEqual([]);
        expect(r.ok).toBe(true);
      }),
      { numRuns: 15 },
    );
  });
});

/** Every pooling window's maximum is > margin above the rest and away from 0 by margin. */
function wellSeparated(conv: T.Tensor, k: number, s: number, margin: number): boolean {
  const [n, ch, h, w] = conv.shape as [number, number, number, number];
  const d = conv.contiguous().data;
  const ho = Math.floor((h - k) / s) + 1;
  const wo = Math.floor((w - k) / s) + 1;
  for (let p = 0; p < n * ch; p++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        const vals: number[] = [];
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++) vals.push(d[p * h * w + (oh * s + i) * w + ow * s + j]!);
        vals.sort((a, b) => b - a);
        if (Math.abs(vals[0]!) < margin) return false;
        if (vals[0]! > 0 && vals[0]! - vals[1]! < margin) return false;
      }
    }
  }
  return true;
}

describeEachBackend("convReluMaxPool", () => {
  it("forward values and the gradients of x, w and bias equal conv2d → relu → maxPool2d", () => {
    const cases: Array<[number[], number[], T.Conv2dOptions, T.Pool2dOptions, boolean]> = [
      // The CNN's two blocks at a small batch, a strided conv with overlapping pool windows, no bias.
      [[4, 1, 28, 28], [8, 1, 3, 3], { padding: 1 }, { kernel: 2 }, true],
      [[4, 8, 14, 14], [16, 8, 3, 3], { padding: 1 }, { kernel: 2 }, true],
      [[3, 2, 11, 9], [5, 2, 3, 3], { stride: 2 }, { kernel: 3, stride: 1, padding: 1 }, false],
    ];
    let seed = 1;
    for (const [xs, ws, convOpts, poolOpts, withBias] of cases) {
      const rng = new T.Rng(seed++);
      // Quantised values make exact zeros and ties common (ReLU's kink and the pool's tie rule).
      const q = (shape: number[]) =>
        T.tensor(
          Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng.int(33) - 16) * 0.25),
          shape,
        );
      const xt = q(xs);
      const wt = q(ws);
      const bt = withBias ? q([ws[0]!]) : null;
      const run = (fused: boolean) => {
        const x = new Variable(xt.copy(), { requiresGrad: true });
        const w = new Variable(wt.copy(), { requiresGrad: true });
        const b = bt ? new Variable(bt.copy(), { requiresGrad: true }) : null;
        const y = fused
          ? ops.convReluMaxPool(x, w, b, convOpts, poolOpts)
          : ops.maxPool2d(ops.relu(ops.conv2d(x, w, b, convOpts)), poolOpts);
        const g = T.rand(y.shape, new T.Rng(99), -1, 1);
        y.backward(g);
        return { y: y.data, dx: x.grad!, dw: w.grad!, db: b?.grad ?? null, graph: opsOf(y) };
      };
      const f = run(true);
      const u = run(false);
      expect(f.graph.has(FUSED)).toBe(true);
      expect(u.graph.has(FUSED)).toBe(false);
      expect(f.y.shape).toEqual(u.y.shape);
      expectSame(f.y.contiguous().data, u.y.contiguous().data, "y");
      expectSame(f.dx.data, u.dx.data, "dx");
      expectSame(f.dw.data, u.dw.data, "dw");
      if (withBias) expectSame(f.db!.data, u.db!.data, "db");
    }
  });

  it("training the fp cnn for a few steps gives the same parameters fused and unfused", () => {
    const train = (fused: boolean) => {
      const prev = nn.setSequentialFusion(fused);
      try {
        const model = zoo.cnn!({ inputShape: [1, 12, 12], classes: 10, seed: 3 });
        const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
        const rng = new T.Rng(5);
        let sawFused = false;
        for (let step = 0; step < 3; step++) {
          const x = new Variable(T.rand([8, 1, 12, 12], rng, 0, 1));
          const labels = Array.from({ length: 8 }, () => rng.int(10));
          opt.zeroGrad();
          const logits = model.call(x);
          sawFused ||= opsOf(logits).has(FUSED);
          ops.crossEntropy(logits, labels).backward();
          opt.step();
        }
        return { state: model.stateDict(), sawFused };
      } finally {
        nn.setSequentialFusion(prev);
      }
    };
    const f = train(true);
    const u = train(false);
    expect(f.sawFused).toBe(true);
    expect(u.sawFused).toBe(false);
    expect(Object.keys(f.state)).toEqual(Object.keys(u.state));
    for (const name of Object.keys(u.state)) expectSame(f.state[name]!.data, u.state[name]!.data, name);
  });
});

describe("Sequential fuses Conv2d → ReLU → MaxPool2d only where it is invisible", () => {
  afterEach(() => {
    nn.setSequentialFusion(true);
  });
  const block = (act: nn.Module = new nn.ReLU()) =>
    new nn.Sequential(
      new nn.Conv2d(2, 3, 3, { padding: 1 }),
      act,
      new nn.MaxPool2d({ kernel: 2 }),
      new nn.Flatten(),
    );
  const input = () => new Variable(T.rand([2, 2, 6, 6], new T.Rng(1), -1, 1));
  const fusedIn = (model: nn.Module) => opsOf(model.call(input())).has(FUSED);

  it("fuses a plain block (also without gradients), not when disabled", () => {
    const model = block();
    for (const p of model.parameters()) p.requiresGrad = true;
    expect(fusedIn(model)).toBe(true);
    expect(nn.setSequentialFusion(false)).toBe(true);
    expect(fusedIn(model)).toBe(false);
  });

  it("keeps three modules for the tracer and for op observers", () => {
    const model = block();
    const graph = trace(model, T.rand([1, 2, 6, 6], new T.Rng(2)));
    expect(graph.nodes.map((n) => n.type)).toEqual(["Conv2d", "ReLU", "MaxPool2d", "Flatten"]);
    const seen: string[] = [];
    const prev = setOpObserver((op) => {
      seen.push(op);
    });
    try {
      model.call(input());
    } finally {
      setOpObserver(prev);
    }
    expect(seen).toEqual(["conv2d", "relu", "maxPool2d", "reshape"]);
  });

  it("does not fuse another activation, a subclass, or a block with any hook", () => {
    expect(fusedIn(block(new nn.ReLU6()))).toBe(false);
    class MyReLU extends nn.ReLU {}
    expect(fusedIn(block(new MyReLU()))).toBe(false);
    const hooked = [
      (m: nn.Sequential) => {
        m.layers[1]!.hooks.output = (y) => y;
      },
      (m: nn.Sequential) => {
        m.layers[2]!.hooks.input = (y) => y;
      },
      (m: nn.Sequential) => {
        (m.layers[0] as nn.Conv2d).weightHook = (w) => w;
      },
      (m: nn.Sequential) => {
        const relu = m.layers[1]!;
        relu.call = (x) => relu.forward(x);
      },
    ];
    for (const install of hooked) {
      const m = block();
      install(m);
      expect(fusedIn(m)).toBe(false);
    }
  });

  it("QAT keeps the unfused ops (its fake-quant points hook into the block); detached, the model fuses again", () => {
    const model = zoo.cnn!({ inputShape: [1, 8, 8], classes: 4, seed: 1 });
    const qat = prepareQat(model, { inputShape: [2, 1, 8, 8] });
    qat.setLambda(1);
    const x = new Variable(T.rand([2, 1, 8, 8], new T.Rng(4), 0, 1));
    const graph = opsOf(qat.call(x));
    expect(graph.has(FUSED)).toBe(false);
    expect(graph.has("maxPool2d")).toBe(true);
    qat.detach();
    expect(opsOf(model.call(x)).has(FUSED)).toBe(true);
  });
});
