import { nn, ops, trace, Variable } from "@quant-trim/autograd";
import { moduleNames, OpScopes, setOpRewriter, setTracer } from "@quant-trim/autograd/internal";
import * as T from "@quant-trim/tensor";
import { afterEach, describe, expect, it } from "vitest";

afterEach(() => {
  setOpRewriter(null);
  setTracer(null);
});

const v = (xs: number[]) =>
  new Variable(T.fromData(Float32Array.from(xs), [xs.length]), { requiresGrad: true });

describe("op rewriter", () => {
  it("replaces an op's result, keeps it on undefined, and does not offer its own ops again", () => {
    const seen: string[] = [];
    const prev = setOpRewriter((op, _inputs, out) => {
      seen.push(op);
      // The rewriter's own ops (a mul here) go through record without reaching the rewriter.
      return op === "add" ? ops.mul(out, 2) : undefined;
    });
    expect(prev).toBeNull();
    const a = v([1, 2]);
    const b = v([3, 4]);
    const y = ops.sub(ops.add(a, b), 1);
    expect(Array.from(y.data.toFloat32Array())).toEqual([7, 11]);
    expect(seen).toEqual(["add", "sub"]);
    // The replacement is part of the graph: d(sum y)/da = 2.
    ops.sum(y).backward();
    expect(Array.from(a.grad!.toFloat32Array())).toEqual([2, 2]);
    setOpRewriter(null);
    expect(Array.from(ops.add(a, b).data.toFloat32Array())).toEqual([4, 6]);
  });

  it("recovers after a rewriter throws", () => {
    setOpRewriter(() => {
      throw new Error("boom");
    });
    expect(() => ops.add(v([1]), v([2]))).toThrow("boom");
    let calls = 0;
    setOpRewriter(() => {
      calls++;
      return undefined;
    });
    ops.add(v([1]), v([2]));
    expect(calls).toBe(1);
  });
});

class Inner extends nn.Module {
  readonly fc = this.registerModule("fc", new nn.Linear(2, 2, { rng: new T.Rng(0) }));
  forward(x: Variable): Variable {
    return ops.relu(ops.add(ops.add(x, this.fc.call(x)), x));
  }
}
class Outer extends nn.Module {
  readonly a = this.registerModule("a", new Inner());
  readonly b = this.registerModule("b", new nn.Sequential(new Inner(), new nn.ReLU()));
  forward(x: Variable): Variable {
    return ops.add(this.b.call(this.a.call(x)), x);
  }
}

describe("OpScopes", () => {
  it("gives the ops of a run the handles the tracer records", () => {
    const model = new Outer();
    model.eval();
    const x = T.fromData(Float32Array.from([1, -2, 3, 0.5]), [2, 2]);
    const traced = trace(model, x)
      .nodes.filter((n) => n.kind === "op")
      .map((n) => n.name);
    const scopes = new OpScopes(moduleNames(model), (m) => m.isLeafModule);
    const handles: string[] = [];
    setTracer({ callModule: (m, _inputs, run) => scopes.enter(m, run) });
    setOpRewriter((op) => {
      if (!scopes.insideLeaf) handles.push(scopes.handle(op));
      return undefined;
    });
    model.call(new Variable(x));
    expect(traced).toEqual([
      "a.add#0",
      "a.add#1",
      "a.relu#0",
      "b.0.add#0",
      "b.0.add#1",
      "b.0.relu#0",
      "add#0",
    ]);
    expect(handles).toEqual(traced);
  });
});
