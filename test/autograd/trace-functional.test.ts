import { nn, ops, Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

/** A residual block written with functional ops, as users write them: no Add or ReLU module. */
class FunctionalBlock extends nn.Module {
  readonly conv: nn.Conv2d;
  constructor() {
    super();
    this.conv = this.registerModule("conv", new nn.Conv2d(2, 2, 3, { padding: 1, rng: new T.Rng(1) }));
  }
  forward(x: Variable): Variable {
    return ops.relu(ops.add(x, this.conv.call(x)));
  }
}

class TwoBlocks extends nn.Module {
  readonly a: FunctionalBlock;
  readonly b: FunctionalBlock;
  constructor() {
    super();
    this.a = this.registerModule("a", new FunctionalBlock());
    this.b = this.registerModule("b", new FunctionalBlock());
  }
  forward(x: Variable): Variable {
    // The same op type twice in one scope gets #0 and #1.
    return ops.add(ops.mul(this.b.call(this.a.call(x)), 0.5), 1);
  }
}

/** A custom module without submodules: by default one opaque node. */
class ScaleShift extends nn.Module {
  forward(x: Variable): Variable {
    return ops.add(ops.mul(x, 3), -1);
  }
}

describe("trace: functional ops", () => {
  it("records residual adds and relus written with ops, named by scope", () => {
    const g = nn.trace(new TwoBlocks(), T.zeros([1, 2, 3, 3]));
    expect(g.nodes.map((n) => `${n.kind}:${n.type}:${n.name}`)).toEqual([
      "module:Conv2d:a.conv",
      "op:add:a.add#0",
      "op:relu:a.relu#0",
      "module:Conv2d:b.conv",
      "op:add:b.add#0",
      "op:relu:b.relu#0",
      "op:mul:mul#0",
      "op:add:add#0",
    ]);
    const [conv, add, relu] = g.nodes;
    // The residual sum takes the block input and the branch output; the relu takes the sum.
    expect(add!.inputs).toEqual(["input", conv!.output]);
    expect(add!.scope).toBe("a");
    expect(relu!.inputs).toEqual([add!.output]);
    expect(g.output.id).toBe(g.nodes[7]!.output);
    // Scalar constants keep their values, so a compiler can rebuild `x * 0.5 + 1`.
    expect(g.constants.map((c) => c.values)).toEqual([[0.5], [1]]);
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
  });

  it("opens custom leaf modules when the caller's isLeaf says so", () => {
    class Net extends nn.Module {
      readonly s = new ScaleShift();
      readonly fc: nn.Linear;
      constructor() {
        super();
        this.registerModule("s", this.s);
        this.fc = this.registerModule("fc", new nn.Linear(4, 2));
      }
      forward(x: Variable): Variable {
        return this.fc.call(this.s.call(x));
      }
    }
    const byDefault = nn.trace(new Net(), T.zeros([1, 4]));
    expect(byDefault.nodes.map((n) => n.type)).toEqual(["ScaleShift", "Linear"]);
    const opened = nn.trace(new Net(), T.zeros([1, 4]), { isLeaf: (m) => m instanceof nn.Linear });
    expect(opened.nodes.map((n) => `${n.type}:${n.name}`)).toEqual([
      "mul:s.mul#0",
      "add:s.add#0",
      "Linear:fc",
    ]);
  });

  it("reports every value with its id, and constants' values only up to the limit", () => {
    const seen = new Map<string, number[]>();
    const x = T.tensor([
      [1, -2],
      [3, 4],
    ]);
    const m = new nn.Sequential(new nn.Linear(2, 3, { rng: new T.Rng(2) }), new nn.ReLU());
    const g = nn.trace(m, x, { onValue: (id, v) => seen.set(id, v.toArray()) });
    expect([...seen.keys()]).toEqual(["input", ...g.nodes.map((n) => n.output)]);
    expect(seen.get("input")).toEqual([1, -2, 3, 4]);
    const fcOut = seen.get(g.nodes[0]!.output)!;
    expect(fcOut).toEqual(m.layers[0]!.call(new Variable(x)).data.toArray());
    expect(seen.get(g.nodes[1]!.output)).toEqual(fcOut.map((v) => Math.max(v, 0)));

    class Big extends nn.Module {
      forward(v: Variable): Variable {
        return ops.add(v, T.ones([2, 20]));
      }
    }
    const big = nn.trace(new Big(), T.zeros([2, 20]), { isLeaf: () => false });
    expect(big.constants[0]!.values).toBeUndefined();
    const all = nn.trace(new Big(), T.zeros([2, 20]), { isLeaf: () => false, constantValues: 40 });
    expect(all.constants[0]!.values).toHaveLength(40);
  });
});
