import {
  CheckpointError,
  type DecodedSafetensors,
  decodeSafetensors,
  dtypeByteSize,
  encodeSafetensors,
  type SafetensorsEntry,
} from "@quant-trim/autograd";
import { Tensor } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

// The reader must treat any byte string as untrusted: each input either decodes into a consistent result
// or is rejected with a CheckpointError. Any other exception (TypeError, RangeError, an allocation
// failure) or a hang fails the test. About 12,000 generated cases in total.

type Outcome = { ok: true; decoded: DecodedSafetensors } | { ok: false; error: CheckpointError };

function attempt(bytes: Uint8Array): Outcome {
  try {
    return { ok: true, decoded: decodeSafetensors(bytes) };
  } catch (error) {
    if (error instanceof CheckpointError) return { ok: false, error };
    throw error;
  }
}

/**
 * A successful decode must describe real tensors: byte counts match shapes, the tensors share out the data
 * section exactly, and re-encoding reproduces them.
 */
function expectConsistent(file: Uint8Array, decoded: DecodedSafetensors): void {
  const headerLength = new DataView(file.buffer, file.byteOffset).getUint32(0, true);
  let covered = 0;
  for (const raw of Object.values(decoded.raw)) covered += raw.bytes.byteLength;
  expect(covered).toBe(file.length - 8 - headerLength);
  for (const [name, raw] of Object.entries(decoded.raw)) {
    const count = raw.shape.reduce((a, b) => a * b, 1);
    expect(raw.bytes.byteLength).toBe(count * dtypeByteSize(raw.dtype));
    const t = decoded.tensors[name];
    if (raw.dtype === "F32" || raw.dtype === "F64") expect(t?.shape).toEqual(raw.shape);
    else expect(t).toBeUndefined();
  }
  const again = decodeSafetensors(
    encodeSafetensors(Object.fromEntries(Object.entries(decoded.raw)), { ...decoded.metadata }),
  );
  expect(Object.keys(again.raw).sort()).toEqual(Object.keys(decoded.raw).sort());
  for (const [name, raw] of Object.entries(decoded.raw)) expect(again.raw[name]!.bytes).toEqual(raw.bytes);
}

function decodesOrRejects(bytes: Uint8Array): boolean {
  const outcome = attempt(bytes);
  if (outcome.ok) expectConsistent(bytes, outcome.decoded);
  else expect(outcome.error.message).toMatch(/^checkpoint: \S/);
  return true;
}

function expectRejected(bytes: Uint8Array): void {
  const outcome = attempt(bytes);
  expect(outcome.ok).toBe(false);
}

/** Rebuild a file around new header text, with a truthful length prefix. */
function withHeader(headerJson: string, data: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(headerJson);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function splitFile(file: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = new DataView(file.buffer, file.byteOffset).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, unknown>;
  return { header, data: file.subarray(8 + n) };
}

// ---------------------------------------------------------------------------------------------------------
// Valid files to start from.

const shapeArb = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 });
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const entryArb: fc.Arbitrary<SafetensorsEntry> = fc.oneof(
  shapeArb.map(
    (s) =>
      new Tensor(
        Float32Array.from({ length: size(s) }, (_, i) => i - 1.5),
        s,
      ),
  ),
  shapeArb.map(
    (s) =>
      new Tensor(
        Float64Array.from({ length: size(s) }, (_, i) => i / 3),
        s,
      ),
  ),
  shapeArb.map((s) => ({ shape: s, data: Int8Array.from({ length: size(s) }, (_, i) => i - 3) })),
  shapeArb.map((s) => ({ shape: s, data: new BigInt64Array(size(s)) })),
  shapeArb.map((s) => ({ dtype: "BF16" as const, shape: s, bytes: new Uint8Array(2 * size(s)) })),
);
const validFile = fc
  .tuple(
    fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), entryArb, { minKeys: 1, maxKeys: 4 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
  )
  .filter(([entries]) => !("__metadata__" in entries))
  .map(([entries, metadata]) => encodeSafetensors(entries, metadata));

// ---------------------------------------------------------------------------------------------------------
// Hostile values for header fields.

const hostileNumber = fc.oneof(
  fc.constantFrom(
    -1,
    -0,
    0.5,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    2 ** 53 + 2,
    2 ** 64,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER,
  ),
  fc.integer({ min: -5, max: 40 }),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileNumber,
  fc.constantFrom(null, true, "F32", "", "3", "F4", "f32", "__proto__", "constructor", {}, []),
  fc.array(hostileNumber, { maxLength: 4 }),
  fc.jsonValue({ maxDepth: 2 }),
);

describe("decodeSafetensors fuzz", () => {
  it("rejects or decodes random bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodesOrRejects), { numRuns: 2000 });
  });

  it("rejects or decodes random bytes behind a plausible length prefix and an opening brace", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 120 }), fc.uint8Array({ maxLength: 160 }), (n, rest) => {
        const file = new Uint8Array(9 + rest.length);
        new DataView(file.buffer).setUint32(0, n, true);
        file[8] = 0x7b;
        file.set(rest, 9);
        return decodesOrRejects(file);
      }),
      { numRuns: 1500 },
    );
  });

  it("rejects or decodes arbitrary JSON headers over random data", () => {
    const jsonHeader = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc
        .dictionary(
          fc.oneof(fc.string({ maxLength: 3 }), fc.constant("__metadata__")),
          fc.oneof(
            fc.record(
              { dtype: hostileValue, shape: hostileValue, data_offsets: hostileValue },
              { requiredKeys: [] },
            ),
            hostileValue,
          ),
          { maxKeys: 3 },
        )
        .map((h) => JSON.stringify(h)),
    );
    fc.assert(
      fc.property(jsonHeader, fc.uint8Array({ maxLength: 64 }), (json, data) =>
        decodesOrRejects(withHeader(json, data)),
      ),
      { numRuns: 2000 },
    );
  });

  it("rejects every truncation of a valid file", () => {
    fc.assert(
      fc.property(validFile, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (file, at) => {
        expect(decodesOrRejects(file)).toBe(true);
        expect(attempt(file).ok).toBe(true);
        expectRejected(file.subarray(0, Math.floor(at * file.length)));
      }),
      { numRuns: 500 },
    );
  });

  it("rejects a multi-tensor file cut at each of its lengths", () => {
    const file = encodeSafetensors(
      {
        a: new Tensor(Float32Array.from([1, 2, 3]), [3]),
        b: new Tensor(new Float64Array(2), [1, 2]),
        c: { shape: [5], data: new Uint8Array(5) },
      },
      { seed: "0" },
    );
    expect(attempt(file).ok).toBe(true);
    for (let cut = 0; cut < file.length; cut++) expectRejected(file.subarray(0, cut));
    // Every extension is rejected too: trailing bytes belong to no tensor.
    for (let extra = 1; extra <= 16; extra++) {
      const longer = new Uint8Array(file.length + extra);
      longer.set(file);
      expectRejected(longer);
    }
  });

  it("rejects or decodes files with mutated header bytes", () => {
    fc.assert(
      fc.property(
        validFile,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        (file, flips) => {
          const n = new DataView(file.buffer).getUint32(0, true);
          const mutated = file.slice();
          for (const [pos, xor] of flips) mutated[pos % (8 + n)]! ^= xor;
          return decodesOrRejects(mutated);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("rejects or decodes files whose length prefix lies", () => {
    fc.assert(
      fc.property(
        validFile,
        fc.oneof(
          fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          fc.constantFrom(2n ** 53n, 2n ** 64n - 1n, 2n ** 32n, 100_000_001n),
          fc.integer({ min: -16, max: 16 }).map(BigInt),
        ),
        (file, lie) => {
          const mutated = file.slice();
          const view = new DataView(mutated.buffer);
          const truth = view.getBigUint64(0, true);
          const claimed = lie < 0n || lie <= 16n ? truth + lie : lie;
          fc.pre(claimed >= 0n && claimed !== truth);
          view.setBigUint64(0, claimed, true);
          return decodesOrRejects(mutated);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("rejects or decodes files with a header field replaced by a hostile value", () => {
    fc.assert(
      fc.property(
        validFile,
        fc.nat(),
        fc.constantFrom("dtype", "shape", "data_offsets", "extra", "__delete__"),
        hostileValue,
        (file, pick, field, value) => {
          const { header, data } = splitFile(file);
          const names = Object.keys(header).filter((k) => k !== "__metadata__");
          const name = names[pick % names.length]!;
          const entry = header[name] as Record<string, unknown>;
          if (field === "__delete__") delete entry.dtype;
          else entry[field] = value;
          return decodesOrRejects(withHeader(JSON.stringify(header), data));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("accepts exactly the offsets that tile the data section (checked against a naive oracle)", () => {
    const interval = fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 5 }));
    fc.assert(
      fc.property(
        fc.array(interval, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 16 }),
        (spans, dataLength) => {
          const header: Record<string, unknown> = {};
          spans.forEach(([begin, length], i) => {
            header[`t${i}`] = { dtype: "U8", shape: [length], data_offsets: [begin, begin + length] };
          });
          // Oracle: sorted by (begin, end), each interval starts where the previous one ended, the last ends at D.
          const sorted = spans
            .map(([b, n]) => [b, b + n] as const)
            .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
          let cursor = 0;
          let tiles = true;
          for (const [b, e] of sorted) {
            if (b !== cursor) tiles = false;
            cursor = e;
          }
          tiles &&= cursor === dataLength;
          const file = withHeader(JSON.stringify(header), new Uint8Array(dataLength));
          expect(attempt(file).ok).toBe(tiles);
          return decodesOrRejects(file);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("always rejects offsets that are negative, beyond 2^53 or beyond the data, and shapes too big", () => {
    const lies: [string, (size: number) => unknown][] = [
      ["data_offsets", () => [-8, 0]],
      ["data_offsets", () => [2 ** 53, 2 ** 53 + 8]],
      ["data_offsets", (n) => [0, n + 1]],
      ["data_offsets", (n) => [n + 8, n + 16]],
      ["shape", () => [2 ** 40, 2 ** 40]],
      ["shape", () => [2 ** 53]],
      ["shape", () => [-1]],
      ["dtype", () => "F4"],
    ];
    fc.assert(
      fc.property(validFile, fc.nat(), fc.constantFrom(...lies), (file, pick, [field, make]) => {
        const { header, data } = splitFile(file);
        const names = Object.keys(header).filter((k) => k !== "__metadata__");
        const entry = header[names[pick % names.length]!] as Record<string, unknown>;
        entry[field] = make(data.length);
        expectRejected(withHeader(JSON.stringify(header), data));
      }),
      { numRuns: 400 },
    );
  });

  it("rejects deeply nested and oversized headers without overflowing the stack", () => {
    const depth = 100_000;
    const nested = `{"a":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    expectRejected(withHeader(nested, new Uint8Array(0)));
    const nestedObjects = `{"a":${'{"b":'.repeat(depth)}1${"}".repeat(depth)}}`;
    expectRejected(withHeader(nestedObjects, new Uint8Array(0)));
    // A header length just over the documented cap is refused before anything is read or allocated.
    const file = new Uint8Array(16);
    new DataView(file.buffer).setUint32(0, 100_000_001, true);
    expect(attempt(file).ok).toBe(false);
  });
});
