import { gradcheck, nn, ops, Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

class Residual extends nn.Module {
  readonly conv: nn.Conv2d;
  readonly bn: nn.BatchNorm2d;
  readonly relu = new nn.ReLU();
  readonly add = new nn.Add();
  constructor() {
    super();
    this.conv = this.registerModule("conv", new nn.Conv2d(2, 2, 3, { padding: 1, rng: new T.Rng(3) }));
    this.bn = this.registerModule("bn", new nn.BatchNorm2d(2));
    this.registerModule("relu", this.relu);
    this.registerModule("add", this.add);
  }
  forward(x: Variable): Variable {
    return this.add.call(x, this.relu.call(this.bn.call(this.conv.call(x))));
  }
}

describe("Module", () => {
  it("names parameters and buffers by dotted path, in declaration order", () => {
    const m = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.BatchNorm1d(3));
    expect(Object.keys(m.stateDict())).toEqual([
      "0.weight",
      "0.bias",
      "2.weight",
      "2.bias",
      "2.running_mean",
      "2.running_var",
    ]);
    expect(m.parameters().length).toBe(4);
  });

  it("loadStateDict copies into the live tensors and checks names and shapes", () => {
    const a = new nn.Sequential(new nn.Linear(4, 3, { rng: new T.Rng(1) }));
    const b = new nn.Sequential(new nn.Linear(4, 3, { rng: new T.Rng(2) }));
    const w = b.parameters()[0]!.data;
    b.loadStateDict(a.stateDict());
    expect(b.parameters()[0]!.data).toBe(w);
    expect(w.toArray()).toEqual(a.parameters()[0]!.data.toArray());
    expect(() => b.loadStateDict({ "0.weight": T.zeros([4, 3]), "0.bias": T.zeros([3]) })).toThrow(
      /'0.weight' has shape \[4, 3\], the model expects \[3, 4\]/,
    );
    expect(() => b.loadStateDict({ "0.weight": T.zeros([3, 4]) })).toThrow(/missing 0.bias/);
    expect(() => b.loadStateDict({ ...a.stateDict(), extra: T.zeros([1]) })).toThrow(/unexpected extra/);
  });

  it("initialises Linear and Conv2d Kaiming-uniform within ±1/√fan_in, reproducibly", () => {
    const l = new nn.Linear(100, 50, { rng: new T.Rng(7) });
    const bound = 1 / Math.sqrt(100);
    const w = l.weight.data.toArray();
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(new nn.Linear(100, 50, { rng: new T.Rng(7) }).weight.data.toArray()).toEqual(w);
    const c = new nn.Conv2d(4, 8, 3, { rng: new T.Rng(7) });
    expect(Math.max(...c.weight.data.toArray().map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(36));
  });

  it("BatchNorm2d uses batch statistics in training, updates running stats, and uses them in eval", () => {
    const bn = new nn.BatchNorm2d(3);
    const x = T.randn([4, 3, 2, 2], new T.Rng(1), 2, 3);
    const y = bn.call(new Variable(x)).data;
    // Per-channel mean ~0 and variance ~1 in training mode.
    const mean = T.mean(y, [0, 2, 3]).toArray();
    const varc = T.variance(y, [0, 2, 3]).toArray();
    for (const m of mean) expect(Math.abs(m)).toBeLessThan(1e-5);
    for (const v of varc) expect(v).toBeCloseTo(1, 3);
    const bm = T.mean(x, [0, 2, 3]).toArray();
    const bv = T.variance(x, [0, 2, 3], false, 1).toArray();
    bn.runningMean.toArray().forEach((r, c) => {
      expect(r).toBeCloseTo(0.1 * bm[c]!, 5);
    });
    bn.runningVar.toArray().forEach((r, c) => {
      expect(r).toBeCloseTo(0.9 + 0.1 * bv[c]!, 5);
    });
    bn.eval();
    const ye = bn.call(new Variable(x)).data.toArray();
    const expected = x.toArray().map((v, i) => {
      const c = Math.floor(i / 4) % 3;
      return (v - bn.runningMean.get(c)) / Math.sqrt(bn.runningVar.get(c) + 1e-5);
    });
    ye.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i]!, 4);
    });
  });

  it("BatchNorm in eval mode passes gradcheck with respect to its input", () => {
    const bn = new nn.BatchNorm1d(2);
    bn.eval();
    bn.runningMean.data.set([0.5, -1]);
    bn.runningVar.data.set([2, 0.5]);
    bn.weight.data.data.set([1.5, 0.5]);
    bn.bias.data.data.set([0.1, -0.2]);
    const r = gradcheck((x) => bn.call(x), [T.rand([3, 2], new T.Rng(1), -1, 1, "float64")], { rtol: 1e-2 });
    expect(r.failures).toEqual([]);
  });

  it("lists a shared parameter once for optimizers, under every name in the state dict", () => {
    const shared = new nn.Linear(3, 3, { rng: new T.Rng(2) });
    const m = new nn.Sequential(shared, new nn.ReLU(), shared);
    expect(m.namedParameters().map(([n]) => n)).toEqual(["0.weight", "0.bias"]);
    expect(m.parameters()).toEqual([shared.weight, shared.bias]);
    expect(Object.keys(m.stateDict())).toEqual(["0.weight", "0.bias", "2.weight", "2.bias"]);
    m.loadStateDict(m.stateDict());
  });

  it("Flatten keeps an empty batch empty: [0, 3, 4] → [0, 12]", () => {
    const y = new nn.Flatten().call(new Variable(T.zeros([0, 3, 4])));
    expect(y.shape).toEqual([0, 12]);
  });

  it("BatchNorm1d takes [N, C] and [N, C, L]; [N, C, L] normalises over N and L like [N·L, C]", () => {
    const x = T.randn([3, 2, 4], new T.Rng(4), 1, 2);
    const a = new nn.BatchNorm1d(2);
    const b = new nn.BatchNorm1d(2);
    const ya = a.call(new Variable(x)).data;
    const flat = T.reshape(T.permute(x, [0, 2, 1]), [12, 2]);
    const yb = b.call(new Variable(flat)).data;
    const back = T.permute(T.reshape(yb, [3, 4, 2]), [0, 2, 1]);
    ya.toArray().forEach((v, i) => {
      expect(v).toBeCloseTo(back.toArray()[i]!, 5);
    });
    expect(a.runningVar.toArray()).toEqual(b.runningVar.toArray());
    a.eval();
    expect(a.call(new Variable(x)).shape).toEqual([3, 2, 4]);
    expect(() => a.call(new Variable(T.zeros([3, 2, 4, 1])))).toThrow(/expected a rank-2 or rank-3 input/);
  });

  it("Dropout is seeded, scales kept values by 1/(1−p), and is the identity in eval", () => {
    const d = new nn.Dropout(0.25, new T.Rng(5));
    const x = new Variable(T.ones([1000]));
    const y = d.call(x).data.toArray();
    const kept = y.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    expect(kept.length / 1000).toBeGreaterThan(0.7);
    expect(kept.length / 1000).toBeLessThan(0.8);
    d.eval();
    expect(d.call(x)).toBe(x);
    expect(() => new nn.Dropout(1)).toThrow(/p must be in \[0, 1\)/);
  });
});

describe("trace", () => {
  it("records leaf-module calls with names, shapes and attributes, in execution order", () => {
    const m = new nn.Sequential(
      new nn.Conv2d(1, 2, 3, { padding: 1 }),
      new nn.ReLU(),
      new nn.MaxPool2d({ kernel: 2 }),
      new nn.Flatten(),
      new nn.Linear(8, 3),
    );
    const g = trace(m);
    expect(g.nodes.map((n) => `${n.type}:${n.name}`)).toEqual([
      "Conv2d:0",
      "ReLU:1",
      "MaxPool2d:2",
      "Flatten:3",
      "Linear:4",
    ]);
    expect(g.nodes[0]!.inputs).toEqual(["input"]);
    expect(g.nodes[1]!.inputs).toEqual([g.nodes[0]!.output]);
    expect(g.nodes[0]!.outputShape).toEqual([1, 2, 4, 4]);
    expect(g.nodes[0]!.attrs).toMatchObject({ inChannels: 1, outChannels: 2, kernel: [3, 3], padding: 1 });
    expect(g.output).toEqual({ id: g.nodes[4]!.output, shape: [1, 3] });
    // Plain data: survives JSON.
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
  });

  it("records residual structure: the Add node takes the block input and the branch output", () => {
    const g = nn.trace(new Residual(), T.zeros([1, 2, 4, 4]));
    expect(g.nodes.map((n) => n.type)).toEqual(["Conv2d", "BatchNorm2d", "ReLU", "Add"]);
    const add = g.nodes[3]!;
    expect(add.inputs).toEqual(["input", g.nodes[2]!.output]);
    expect(add.name).toBe("add");
  });

  it("records functional ops used outside modules, and restores training mode", () => {
    class Custom extends nn.Module {
      readonly fc: nn.Linear;
      constructor() {
        super();
        this.fc = this.registerModule("fc", new nn.Linear(4, 2));
      }
      forward(x: Variable): Variable {
        return ops.mul(this.fc.call(ops.reshape(x, [1, 4])), 2);
      }
    }
    const m = new Custom();
    const g = nn.trace(m, T.zeros([2, 2]));
    expect(g.nodes.map((n) => `${n.kind}:${n.type}`)).toEqual(["op:reshape", "module:Linear", "op:mul"]);
    expect(g.constants).toHaveLength(1);
    expect(m.training).toBe(true);
  });
});

function trace(m: nn.Module) {
  return nn.trace(m, T.zeros([1, 1, 4, 4]));
}
