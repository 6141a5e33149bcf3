import {
  AttributeType,
  attr,
  DataType,
  decodeModel,
  type ElementType,
  encodeModel,
  graph,
  type ModelProto,
  type TensorProto,
  tensorProto,
  tensorToArray,
} from "@quant-trim/onnx";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { f32field, lfield, packedFloats, packedVarints, sfield, vfield } from "./wire.js";

/** A tensor's elements as a plain array (numbers, or bigints for 64-bit integer types). */
const elementsOf = (t: TensorProto): (number | bigint)[] =>
  Array.from(tensorToArray(t) as ArrayLike<number | bigint>);

// Field numbers below are onnx.proto's, restated here so the test checks the encoder against the spec.

function sampleModel(): ModelProto {
  const sub = graph("branch")
    .input("s", "float32", [1])
    .node("Identity", ["s"], ["t"])
    .output("t", "float32", [1])
    .graph();
  return graph("sample")
    .input("x", "float32", ["batch", 3])
    .initializer("w", new Float32Array([0.5, -1.25, 3e-8]), [3])
    .initializer("codes", new Int8Array([-8, 7, 0, -1, 3]), [5], "int4")
    .initializer("ucodes", [0, 15, 9], [3], "uint4")
    .initializer("big", new BigInt64Array([9223372036854775807n, -1n]), [2])
    .initializer("scalar", new Uint8Array([200]), [])
    .node("Mul", ["x", "w"], ["y"], {
      alpha: attr.float(1),
      beta: 0.25,
      count: 0,
      huge: -(2 ** 40),
      mode: "nearest ✓",
      pads: [0, 1, 2, 3],
      scales: [0.5, 2.5],
      names: ["a", "b"],
      value: tensorProto("", new Int32Array([1, -2]), [2]),
      body: attr.graph(sub),
      empty: attr.ints([]),
    })
    .output("y", "float32", ["batch", 3])
    .model({ opset: 21, metadata: { recipe: "pfq", seed: "7" }, producerVersion: "0.1.0", docString: "d" });
}

describe("encodeModel / decodeModel", () => {
  it("round-trips a model with every attribute kind, 4-bit and int64 tensors, dynamic dims and metadata", () => {
    const model = sampleModel();
    const bytes = encodeModel(model);
    const back = decodeModel(bytes);
    expect(back).toEqual(model);
    // Deterministic bytes: what an exporter writes, reads back and writes again is identical.
    expect(encodeModel(back)).toEqual(bytes);
    expect(back.irVersion).toBe(10);
    expect(back.graph.input[0]!.type!.tensorType!.shape!.dim).toEqual([
      { dimParam: "batch" },
      { dimValue: 3 },
    ]);
    const attrs = Object.fromEntries(back.graph.node[0]!.attribute.map((a) => [a.name, a]));
    expect(attrs.alpha!.type).toBe(AttributeType.FLOAT);
    expect(attrs.beta!.type).toBe(AttributeType.FLOAT);
    expect(attrs.count).toMatchObject({ type: AttributeType.INT, i: 0 });
    expect(attrs.huge).toMatchObject({ type: AttributeType.INT, i: -(2 ** 40) });
    expect(new TextDecoder().decode(attrs.mode!.s)).toBe("nearest ✓");
    expect(attrs.empty).toMatchObject({ type: AttributeType.INTS, ints: [] });
    const init = Object.fromEntries(back.graph.initializer.map((t) => [t.name, t]));
    expect(elementsOf(init.codes!)).toEqual([-8, 7, 0, -1, 3]);
    expect(Array.from(init.codes!.rawData!)).toEqual([0x78, 0xf0, 0x03]); // low nibble first, odd count padded
    expect(elementsOf(init.ucodes!)).toEqual([0, 15, 9]);
    expect(elementsOf(init.big!)).toEqual([9223372036854775807n, -1n]);
    expect(init.scalar!.dims).toEqual([]);
  });

  it("writes the bytes onnx.proto prescribes (field numbers, wire types, proto2 presence, packing)", () => {
    const model = graph("g")
      .input("x", "float32", [2, "n"])
      .initializer("w", new Float32Array([1.5]), [1])
      .node("Relu", ["x"], ["y"], { k: 0 })
      .output("y", "float32")
      .model({ opset: 13, producerName: "p" });
    const valueInfoX = [
      ...sfield(1, "x"),
      ...lfield(
        2,
        lfield(1, [
          ...vfield(1, DataType.FLOAT),
          ...lfield(2, [...lfield(1, vfield(1, 2)), ...lfield(1, sfield(2, "n"))]),
        ]),
      ),
    ];
    const valueInfoY = [...sfield(1, "y"), ...lfield(2, lfield(1, vfield(1, DataType.FLOAT)))];
    // dims is not packed in onnx.proto; raw_data holds the little-endian float.
    const tensorW = [
      ...vfield(1, 1),
      ...vfield(2, DataType.FLOAT),
      ...sfield(8, "w"),
      ...lfield(9, [0, 0, 0xc0, 0x3f]),
    ];
    // An INT attribute set to 0 is still written (proto2 presence), and so is its type.
    const attrK = [...sfield(1, "k"), ...vfield(3, 0), ...vfield(20, AttributeType.INT)];
    const node = [
      ...sfield(1, "x"),
      ...sfield(2, "y"),
      ...sfield(3, "Relu_0"),
      ...sfield(4, "Relu"),
      ...lfield(5, attrK),
    ];
    const graphBytes = [
      ...lfield(1, node),
      ...sfield(2, "g"),
      ...lfield(5, tensorW),
      ...lfield(11, valueInfoX),
      ...lfield(12, valueInfoY),
    ];
    const expected = [
      ...vfield(1, 7),
      ...sfield(2, "p"),
      ...lfield(7, graphBytes),
      ...lfield(8, [...sfield(1, ""), ...vfield(2, 13)]),
    ];
    expect(Array.from(encodeModel(model))).toEqual(expected);
  });

  it("reads what another producer writes: typed data fields, packed and unpacked repeats, INT64_MAX", () => {
    const floats = [
      ...vfield(1, 2),
      ...vfield(2, DataType.FLOAT),
      ...f32field(4, 1.5),
      ...f32field(4, -2),
      ...sfield(8, "f"),
    ];
    const longs = [
      ...packedVarints(1, [3]),
      ...vfield(2, DataType.INT64),
      ...packedVarints(7, [2n ** 63n - 1n, -5n, 0n]),
      ...sfield(8, "shape"),
    ];
    const bytes = [
      ...packedVarints(1, [2]),
      ...vfield(2, DataType.INT8),
      ...packedVarints(5, [-128, 127]),
      ...sfield(8, "i8"),
    ];
    const packedFloat = [
      ...vfield(1, 2),
      ...vfield(2, DataType.FLOAT),
      ...packedFloats(4, [0.25, 8]),
      ...sfield(8, "pf"),
    ];
    const node = [...sfield(1, "f"), ...sfield(1, "shape"), ...sfield(2, "r"), ...sfield(4, "Reshape")];
    const out = [...sfield(1, "r"), ...lfield(2, lfield(1, vfield(1, DataType.FLOAT)))];
    const graphBytes = [
      ...lfield(1, node),
      ...lfield(5, floats),
      ...lfield(5, longs),
      ...lfield(5, bytes),
      ...lfield(5, packedFloat),
      ...lfield(12, out),
    ];
    const model = decodeModel(
      Uint8Array.from([...vfield(1, 8), ...lfield(7, graphBytes), ...lfield(8, vfield(2, 17))]),
    );
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ version: 17 }]);
    const [f, shape, i8, pf] = model.graph.initializer;
    expect(elementsOf(f!)).toEqual([1.5, -2]);
    expect(elementsOf(shape!)).toEqual([2n ** 63n - 1n, -5n, 0n]);
    expect(tensorToArray(i8!)).toEqual(new Int8Array([-128, 127]));
    expect(elementsOf(pf!)).toEqual([0.25, 8]);
    // The typed-field form survives a round trip unchanged (no silent conversion to raw data).
    expect(decodeModel(encodeModel(model))).toEqual(model);
  });

  const elementTypes: ElementType[] = [
    "float32",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "bool",
    "int4",
    "uint4",
  ];
  const ranges: Partial<Record<ElementType, [number, number]>> = {
    int8: [-128, 127],
    uint8: [0, 255],
    int16: [-32768, 32767],
    uint16: [0, 65535],
    int32: [-2147483648, 2147483647],
    uint32: [0, 4294967295],
    bool: [0, 1],
    int4: [-8, 7],
    uint4: [0, 15],
  };
  const tensorCase = fc
    .record({
      type: fc.constantFrom(...elementTypes),
      dims: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    })
    .chain(({ type, dims }) => {
      const n = dims.reduce((p, d) => p * d, 1);
      const range = ranges[type];
      const value: fc.Arbitrary<number | bigint> =
        type === "int64"
          ? fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
          : type === "uint64"
            ? fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
            : range !== undefined
              ? fc.integer({ min: range[0], max: range[1] })
              : type === "float32"
                ? fc.float({ noNaN: true })
                : fc.double({ noNaN: true });
      return fc.record({
        type: fc.constant(type),
        dims: fc.constant(dims),
        values: fc.array(value, { minLength: n, maxLength: n }),
      });
    });

  it("round-trips random tensors of every element type through bytes", () => {
    fc.assert(
      fc.property(tensorCase, ({ type, dims, values }) => {
        const model = graph("t")
          .initializer("v", values as number[], dims, type)
          .node("Identity", ["v"], ["out"])
          .output("out", type)
          .model({ opset: 21 });
        const back = decodeModel(encodeModel(model));
        expect(back).toEqual(model);
        const expected = type === "float32" ? values.map((v) => Math.fround(v as number)) : values;
        expect(elementsOf(back.graph.initializer[0]!)).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});

describe("decodeModel rejects malformed input", () => {
  it("refuses non-bytes and empty input", () => {
    expect(() => decodeModel("model" as never)).toThrow(
      /decodeModel: bytes must be a Uint8Array, got string/,
    );
    expect(() => decodeModel(new Uint8Array(0))).toThrow(/decodeModel: bytes is empty/);
  });

  it("refuses every proper prefix of a model (truncated files)", () => {
    const bytes = encodeModel(
      graph("g")
        .input("x", "float32", [4])
        .initializer("w", new Float32Array([1, 2, 3, 4]), [4])
        .node("Add", ["x", "w"], ["y"])
        .output("y", "float32", [4])
        .model({ opset: 13 }),
    );
    for (let n = 1; n < bytes.length; n++) {
      expect(() => decodeModel(bytes.subarray(0, n)), `prefix of ${n} bytes`).toThrow(/^decodeModel: /);
    }
  });

  it("names the broken part: wire faults, short raw data, missing parts, unknown types", () => {
    const tensor = (raw: number[]) => [
      ...vfield(1, 2),
      ...vfield(2, DataType.FLOAT),
      ...sfield(8, "w"),
      ...lfield(9, raw),
    ];
    const model = (graphBytes: number[], ir = 7) =>
      Uint8Array.from([...vfield(1, ir), ...lfield(7, graphBytes), ...lfield(8, vfield(2, 13))]);
    expect(() => decodeModel(model(lfield(5, tensor([0, 0, 0, 0]))))).toThrow(
      "decodeModel: graph.initializer[0] 'w'.rawData: holds 4 bytes but dims [2] need 8",
    );
    expect(() => decodeModel(model([]).subarray(0, 3))).toThrow(
      /decodeModel: malformed or truncated ONNX protobuf/,
    );
    expect(() => decodeModel(Uint8Array.from(vfield(1, 7)))).toThrow("decodeModel: opsetImport: is empty");
    expect(() => decodeModel(Uint8Array.from([...vfield(1, 7), ...lfield(8, vfield(2, 13))]))).toThrow(
      "decodeModel: graph: is missing",
    );
    const badType = [...vfield(1, 1), ...vfield(2, 99), ...sfield(8, "w"), ...lfield(9, [0])];
    expect(() => decodeModel(model(lfield(5, badType)))).toThrow(
      "graph.initializer[0] 'w'.dataType: unknown data type 99",
    );
    expect(() => decodeModel(model([...lfield(1, sfield(1, "x"))]))).toThrow(
      "graph.node[0].opType: must be a non-empty string",
    );
    const attribute = lfield(5, [...sfield(1, "k"), ...vfield(20, AttributeType.FLOAT), ...vfield(3, 1)]);
    expect(() => decodeModel(model(lfield(1, [...sfield(4, "Relu"), ...attribute])))).toThrow(
      "graph.node[0] (Relu).attribute 'k': type FLOAT needs a number in f",
    );
    const bigDim = [...vfield(1, 2n ** 60n), ...vfield(2, DataType.FLOAT), ...sfield(8, "w")];
    expect(() => decodeModel(model(lfield(5, bigDim)))).toThrow(
      /dims\[0\]: int64 value 1152921504606846976 is beyond/,
    );
    // An invalid wire type in a tag (6 and 7 do not exist).
    expect(() => decodeModel(Uint8Array.from([0x0f, 0x01]))).toThrow(/decodeModel: malformed or truncated/);
  });

  it("turns any corrupted byte string into a model or an Error that starts with decodeModel:", () => {
    const good = encodeModel(sampleModel());
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(),
        (flips, cut) => {
          const bytes = good.slice(0, good.length - (cut % 8));
          for (const { at, byte } of flips) bytes[at % bytes.length] = byte;
          try {
            decodeModel(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(Error);
            expect((e as Error).message).toMatch(/^decodeModel: /);
          }
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        expect(() => decodeModel(bytes)).toThrow(/^decodeModel: /);
      }),
      { numRuns: 300 },
    );
  });
});

describe("encodeModel checks what it writes", () => {
  it("rejects models that would not parse back", () => {
    const m = sampleModel();
    expect(() => encodeModel({ ...m, irVersion: 0 })).toThrow(
      "encodeModel: irVersion: must be an integer ≥ 1, got 0",
    );
    expect(() =>
      encodeModel({ ...m, opsetImport: [{ version: 13 }, { domain: "ai.onnx", version: 12 }] }),
    ).toThrow("encodeModel: opsetImport[1]: domain 'ai.onnx' is imported twice");
    const init = m.graph.initializer[0]!;
    const short = { ...init, rawData: init.rawData!.subarray(1) };
    expect(() => encodeModel({ ...m, graph: { ...m.graph, initializer: [short] } })).toThrow(
      "encodeModel: graph.initializer[0] 'w'.rawData: holds 11 bytes but dims [3] need 12",
    );
    const twoFields = { ...init, floatData: [1, 2, 3] };
    expect(() => encodeModel({ ...m, graph: { ...m.graph, initializer: [twoFields] } })).toThrow(
      "has data in more than one field (rawData, floatData)",
    );
    expect(() =>
      encodeModel({
        ...m,
        metadataProps: [
          { key: "a", value: "1" },
          { key: "a", value: "2" },
        ],
      }),
    ).toThrow("encodeModel: metadataProps[1]: key 'a' appears twice");
    expect(() => encodeModel({ ...m, modelVersion: 1.5 })).toThrow(
      "encodeModel: modelVersion: must be an integer",
    );
  });
});
