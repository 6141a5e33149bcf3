import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CheckpointError,
  decodeSafetensors,
  encodeSafetensors,
  type IntTensorLike,
  type RawTensor,
  rawTensorArray,
  type SafetensorsEntry,
} from "@quant-trim/autograd";
import { readSafetensorsFile, writeSafetensorsFile } from "@quant-trim/autograd/node";
import { permute, slice, Tensor, tensor } from "@quant-trim/tensor";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

// ---------------------------------------------------------------------------------------------------------
// Test helpers: a safetensors file assembled by hand, straight from the format description, so the reader
// is checked against the spec rather than against the writer.

/** 8-byte little-endian length, the header (padded with `pad` spaces), then the data bytes. */
function assemble(headerJson: string, data: ArrayLike<number>, pad = 0): Uint8Array {
  const header = new TextEncoder().encode(headerJson + " ".repeat(pad));
  const out = new Uint8Array(8 + header.length + data.length);
  let n = header.length;
  for (let i = 0; i < 8; i++) {
    out[i] = n % 256;
    n = Math.floor(n / 256);
  }
  out.set(header, 8);
  out.set(Array.from(data), 8 + header.length);
  return out;
}

/** Bytes of a float32 / float64 value, little-endian, via the bit pattern written out in hex. */
function bytesOfWord32(word: number): number[] {
  return [word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24];
}

function bitsOf(t: Tensor): Uint8Array {
  const c = t.contiguous();
  const bpe = c.data.BYTES_PER_ELEMENT;
  return new Uint8Array(c.data.buffer, c.data.byteOffset + c.offset * bpe, c.size * bpe).slice();
}

function expectCheckpointError(f: () => unknown, message: RegExp | string): void {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(CheckpointError);
  if (typeof message === "string") expect((thrown as Error).message).toBe(message);
  else expect((thrown as Error).message).toMatch(message);
}

function f32(shape: number[], values: number[]): Tensor {
  return new Tensor(Float32Array.from(values), shape);
}

// ---------------------------------------------------------------------------------------------------------

describe("safetensors layout", () => {
  // x: F64 scalar 1.0 (0x3FF0000000000000); weight: F32 [1.5, -2] (0x3FC00000, 0xC0000000);
  // counts: I8 [1, -1, 127]. Largest elements first, then by name: x, weight, counts.
  const headerJson =
    '{"__metadata__":{"format":"pt"},' +
    '"x":{"dtype":"F64","shape":[],"data_offsets":[0,8]},' +
    '"weight":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
    '"counts":{"dtype":"I8","shape":[3],"data_offsets":[16,19]}}';
  const data = [
    ...[0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
    ...bytesOfWord32(0x3fc00000),
    ...bytesOfWord32(0xc0000000),
    ...[0x01, 0xff, 0x7f],
  ];
  const pad = (8 - (new TextEncoder().encode(headerJson).length % 8)) % 8;
  const handMade = assemble(headerJson, data, pad);

  it("reads a file assembled byte by byte from the spec", () => {
    const { tensors, raw, metadata } = decodeSafetensors(handMade);
    expect({ ...metadata }).toEqual({ format: "pt" });
    expect(Object.keys(tensors).sort()).toEqual(["weight", "x"]);
    expect(tensors.x!.shape).toEqual([]);
    expect(tensors.x!.dtype).toBe("float64");
    expect(tensors.x!.item()).toBe(1);
    expect(tensors.weight!.dtype).toBe("float32");
    expect(tensors.weight!.toArray()).toEqual([1.5, -2]);
    expect(raw.counts!.dtype).toBe("I8");
    expect(raw.counts!.shape).toEqual([3]);
    expect(Array.from(rawTensorArray(raw.counts!) as Int8Array)).toEqual([1, -1, 127]);
  });

  it("writes exactly that byte layout", () => {
    const written = encodeSafetensors(
      {
        counts: { shape: [3], data: Int8Array.from([1, -1, 127]) },
        weight: f32([2], [1.5, -2]),
        x: new Tensor(Float64Array.from([1]), []),
      },
      { format: "pt" },
    );
    expect(pad).toBeGreaterThan(0); // the case exercises the space padding
    expect(Array.from(written)).toEqual(Array.from(handMade));
  });

  it("reads files laid out differently from its own writer (unpadded, unsorted, no metadata)", () => {
    // b's bytes come first in the data section although b is listed second; trailing newline in the header.
    const json =
      '{"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"b":{"shape":[1],"data_offsets":[0,4],"dtype":"F32"}}\n';
    const file = assemble(json, [...bytesOfWord32(0xbf800000), 7, 9]);
    const { tensors, raw, metadata } = decodeSafetensors(file);
    expect(Object.keys(metadata)).toEqual([]);
    expect(tensors.b!.toArray()).toEqual([-1]);
    expect(Array.from(raw.a!.bytes)).toEqual([7, 9]);
    expect(tensors.a).toBeUndefined();
  });

  it("pads the header to a multiple of 8 and aligns every tensor to its element size", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 6 }), fc.string(), (sizes, note) => {
        const entries: Record<string, SafetensorsEntry> = {};
        sizes.forEach((n, i) => {
          const kind = i % 4;
          if (kind === 0) entries[`t${i}`] = new Tensor(new Float64Array(n), [n]);
          else if (kind === 1) entries[`t${i}`] = new Tensor(new Float32Array(n), [n]);
          else if (kind === 2) entries[`t${i}`] = { shape: [n], data: new Int16Array(n) };
          else entries[`t${i}`] = { shape: [n], data: new Uint8Array(n) };
        });
        const bytes = encodeSafetensors(entries, { note });
        const n = new DataView(bytes.buffer).getUint32(0, true);
        expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(0);
        expect(n % 8).toBe(0);
        const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
        expect(text.trimEnd().length + (text.length - text.trimEnd().length)).toBe(text.length);
        expect(/^\{.*\} *$/s.test(text)).toBe(true);
        const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
        const width: Record<string, number> = { F64: 8, F32: 4, I16: 2, U8: 1 };
        for (const [name, info] of Object.entries(header)) {
          if (name === "__metadata__") continue;
          expect(info.data_offsets[0] % width[info.dtype]!).toBe(0);
        }
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

const dims = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });
const countOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const word32 = fc.integer({ min: 0, max: 0xffffffff });

/** Any float32 bit pattern (NaN payloads, -0, subnormals, infinities included). */
const float32Tensor = dims.chain((shape) =>
  fc
    .array(word32, { minLength: countOf(shape), maxLength: countOf(shape) })
    .map((words) => new Tensor(new Float32Array(Uint32Array.from(words).buffer), shape)),
);
const float64Tensor = dims.chain((shape) =>
  fc
    .array(word32, { minLength: 2 * countOf(shape), maxLength: 2 * countOf(shape) })
    .map((words) => new Tensor(new Float64Array(Uint32Array.from(words).buffer), shape)),
);
function intTensor<A extends IntTensorLike["data"]>(
  make: (values: number[]) => A,
  min: number,
  max: number,
): fc.Arbitrary<IntTensorLike> {
  return dims.chain((shape) =>
    fc
      .array(fc.integer({ min, max }), { minLength: countOf(shape), maxLength: countOf(shape) })
      .map((v) => ({ shape, data: make(v) })),
  );
}
const int64Tensor = dims.chain((shape) =>
  fc
    .array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), {
      minLength: countOf(shape),
      maxLength: countOf(shape),
    })
    .map((v): IntTensorLike => ({ shape, data: BigInt64Array.from(v) })),
);
const bf16Raw = dims.chain((shape) =>
  fc
    .uint8Array({ minLength: 2 * countOf(shape), maxLength: 2 * countOf(shape) })
    .map((bytes): RawTensor => ({ dtype: "BF16", shape, bytes })),
);
const anyEntry: fc.Arbitrary<SafetensorsEntry> = fc.oneof(
  float32Tensor,
  float64Tensor,
  intTensor((v) => Int8Array.from(v), -128, 127),
  intTensor((v) => Uint8Array.from(v), 0, 255),
  intTensor((v) => Int16Array.from(v), -32768, 32767),
  intTensor((v) => Uint32Array.from(v), 0, 0xffffffff),
  intTensor((v) => Int32Array.from(v), -(2 ** 31), 2 ** 31 - 1),
  int64Tensor,
  bf16Raw,
);
const tensorName = fc
  .string({ unit: "binary", maxLength: 6 })
  .filter((s) => s !== "__metadata__" && !/\p{Surrogate}/u.test(s));

function expectedBytes(entry: SafetensorsEntry): Uint8Array {
  if (entry instanceof Tensor) return bitsOf(entry);
  if ("bytes" in entry) return entry.bytes;
  const d = entry.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

describe("safetensors round trip", () => {
  it("returns every tensor bit for bit, with its shape, dtype and the metadata", () => {
    fc.assert(
      fc.property(
        fc.dictionary(tensorName, anyEntry, { maxKeys: 5 }),
        fc.dictionary(fc.string({ unit: "grapheme", maxLength: 8 }), fc.string({ unit: "grapheme" }), {
          maxKeys: 4,
        }),
        (entries, metadata) => {
          const decoded = decodeSafetensors(encodeSafetensors(entries, metadata));
          expect({ ...decoded.metadata }).toEqual({ ...metadata });
          expect(Object.keys(decoded.raw).sort()).toEqual(Object.keys(entries).sort());
          for (const [name, entry] of Object.entries(entries)) {
            const raw = decoded.raw[name]!;
            expect(raw.shape).toEqual([...entry.shape]);
            expect(raw.bytes).toEqual(expectedBytes(entry));
            if (entry instanceof Tensor) {
              const t = decoded.tensors[name]!;
              expect(t.dtype).toBe(entry.dtype);
              expect(t.shape).toEqual(entry.shape);
              expect(bitsOf(t)).toEqual(bitsOf(entry));
            } else {
              expect(decoded.tensors[name]).toBeUndefined();
              if ("data" in entry) expect(rawTensorArray(raw)).toEqual(entry.data);
            }
          }
          // Re-encoding what was read gives the same file: the writer's output is canonical.
          const again = encodeSafetensors(
            Object.fromEntries(Object.entries(decoded.raw)),
            Object.fromEntries(Object.entries(decoded.metadata)),
          );
          expect(again).toEqual(encodeSafetensors(entries, metadata));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("keeps -0, infinities and NaN payloads (quiet and signalling) exactly", () => {
    const words32 = Uint32Array.from([
      0x80000000, 0x7f800000, 0xff800000, 0x7fc00001, 0x7f800001, 0xffbadbad, 1,
    ]);
    const words64 = Uint32Array.from([0, 0x80000000, 1, 0x7ff00000, 0xdeadbeef, 0xfff7ffff]);
    const a = new Tensor(new Float32Array(words32.buffer), [7]);
    const b = new Tensor(new Float64Array(words64.buffer), [3]);
    const { tensors } = decodeSafetensors(encodeSafetensors({ a, b }));
    expect(new Uint32Array(tensors.a!.data.buffer)).toEqual(words32);
    expect(new Uint32Array(tensors.b!.data.buffer)).toEqual(words64);
    expect(Object.is(tensors.a!.get(0), -0)).toBe(true);
  });

  it("writes strided views in row-major order, bit for bit", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<"float32" | "float64">("float32", "float64"),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        (dtype, shape, seed) => {
          const n = countOf(shape);
          const wordsPer = dtype === "float32" ? 1 : 2;
          const words = new Uint32Array(n * wordsPer);
          for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + seed, 0x9e3779b1) >>> 0;
          const data = dtype === "float32" ? new Float32Array(words.buffer) : new Float64Array(words.buffer);
          const base = new Tensor(data, shape);
          const perm = shape.map((_, i) => i).reverse();
          const view = permute(base, perm);
          // Naive reference: walk the view's logical indices in row-major order through its strides.
          const expected = new Uint32Array(n * wordsPer);
          let k = 0;
          const idx = new Array<number>(view.ndim).fill(0);
          for (let e = 0; e < n; e++) {
            let p = view.offset;
            for (let ax = 0; ax < view.ndim; ax++) p += idx[ax]! * view.strides[ax]!;
            for (let w = 0; w < wordsPer; w++) expected[k++] = words[p * wordsPer + w]!;
            for (let ax = view.ndim - 1; ax >= 0; ax--) {
              if (++idx[ax]! < view.shape[ax]!) break;
              idx[ax] = 0;
            }
          }
          const { tensors } = decodeSafetensors(encodeSafetensors({ v: view }));
          expect(tensors.v!.shape).toEqual(view.shape);
          expect(new Uint32Array(tensors.v!.data.buffer)).toEqual(expected);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("writes a view with an offset or a negative stride without the elements outside it", () => {
    const base = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const row = slice(base, [[1, 2]]);
    const reversed = slice(base, [
      [1, 2],
      [2, undefined, -1],
    ]);
    expect(reversed.strides[1]).toBeLessThan(0);
    const { tensors } = decodeSafetensors(encodeSafetensors({ row, reversed }));
    expect(tensors.row!.toArray()).toEqual([4, 5, 6]);
    expect(tensors.reversed!.toArray()).toEqual([6, 5, 4]);
  });

  it("handles scalars, empty tensors and an empty file", () => {
    const { tensors, raw } = decodeSafetensors(
      encodeSafetensors({
        s: f32([], [3]),
        e: f32([0], []),
        z: new Tensor(new Float64Array(0), [2, 0, 3]),
        i: { shape: [0], data: new Int32Array(0) },
      }),
    );
    expect(tensors.s!.item()).toBe(3);
    expect(tensors.e!.shape).toEqual([0]);
    expect(tensors.z!.shape).toEqual([2, 0, 3]);
    expect(raw.i!.bytes.length).toBe(0);
    const empty = encodeSafetensors({});
    expect(Array.from(empty)).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    expect(Object.keys(decodeSafetensors(empty).raw)).toEqual([]);
  });

  it("copies data out of the input so later changes to the bytes do not leak into tensors", () => {
    const bytes = encodeSafetensors({ a: f32([2], [1, 2]) });
    const { tensors } = decodeSafetensors(bytes);
    bytes.fill(0, bytes.length - 8);
    expect(tensors.a!.toArray()).toEqual([1, 2]);
  });

  it("reads tensors at unaligned positions of a larger buffer (e.g. a pooled Node Buffer)", () => {
    const file = encodeSafetensors({ a: new Tensor(Float64Array.from([Math.PI, -1]), [2]) });
    const big = new Uint8Array(file.length + 3);
    big.set(file, 3);
    const { tensors } = decodeSafetensors(big.subarray(3));
    expect(tensors.a!.toArray()).toEqual([Math.PI, -1]);
    expect(decodeSafetensors(Buffer.from(file)).tensors.a!.toArray()).toEqual([Math.PI, -1]);
  });

  it("accepts names that would be special on plain objects", () => {
    const decoded = decodeSafetensors(
      encodeSafetensors({ ["__proto__"]: f32([1], [5]), constructor: f32([1], [6]), "0": f32([1], [7]) }),
    );
    expect(Object.keys(decoded.tensors).sort()).toEqual(["0", "__proto__", "constructor"]);
    const named = (key: string): Tensor => decoded.tensors[key]!;
    expect(named("__proto__").toArray()).toEqual([5]);
    expect(named("constructor").toArray()).toEqual([6]);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("encodeSafetensors rejects bad input", () => {
  it("names the tensor or metadata key at fault", () => {
    expectCheckpointError(
      () => encodeSafetensors({ __metadata__: f32([1], [1]) }),
      /'__metadata__' is reserved/,
    );
    expectCheckpointError(
      () => encodeSafetensors({ w: { shape: [2, 2], data: new Int8Array(3) } }),
      "checkpoint: encodeSafetensors: tensor 'w' has shape [2, 2] (4 elements) but its data holds 3",
    );
    expectCheckpointError(
      () => encodeSafetensors({ w: { shape: [2, -1], data: new Int8Array(2) } }),
      /tensor 'w' shape \[2, -1\] must hold non-negative integers/,
    );
    expectCheckpointError(
      () => encodeSafetensors({ h: { dtype: "F16", shape: [3], bytes: new Uint8Array(5) } }),
      /tensor 'h' of dtype F16 and shape \[3\] needs 6 bytes, got 5/,
    );
    expectCheckpointError(
      () => encodeSafetensors({ h: { dtype: "F4" as "F16", shape: [3], bytes: new Uint8Array(6) } }),
      /tensor 'h' has unknown dtype 'F4'/,
    );
    expectCheckpointError(
      () => encodeSafetensors({ w: { shape: [2], data: new Float32Array(2) as unknown as Int8Array } }),
      /tensor 'w' data must be an integer typed array .* got Float32Array; pass float data as a Tensor/,
    );
    expectCheckpointError(
      () => encodeSafetensors({ w: 3 as unknown as Tensor }),
      /tensor 'w' must be a Tensor, \{shape, data\} or \{dtype, shape, bytes\}, got number/,
    );
    expectCheckpointError(
      () => encodeSafetensors({}, { seed: 42 as unknown as string }),
      /metadata 'seed' must be a string .* got number 42/,
    );
    expectCheckpointError(() => encodeSafetensors({ "a\uD800": f32([1], [1]) }), /lone surrogate/);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("decodeSafetensors names what is wrong", () => {
  const f32Entry = (name: string, shape: unknown, offsets: unknown) =>
    `${JSON.stringify(name)}:{"dtype":"F32","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
  const bytes = (n: number) => new Array<number>(n).fill(0);
  const lengthPrefix = (lo: number, hi: number) => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setUint32(0, lo, true);
    new DataView(b.buffer).setUint32(4, hi, true);
    return b;
  };

  const cases: [string, Uint8Array, RegExp | string][] = [
    [
      "a file shorter than the length prefix",
      new Uint8Array(5),
      /holds 5 bytes, fewer than the 8-byte header length/,
    ],
    [
      "a header length of 2^53",
      lengthPrefix(0, 2 ** 21),
      /header length 9007199254740992 bytes exceeds the limit of 100000000/,
    ],
    [
      "a header length of 2^64 - 1",
      lengthPrefix(0xffffffff, 0xffffffff),
      /18446744073709551615 bytes exceeds the limit/,
    ],
    [
      "a header length past the end of the file",
      lengthPrefix(100, 0),
      /header length 100 bytes exceeds the file: only 8 bytes follow/,
    ],
    ["a zero header length", lengthPrefix(0, 0), /header length 0 bytes is too short/],
    [
      "a header that is not UTF-8",
      assemble("", [0x7b, 0xff, 0xfe, 0x7d]).map((b, i) => (i === 0 ? 4 : b)),
      /not valid UTF-8/,
    ],
    ["a header with leading space", assemble(" {}", []), /must start with '\{', found " \{\}"/],
    ["a header with a byte-order mark", assemble("\uFEFF{}", []), /must start with '\{'/],
    ["a header that is a JSON array", assemble("[1]", []), /must start with '\{'/],
    ["invalid JSON", assemble('{"a":}', []), /the header is not valid JSON/],
    ["trailing garbage after the object", assemble("{} x", []), /the header is not valid JSON/],
    [
      "a repeated tensor name",
      assemble(`{${f32Entry("a", [1], [0, 4])},${f32Entry("a", [1], [4, 8])}}`, bytes(8)),
      /repeats the key "a"/,
    ],
    ["a repeated metadata key", assemble('{"__metadata__":{"k":"1","k":"2"}}', []), /repeats the key "k"/],
    [
      "a repeated escaped key",
      assemble(`{${f32Entry("é", [1], [0, 4])},"\\u00e9":{}}`, bytes(4)),
      /repeats the key "é"/,
    ],
    [
      "offsets past the data section",
      assemble(`{${f32Entry("fc1.weight", [25], [0, 100])}}`, bytes(64)),
      "checkpoint: tensor 'fc1.weight' data_offsets [0, 100] exceed the data section of 64 bytes",
    ],
    [
      "an unknown dtype",
      assemble('{"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}', bytes(1)),
      /tensor 'w' has unknown dtype 'F4'/,
    ],
    [
      "a dtype that is not a string",
      assemble('{"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}', bytes(4)),
      /tensor 'w' dtype must be a string, got number 4/,
    ],
    [
      "a prototype name as dtype",
      assemble('{"w":{"dtype":"constructor","shape":[],"data_offsets":[0,4]}}', bytes(4)),
      /unknown dtype 'constructor'/,
    ],
    [
      "a missing shape",
      assemble('{"w":{"dtype":"F32","data_offsets":[0,4]}}', bytes(4)),
      /tensor 'w' has no shape/,
    ],
    [
      "a missing data_offsets",
      assemble('{"w":{"dtype":"F32","shape":[1]}}', bytes(4)),
      /tensor 'w' has no data_offsets/,
    ],
    [
      "an unknown field",
      assemble('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', bytes(4)),
      /tensor 'w' has an unknown field 'x'/,
    ],
    [
      "an entry that is not an object",
      assemble('{"w":[1,2]}', []),
      /tensor 'w' must map to \{dtype, shape, data_offsets\}, got an array of 2/,
    ],
    [
      "a negative shape",
      assemble(`{${f32Entry("w", [-1], [0, 4])}}`, bytes(4)),
      /tensor 'w' shape \[-1\] must hold non-negative integers/,
    ],
    [
      "a fractional shape",
      assemble(`{${f32Entry("w", [1.5], [0, 4])}}`, bytes(4)),
      /shape \[1.5\] must hold non-negative integers/,
    ],
    [
      "a string in a shape",
      assemble(`{${f32Entry("w", ["1"], [0, 4])}}`, bytes(4)),
      /shape \[the string "1"\] must hold/,
    ],
    [
      "a shape above 2^53",
      assemble(`{${f32Entry("w", [2 ** 60], [0, 4])}}`, bytes(4)),
      /must hold non-negative integers/,
    ],
    [
      "a huge shape",
      assemble(`{${f32Entry("w", [2 ** 52, 2 ** 52], [0, 4])}}`, bytes(4)),
      /needs more than the 4 bytes available, but data_offsets \[0, 4\] span 4 bytes/,
    ],
    [
      "too many dimensions",
      assemble(`{${f32Entry("w", new Array(33).fill(1), [0, 4])}}`, bytes(4)),
      /tensor 'w' has 33 dimensions; at most 32/,
    ],
    [
      "a shape that disagrees with the byte count",
      assemble(`{${f32Entry("w", [2, 3], [0, 20])}}`, bytes(20)),
      /tensor 'w' of dtype F32 and shape \[2, 3\] needs 24 bytes, but data_offsets \[0, 20\] span 20 bytes/,
    ],
    [
      "negative offsets",
      assemble(`{${f32Entry("w", [1], [-4, 0])}}`, bytes(4)),
      /data_offsets \[-4, 0\] must be non-negative integers/,
    ],
    [
      "offsets of 2^53",
      assemble(`{${f32Entry("w", [1], [2 ** 53, 2 ** 53 + 4])}}`, bytes(4)),
      /must be non-negative integers/,
    ],
    [
      "reversed offsets",
      assemble(`{${f32Entry("w", [1], [4, 0])}}`, bytes(4)),
      /data_offsets \[4, 0\] end before they begin/,
    ],
    [
      "three offsets",
      assemble(`{${f32Entry("w", [1], [0, 4, 8])}}`, bytes(4)),
      /data_offsets must be \[begin, end\], got \[0, 4, 8\]/,
    ],
    [
      "overlapping tensors",
      assemble(`{${f32Entry("a", [2], [0, 8])},${f32Entry("b", [2], [4, 12])}}`, bytes(12)),
      /tensor 'b' data_offsets \[4, 12\] overlap tensor 'a' data_offsets \[0, 8\]/,
    ],
    [
      "an empty tensor inside another",
      assemble(`{${f32Entry("a", [2], [0, 8])},${f32Entry("b", [0], [4, 4])}}`, bytes(8)),
      /tensor 'b' data_offsets \[4, 4\] overlap tensor 'a'/,
    ],
    [
      "a gap",
      assemble(`{${f32Entry("a", [1], [0, 4])},${f32Entry("b", [1], [8, 12])}}`, bytes(12)),
      /gap: bytes \[4, 8\) before tensor 'b'/,
    ],
    [
      "trailing data",
      assemble(`{${f32Entry("a", [1], [0, 4])}}`, bytes(6)),
      /the tensors cover 4 bytes but the data section holds 6/,
    ],
    [
      "a metadata value that is not a string",
      assemble('{"__metadata__":{"seed":42}}', []),
      /'__metadata__' value for 'seed' must be a string, got number 42/,
    ],
    [
      "metadata that is not an object",
      assemble('{"__metadata__":["a"]}', []),
      /'__metadata__' must be an object of strings/,
    ],
    [
      "a lone surrogate in a name",
      assemble(`{${f32Entry("a\uD800", [1], [0, 4])}}`, bytes(4)),
      /lone surrogate/,
    ],
  ];

  for (const [what, file, message] of cases) {
    it(`rejects ${what}`, () => expectCheckpointError(() => decodeSafetensors(file), message));
  }

  it("treats null metadata as none, as the reference reader does", () => {
    expect(Object.keys(decodeSafetensors(assemble('{"__metadata__":null}', [])).metadata)).toEqual([]);
  });

  it("rejects something that is not a byte array", () => {
    expectCheckpointError(() => decodeSafetensors("abc" as unknown as Uint8Array), /expected a Uint8Array/);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("safetensors files", () => {
  const dir = mkdtempSync(join(tmpdir(), "quant-trim-safetensors-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const entries = { w: f32([2, 2], [1, 2, 3, 4]), idx: { shape: [2], data: Int32Array.from([7, -7]) } };

  it("writes atomically and reads back, leaving no temporary file", () => {
    const path = join(dir, "model.safetensors");
    writeSafetensorsFile(path, entries, { seed: "1" });
    expect(readdirSync(dir)).toEqual(["model.safetensors"]);
    expect(new Uint8Array(readFileSync(path))).toEqual(encodeSafetensors(entries, { seed: "1" }));
    const back = readSafetensorsFile(path);
    expect(back.tensors.w!.toArray()).toEqual([1, 2, 3, 4]);
    expect(back.metadata.seed).toBe("1");
    // Overwriting replaces the file.
    writeSafetensorsFile(path, { w: f32([1], [9]) });
    expect(readSafetensorsFile(path).tensors.w!.toArray()).toEqual([9]);
    expect(readdirSync(dir)).toEqual(["model.safetensors"]);
    rmSync(path);
  });

  it("leaves an existing file untouched when a tensor fails validation", () => {
    const path = join(dir, "keep.safetensors");
    writeFileSync(path, "previous contents");
    expectCheckpointError(
      () => writeSafetensorsFile(path, { w: { shape: [3], data: new Int8Array(2) } }),
      /tensor 'w' has shape \[3\]/,
    );
    expect(readFileSync(path, "utf8")).toBe("previous contents");
    expect(readdirSync(dir)).toEqual(["keep.safetensors"]);
    rmSync(path);
  });

  it("fails cleanly when the directory does not exist", () => {
    const path = join(dir, "missing", "model.safetensors");
    expectCheckpointError(
      () => writeSafetensorsFile(path, entries),
      /cannot write '.*model.safetensors': ENOENT/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it("removes its temporary file when the final rename fails, keeping what was there", () => {
    // A non-empty directory at the target path makes rename fail after the temporary file was written.
    const path = join(dir, "occupied.safetensors");
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "x");
    expectCheckpointError(() => writeSafetensorsFile(path, entries), /cannot write '.*occupied.safetensors'/);
    expect(readdirSync(dir)).toEqual(["occupied.safetensors"]);
    expect(readdirSync(path)).toEqual(["inside"]);
    rmSync(path, { recursive: true });
  });

  it("names the path when a file is missing or malformed", () => {
    const missing = join(dir, "nope.safetensors");
    expectCheckpointError(() => readSafetensorsFile(missing), /cannot read '.*nope.safetensors': ENOENT/);
    const bad = join(dir, "bad.safetensors");
    writeFileSync(bad, new Uint8Array([1, 2, 3]));
    expectCheckpointError(
      () => readSafetensorsFile(bad),
      /^checkpoint: '.*bad.safetensors': the file holds 3 bytes/,
    );
    rmSync(bad);
  });
});
