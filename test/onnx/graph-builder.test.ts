import {
  attr,
  decodeModel,
  encodeModel,
  graph,
  irVersionForOpset,
  MAX_KNOWN_OPSET,
  tensorProto,
} from "@quant-trim/onnx";
import { describe, expect, it } from "vitest";
import { ortRun, ortRunOnce, ortSession } from "./ort.js";

describe("graph builder", () => {
  it("writes the lowest IR version released with the opset (onnx helper's table)", () => {
    const expected: [number, number][] = [
      [7, 3],
      [9, 4],
      [10, 5],
      [11, 6],
      [13, 7],
      [14, 7],
      [17, 8],
      [19, 9],
      [21, 10],
      [23, 11],
    ];
    for (const [opset, ir] of expected) expect(irVersionForOpset(opset), `opset ${opset}`).toBe(ir);
    expect(() => irVersionForOpset(MAX_KNOWN_OPSET + 1)).toThrow(
      /irVersionForOpset: opset must be an integer/,
    );
    expect(
      graph().input("x", "float32", [1]).node("Relu", ["x"], ["y"]).output("y", "float32").model().irVersion,
    ).toBe(7);
  });

  it("builds a float model ONNX Runtime runs, with a dynamic batch", async () => {
    const w = new Float32Array([0.5, -2, 3.25]);
    const model = graph("affine")
      .input("x", "float32", ["batch", 3])
      .initializer("w", w, [3])
      .initializer("floor", new Float32Array([-1]), [])
      .node("Mul", ["x", "w"], ["xw"])
      .node("Max", ["xw", "floor"], ["y"])
      .output("y", "float32", ["batch", 3])
      .model({ metadata: { recipe: "unit-test" } });
    const session = await ortSession(decodeModel(encodeModel(model)));
    try {
      for (const batch of [1, 7]) {
        const x = Float32Array.from({ length: batch * 3 }, (_, i) => (i % 5) - 2.5);
        const { y } = await ortRun(session, { x: { data: x, dims: [batch, 3] } });
        const expected = Float32Array.from(x, (v, i) => Math.max(Math.fround(v * w[i % 3]!), -1));
        expect(y!.dims).toEqual([batch, 3]);
        expect(y!.data).toEqual(expected);
      }
    } finally {
      await session.release();
    }
  });

  it("stores int4 weights the way ONNX Runtime reads them (opset 21 DequantizeLinear)", async () => {
    const codes = [-8, -1, 0, 7, 3, -5, 6];
    const model = graph("int4")
      .input("unused", "float32", [1])
      .initializer("q", codes, [7], "int4")
      .initializer("s", new Float32Array([0.5]), [])
      .initializer("z", [1], [], "int4")
      .node("DequantizeLinear", ["q", "s", "z"], ["w"])
      .output("w", "float32", [7])
      .model({ opset: 21 });
    const { w } = await ortRunOnce(model, { unused: { data: new Float32Array(1), dims: [1] } });
    expect(Array.from(w!.data as Float32Array)).toEqual(codes.map((q) => (q - 1) * 0.5));
  });

  it("checks the wiring and the options, naming the culprit", () => {
    const base = () => graph("g").input("x", "float32", [2]);
    expect(() => base().node("Relu", ["nope"], ["y"]).output("y", "float32").graph()).toThrow(
      "graph('g'): Relu_0 input 0 'nope' is not defined before the node",
    );
    expect(() => base().node("Relu", ["x"], ["x"]).output("x", "float32").graph()).toThrow(
      "graph('g'): 'x' is defined twice (a graph input and an output of Relu_0)",
    );
    expect(() => base().output("y", "float32").graph()).toThrow(
      "graph('g'): graph output 'y' is never defined",
    );
    expect(() => base().graph()).toThrow("graph('g'): a graph needs at least one output");
    const ok = () => base().node("Relu", ["x"], ["y"]).output("y", "float32");
    expect(() => ok().model({ opset: 13, opsett: 14 } as never)).toThrow(
      "model('g'): unknown option 'opsett'",
    );
    expect(() =>
      base().node("QLinearAdd", ["x"], ["y"], {}, "com.microsoft").output("y", "float32").model(),
    ).toThrow(`model('g'): QLinearAdd_0 uses domain 'com.microsoft', which options.domains does not import`);
    expect(
      base()
        .node("QLinearAdd", ["x"], ["y"], {}, "com.microsoft")
        .output("y", "float32")
        .model({ domains: { "com.microsoft": 1 } }).opsetImport,
    ).toEqual([
      { domain: "", version: 13 },
      { domain: "com.microsoft", version: 1 },
    ]);
    expect(() => graph().input("x", "float32", [2, -1])).toThrow(
      "input('x'): shape[1] = -1 must be a non-negative integer",
    );
    expect(() => graph().input("x", "float33" as never, [2])).toThrow(
      `input('x'): unknown element type "float33"`,
    );
    expect(() => graph().initializer("w", new Int32Array([200]), [1], "int8")).toThrow(
      "tensorProto('w'): values[0] = 200 is outside the int8 range [-128, 127]",
    );
    expect(() => graph().initializer("w", new Float32Array(3), [2])).toThrow(
      "tensorProto('w'): dims [2] hold 2 elements but values has 3",
    );
    expect(() => graph().initializer("w", [1, 2], [2])).toThrow(
      "tensorProto('w'): values given as a plain array need an explicit element type",
    );
    expect(() => graph().node("Pad", ["x"], ["y"], { pads: [] })).toThrow(
      "node(Pad): attribute 'pads': an empty list needs a stated type",
    );
    expect(() => graph().node("Gemm", ["x"], ["y"], { alpha: attr.int(0.5) })).toThrow(
      "node(Gemm): attribute 'alpha': expected an integer, got 0.5",
    );
    expect(() => tensorProto("t", new Uint8ClampedArray(1) as never, [1])).toThrow(
      "tensorProto('t'): values must be a typed array",
    );
  });
});
