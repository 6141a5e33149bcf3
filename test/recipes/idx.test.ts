import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type IdxDataType, idxDataset, idxSplit, inputStatistics, parseIdx } from "@quant-trim/recipes";
import { findIdxFiles, loadIdxDirectory, readIdxFile } from "@quant-trim/recipes/node";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

// An IDX writer of the test's own (DataView, big-endian), so the parser is checked against the format,
// not against itself. The hand-written byte literals below pin the format down independently of it.
const TYPE_BYTE: Record<IdxDataType, number> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};
const WIDTH: Record<IdxDataType, number> = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 };

function encodeIdx(type: IdxDataType, shape: readonly number[], values: ArrayLike<number>): Uint8Array {
  const header = 4 + 4 * shape.length;
  const out = new Uint8Array(header + values.length * WIDTH[type]);
  const v = new DataView(out.buffer);
  out[2] = TYPE_BYTE[type];
  out[3] = shape.length;
  for (const [i, d] of shape.entries()) v.setUint32(4 + 4 * i, d, false);
  for (let i = 0; i < values.length; i++) {
    const at = header + i * WIDTH[type];
    const x = values[i]!;
    if (type === "uint8") v.setUint8(at, x);
    else if (type === "int8") v.setInt8(at, x);
    else if (type === "int16") v.setInt16(at, x, false);
    else if (type === "int32") v.setInt32(at, x, false);
    else if (type === "float32") v.setFloat32(at, x, false);
    else v.setFloat64(at, x, false);
  }
  return out;
}

/** `count` images of h×w whose first pixel encodes the sample index (so each sample is recognisable). */
function images(count: number, h: number, w: number, seed = 1): { bytes: Uint8Array; pixels: Uint8Array } {
  const pixels = new Uint8Array(count * h * w);
  let s = seed;
  for (let i = 0; i < pixels.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    pixels[i] = (s >>> 16) & 0xff;
  }
  for (let n = 0; n < count; n++) pixels[n * h * w] = n % 256;
  return { bytes: encodeIdx("uint8", [count, h, w], pixels), pixels };
}

function labels(values: number[]): Uint8Array {
  return encodeIdx("uint8", [values.length], values);
}

describe("parseIdx", () => {
  it("decodes hand-written bytes of every data type, big-endian", () => {
    expect(parseIdx(new Uint8Array([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 0, 255]))).toEqual({
      dataType: "uint8",
      shape: [3],
      data: new Uint8Array([7, 0, 255]),
    });
    expect(parseIdx(new Uint8Array([0, 0, 0x09, 1, 0, 0, 0, 2, 0xff, 0x80])).data).toEqual(
      new Int8Array([-1, -128]),
    );
    expect(parseIdx(new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe])).data).toEqual(
      new Int16Array([258, -2]),
    );
    expect(parseIdx(new Uint8Array([0, 0, 0x0c, 1, 0, 0, 0, 1, 0x80, 0, 0, 0])).data).toEqual(
      new Int32Array([-2147483648]),
    );
    // 1.5 is 0x3fc00000 in float32; -2 is 0xc000000000000000 in float64.
    expect(parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0])).data).toEqual(
      new Float32Array([1.5]),
    );
    expect(parseIdx(new Uint8Array([0, 0, 0x0e, 1, 0, 0, 0, 1, 0xc0, 0, 0, 0, 0, 0, 0, 0])).data).toEqual(
      new Float64Array([-2]),
    );
    // Sizes are big-endian too: 0x00000102 = 258 rows of 1.
    const big = new Uint8Array(4 + 8 + 258);
    big.set([0, 0, 0x08, 2, 0, 0, 1, 2, 0, 0, 0, 1]);
    expect(parseIdx(big).shape).toEqual([258, 1]);
  });

  it("round-trips any shape and type, also from a view that does not start at its buffer's start", () => {
    const typed = fc.constantFrom<IdxDataType>("uint8", "int8", "int16", "int32", "float32", "float64");
    const valuesOf = (t: IdxDataType) =>
      t === "uint8"
        ? fc.integer({ min: 0, max: 255 })
        : t === "int8"
          ? fc.integer({ min: -128, max: 127 })
          : t === "int16"
            ? fc.integer({ min: -32768, max: 32767 })
            : t === "int32"
              ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
              : t === "float32"
                ? fc.float({ noNaN: true }).map(Math.fround)
                : fc.double({ noNaN: true });
    const arb = fc
      .tuple(typed, fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }))
      .chain(([t, shape]) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.tuple(
          fc.constant(t),
          fc.constant(shape),
          fc.array(valuesOf(t), { minLength: n, maxLength: n }),
          fc.integer({ min: 0, max: 7 }),
        );
      });
    fc.assert(
      fc.property(arb, ([type, shape, values, offset]) => {
        const encoded = encodeIdx(type, shape, values);
        const host = new Uint8Array(offset + encoded.length);
        host.set(encoded, offset);
        const parsed = parseIdx(host.subarray(offset));
        expect(parsed.dataType).toBe(type);
        expect(parsed.shape).toEqual(shape);
        expect(Array.from(parsed.data)).toEqual(values);
        // A copy: later writes to the input do not change the decoded values.
        host.fill(0xaa);
        expect(Array.from(parsed.data)).toEqual(values);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses bytes that are not a complete IDX array, naming the function and the source", () => {
    const cases: [Uint8Array, string][] = [
      [new Uint8Array([0, 0, 8]), "has 3 bytes, too short"],
      [
        new Uint8Array([1, 0, 8, 1, 0, 0, 0, 1, 5]),
        "not IDX data: the magic number must start with two zero bytes, got 0x01 0x00",
      ],
      [new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]), "it looks gzip-compressed"],
      [new Uint8Array([0, 0, 0x0a, 1, 0, 0, 0, 1, 5]), "unknown data type byte 0x0a"],
      [new Uint8Array([0, 0, 8, 0]), "declares 0 dimensions"],
      [new Uint8Array([0, 0, 8, 2, 0, 0, 0, 1]), "truncated: 2 dimensions need a 12-byte header"],
      [new Uint8Array([0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 3]), "dimension 0 is 0 (shape [0, 3])"],
      [
        new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 1, 2]),
        "shape [3] of uint8 needs 3 bytes of values after the 8-byte header, the data has 2 (truncated?)",
      ],
      [new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "the data has 2 (trailing bytes)"],
      [new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 1, 2, 3]), "shape [2] of int16 needs 4 bytes"],
      // Sizes whose product is far beyond the bytes: refused, not allocated.
      [
        new Uint8Array([0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0]),
        "(truncated?)",
      ],
    ];
    for (const [bytes, message] of cases) {
      expect(() => parseIdx(bytes, "'t.idx'")).toThrow("parseIdx: 't.idx'");
      expect(() => parseIdx(bytes, "'t.idx'")).toThrow(message);
    }
    expect(() => parseIdx([0, 0, 8, 1] as unknown as Uint8Array)).toThrow(
      "parseIdx: bytes must be a Uint8Array",
    );
  });
});

describe("idxDataset", () => {
  it("scales uint8 pixels to [0, 1], adds a channel axis and takes the class count from the labels", () => {
    const { bytes, pixels } = images(5, 2, 3);
    const ds = idxDataset(parseIdx(bytes), parseIdx(labels([0, 3, 3, 1, 0])));
    expect(ds.sampleShape).toEqual([1, 2, 3]);
    expect(ds.count).toBe(5);
    expect(ds.classes).toBe(4);
    expect(ds.classCounts).toEqual([2, 1, 0, 2]);
    expect(Array.from(ds.labels)).toEqual([0, 3, 3, 1, 0]);
    for (let i = 0; i < pixels.length; i++) expect(ds.inputs[i]).toBeCloseTo(pixels[i]! / 255, 7);
  });

  it("keeps flat samples flat, stores other types' values as they are, and widens labels past 256 classes", () => {
    const features = parseIdx(encodeIdx("float32", [2, 3], [0.5, -1, 2, 3, 4, 5]));
    const ds = idxDataset(features, parseIdx(encodeIdx("int16", [2], [300, 7])));
    expect(ds.sampleShape).toEqual([3]);
    expect(Array.from(ds.inputs)).toEqual([0.5, -1, 2, 3, 4, 5]);
    expect(ds.classes).toBe(301);
    expect(ds.labels).toBeInstanceOf(Uint16Array);
    expect(Array.from(ds.labels)).toEqual([300, 7]);
  });

  it("checks labels against the class count it is given", () => {
    const img = parseIdx(images(3, 2, 2).bytes);
    expect(idxDataset(img, parseIdx(labels([0, 1, 1])), { classes: 10 }).classCounts).toHaveLength(10);
    expect(() => idxDataset(img, parseIdx(labels([0, 9, 1])), { classes: 5, labelsName: "'t10k'" })).toThrow(
      "idxDataset: 't10k'[1] is 9, outside the 5 classes [0, 4]",
    );
  });

  it("refuses inconsistent pairs and values with messages naming the source", () => {
    const img = parseIdx(images(3, 2, 2).bytes);
    const three = parseIdx(labels([0, 1, 2]));
    expect(() => idxDataset(img, parseIdx(labels([0, 1])), { imagesName: "A", labelsName: "B" })).toThrow(
      "idxDataset: A holds 3 samples but B holds 2 labels",
    );
    expect(() => idxDataset(img, parseIdx(encodeIdx("int8", [3], [0, -1, 2])))).toThrow(
      "idxDataset: labels[1] is -1; labels must be ≥ 0",
    );
    expect(() => idxDataset(img, parseIdx(encodeIdx("float32", [3], [0, 1, 2])))).toThrow(
      "labels must hold integers, got float32",
    );
    expect(() => idxDataset(img, parseIdx(encodeIdx("uint8", [3, 1], [0, 1, 2])))).toThrow(
      "labels must have 1 dimension [count], got shape [3, 1]",
    );
    expect(() => idxDataset(parseIdx(encodeIdx("uint8", [3], [0, 1, 2])), three)).toThrow(
      "images must have 2 dimensions [count, features] or 3 [count, height, width], got shape [3]",
    );
    expect(() => idxDataset(parseIdx(encodeIdx("uint8", [3, 1, 1, 1], [0, 1, 2])), three)).toThrow(
      "got shape [3, 1, 1, 1]",
    );
    expect(() => idxDataset(parseIdx(encodeIdx("float64", [3, 1], [0, Number.NaN, 2])), three)).toThrow(
      "idxDataset: images value 1 (sample 1) is NaN",
    );
    expect(() => idxDataset(img, three, { classes: 0 })).toThrow("classes must be an integer ≥ 1, got 0");
    expect(() => idxDataset(img, three, { clases: 3 } as never)).toThrow(
      "idxDataset: unknown option 'clases'",
    );
  });
});

/** Mean and population std of the pixels as the datasets store them (float32 of p/255), in float64. */
function referenceStats(pixels: ArrayLike<number>): { mean: number; std: number } {
  const x = (i: number) => Math.fround(pixels[i]! / 255);
  let s = 0;
  for (let i = 0; i < pixels.length; i++) s += x(i);
  const mean = s / pixels.length;
  let q = 0;
  for (let i = 0; i < pixels.length; i++) q += (x(i) - mean) ** 2;
  return { mean, std: Math.sqrt(q / pixels.length) };
}

describe("idxSplit", () => {
  it("uses the test files as the test set and standardises both with the training images' statistics", () => {
    const train = images(6, 3, 3, 11);
    const test = images(4, 3, 3, 29);
    const split = idxSplit({
      trainImages: train.bytes,
      trainLabels: labels([0, 1, 2, 0, 1, 2]),
      testImages: test.bytes,
      testLabels: labels([2, 2, 1, 0]),
    });
    const ref = referenceStats(train.pixels);
    expect(split.statistics.mean).toBeCloseTo(ref.mean, 12);
    expect(split.statistics.std).toBeCloseTo(ref.std, 12);
    expect(split.statistics.values).toBe(54);
    expect(split.split).toEqual({ kind: "files" });
    expect(split.classes).toBe(3);
    expect(split.sampleShape).toEqual([1, 3, 3]);
    expect(split.train.classCounts).toEqual([2, 2, 2]);
    expect(split.test.classCounts).toEqual([1, 1, 2]);
    for (let i = 0; i < test.pixels.length; i++)
      expect(split.test.inputs[i]).toBeCloseTo((test.pixels[i]! / 255 - ref.mean) / ref.std, 5);
    // Standardised with its own statistics, the training set has mean 0 and std 1.
    const after = inputStatistics(split.train);
    expect(after.mean).toBeCloseTo(0, 6);
    expect(after.std).toBeCloseTo(1, 6);
  });

  it("holds out a seeded, disjoint test part when there are no test files", () => {
    const n = 50;
    const { bytes, pixels } = images(n, 2, 2, 5);
    const ys = Array.from({ length: n }, (_, i) => i % 5);
    const a = idxSplit({ trainImages: bytes, trainLabels: labels(ys) }, { seed: 7 });
    const b = idxSplit({ trainImages: bytes, trainLabels: labels(ys) }, { seed: 7 });
    const c = idxSplit({ trainImages: bytes, trainLabels: labels(ys) }, { seed: 8, testFraction: 0.3 });
    expect(a.split).toEqual({ kind: "held-out", testFraction: 0.2, seed: 7 });
    expect([a.train.count, a.test.count]).toEqual([40, 10]);
    expect([c.train.count, c.test.count]).toEqual([35, 15]);
    // Recover each sample's index from its first pixel (standardisation undone with the recorded stats).
    const ids = (ds: typeof a.train, s: typeof a.statistics) =>
      Array.from({ length: ds.count }, (_, i) => Math.round((ds.inputs[i * 4]! * s.std + s.mean) * 255));
    const trainIds = ids(a.train, a.statistics);
    const testIds = ids(a.test, a.statistics);
    expect([...trainIds, ...testIds].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(ids(b.test, b.statistics)).toEqual(testIds);
    expect(ids(c.test, c.statistics)).not.toEqual(testIds.slice(0, 15));
    // Labels travel with their samples.
    expect(Array.from(a.train.labels)).toEqual(trainIds.map((id) => id % 5));
    // Statistics from the training part only.
    const trainPixels = trainIds.flatMap((id) => Array.from(pixels.subarray(id * 4, id * 4 + 4)));
    expect(a.statistics.mean).toBeCloseTo(referenceStats(trainPixels).mean, 12);
  });

  it("subsamples to trainCount and testCount", () => {
    const t = images(20, 2, 2);
    const s = idxSplit(
      {
        trainImages: t.bytes,
        trainLabels: labels(Array(20).fill(1)),
        testImages: t.bytes,
        testLabels: labels(Array(20).fill(0)),
      },
      { trainCount: 8, testCount: 3 },
    );
    expect([s.train.count, s.test.count, s.statistics.values]).toEqual([8, 3, 32]);
    expect(s.classes).toBe(2);
    expect(s.test.classCounts).toEqual([3, 0]);
  });

  it("refuses half a test pair, unknown options, a test label the training set lacks and constant images", () => {
    const t = images(4, 2, 2);
    const y = labels([0, 1, 0, 1]);
    expect(() => idxSplit({ trainImages: t.bytes, trainLabels: y, testImages: t.bytes })).toThrow(
      "idxSplit: the test images come without their labels",
    );
    expect(() => idxSplit({ trainImages: t.bytes, trainLabels: y }, { testFraction: 1 })).toThrow(
      "testFraction must be a number in (0, 1), got 1",
    );
    expect(() => idxSplit({ trainImages: t.bytes, trainLabels: y }, { testFraction: 0.1 })).toThrow(
      "testFraction 0.1 of 4 samples leaves 0 for testing",
    );
    expect(() =>
      idxSplit(
        { trainImages: t.bytes, trainLabels: y, testImages: t.bytes, testLabels: y },
        { testFraction: 0.5 },
      ),
    ).toThrow("testFraction applies only without test files");
    expect(() => idxSplit({ trainImages: t.bytes, trainLabels: y }, { seeds: 1 } as never)).toThrow(
      "idxSplit: unknown option 'seeds'",
    );
    expect(() => idxSplit({ trainImages: t.bytes, trainLabels: y }, { trainCount: 0 })).toThrow(
      "trainCount must be an integer ≥ 1, got 0",
    );
    expect(() =>
      idxSplit({
        trainImages: t.bytes,
        trainLabels: y,
        testImages: t.bytes,
        testLabels: labels([0, 2, 0, 1]),
        names: { testLabels: "'t10k-labels'" },
      }),
    ).toThrow("idxDataset: 't10k-labels'[1] is 2, outside the 2 classes [0, 1]");
    expect(() =>
      idxSplit({ trainImages: t.bytes, trainLabels: y, testImages: images(4, 3, 2).bytes, testLabels: y }),
    ).toThrow("idxSplit: testImages samples have shape [3, 2], trainImages samples [2, 2]");
    const flat = encodeIdx("uint8", [10, 2, 2], new Array(40).fill(9));
    expect(() => idxSplit({ trainImages: flat, trainLabels: labels(Array(10).fill(0)) })).toThrow(
      "a constant input cannot be standardised",
    );
  });
});

describe("IDX files", () => {
  const root = mkdtempSync(join(tmpdir(), "qt-idx-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let dirs = 0;
  const folder = (files: Record<string, Uint8Array | string>): string => {
    const dir = join(root, `d${dirs++}`);
    mkdirSync(dir);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    return dir;
  };
  const train = images(10, 4, 4, 3);
  const test = images(5, 4, 4, 4);
  const trainY = labels([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const testY = labels([9, 8, 7, 6, 5]);
  const mnistNames = (gz: boolean) => ({
    [`train-images-idx3-ubyte${gz ? ".gz" : ""}`]: gz ? gzipSync(train.bytes) : train.bytes,
    [`train-labels-idx1-ubyte${gz ? ".gz" : ""}`]: gz ? gzipSync(trainY) : trainY,
    [`t10k-images-idx3-ubyte${gz ? ".gz" : ""}`]: gz ? gzipSync(test.bytes) : test.bytes,
    [`t10k-labels-idx1-ubyte${gz ? ".gz" : ""}`]: gz ? gzipSync(testY) : testY,
  });

  it("reads the same dataset from plain and gzipped files and records each file's identity", () => {
    const plainDir = folder(mnistNames(false));
    const gzDir = folder({ ...mnistNames(true), "README.txt": "not a dataset file" });
    const plain = loadIdxDirectory(plainDir);
    const gz = loadIdxDirectory(gzDir);
    expect(plain.classes).toBe(10);
    expect([plain.train.count, plain.test.count]).toEqual([10, 5]);
    expect(gz.train.inputs).toEqual(plain.train.inputs);
    expect(gz.test.labels).toEqual(plain.test.labels);
    expect(gz.statistics).toEqual(plain.statistics);
    const gzFile = join(gzDir, "train-images-idx3-ubyte.gz");
    const onDisk = gzipSync(train.bytes);
    expect(gz.files[0]).toEqual({
      role: "trainImages",
      path: gzFile,
      bytes: onDisk.length,
      sha256: createHash("sha256").update(onDisk).digest("hex"),
    });
    expect(gz.files.map((f) => f.role)).toEqual(["trainImages", "trainLabels", "testImages", "testLabels"]);
    expect(plain.files[3]!.bytes).toBe(testY.length);
    expect(readIdxFile(gzFile)).toEqual(train.bytes);
  });

  it("finds dotted, prefixed and test- names, prefers a plain file to its .gz, and splits when there is no test pair", () => {
    const dotted = folder({ "train-images.idx3-ubyte": train.bytes, "train-labels.idx1-ubyte": trainY });
    expect(findIdxFiles(dotted)).toEqual({
      dir: dotted,
      trainImages: join(dotted, "train-images.idx3-ubyte"),
      trainLabels: join(dotted, "train-labels.idx1-ubyte"),
      testImages: null,
      testLabels: null,
    });
    expect(loadIdxDirectory(dotted, { seed: 1 }).split).toEqual({
      kind: "held-out",
      testFraction: 0.2,
      seed: 1,
    });
    const both = folder({ ...mnistNames(true), ...mnistNames(false) });
    expect(findIdxFiles(both).trainImages).toBe(join(both, "train-images-idx3-ubyte"));
    const emnist = folder({
      "emnist-a-train-images-idx3-ubyte.gz": gzipSync(train.bytes),
      "emnist-a-train-labels-idx1-ubyte.gz": gzipSync(trainY),
      "emnist-a-test-images-idx3-ubyte.gz": gzipSync(test.bytes),
      "emnist-a-test-labels-idx1-ubyte.gz": gzipSync(testY),
      "emnist-b-train-images-idx3-ubyte.gz": gzipSync(train.bytes),
      "emnist-b-train-labels-idx1-ubyte.gz": gzipSync(trainY),
    });
    expect(() => findIdxFiles(emnist)).toThrow(
      `findIdxFiles: '${emnist}' holds several trainImages files (emnist-a-train-images-idx3-ubyte.gz, emnist-b-train-images-idx3-ubyte.gz); pick one set with the prefix option`,
    );
    const a = loadIdxDirectory(emnist, { prefix: "emnist-a", trainCount: 6 });
    expect([a.train.count, a.test.count, a.split.kind]).toEqual([6, 5, "files"]);
    expect(findIdxFiles(emnist, { prefix: "emnist-b" }).testImages).toBeNull();
  });

  it("says which file is missing, and names the file in decoding errors", () => {
    const noLabels = folder({ "train-images-idx3-ubyte": train.bytes, "train-labels-idx3-ubyte.zip": "x" });
    expect(() => findIdxFiles(noLabels)).toThrow(
      `findIdxFiles: '${noLabels}' has no train-labels-idx1-ubyte[.gz] (IDX-like files there: train-images-idx3-ubyte, train-labels-idx3-ubyte.zip)`,
    );
    const halfTest = folder(
      Object.fromEntries(
        Object.entries(mnistNames(false)).filter(([name]) => !name.startsWith("t10k-labels")),
      ),
    );
    expect(() => findIdxFiles(halfTest)).toThrow("but not its labels file (t10k-labels-idx1-ubyte[.gz])");
    expect(() => findIdxFiles(join(root, "nowhere"))).toThrow(
      `findIdxFiles: cannot read the folder '${join(root, "nowhere")}'`,
    );
    expect(() => findIdxFiles("  ")).toThrow("findIdxFiles: dir must be a non-blank path");
    const badLabels = folder({ ...mnistNames(false), "t10k-labels-idx1-ubyte": labels([1, 2, 3, 4, 10]) });
    expect(() => loadIdxDirectory(badLabels)).toThrow(
      `idxDataset: '${join(badLabels, "t10k-labels-idx1-ubyte")}'[4] is 10, outside the 10 classes [0, 9]`,
    );
    const short = folder({ ...mnistNames(false), "train-labels-idx1-ubyte": labels([0, 1, 2]) });
    expect(() => loadIdxDirectory(short)).toThrow(
      `idxDataset: '${join(short, "train-images-idx3-ubyte")}' holds 10 samples but '${join(short, "train-labels-idx1-ubyte")}' holds 3 labels`,
    );
    const truncated = folder({
      ...mnistNames(false),
      "train-images-idx3-ubyte": train.bytes.subarray(0, 100),
    });
    expect(() => loadIdxDirectory(truncated)).toThrow(
      `parseIdx: '${join(truncated, "train-images-idx3-ubyte")}': shape [10, 4, 4] of uint8 needs 160 bytes`,
    );
    const unnamedGzip = folder({ ...mnistNames(false), "train-images-idx3-ubyte": gzipSync(train.bytes) });
    expect(() => loadIdxDirectory(unnamedGzip)).toThrow("it looks gzip-compressed");
  });

  it("refuses directories, FIFOs, devices, fake or broken gzip and oversized files without hanging", () => {
    const dir = folder({
      "x.gz": "plain text",
      "y.gz": gzipSync(train.bytes).subarray(0, 30),
      z: train.bytes,
    });
    mkdirSync(join(dir, "train-images-idx3-ubyte"));
    writeFileSync(join(dir, "train-labels-idx1-ubyte"), trainY);
    expect(() => loadIdxDirectory(dir)).toThrow(
      `readIdxFile: '${join(dir, "train-images-idx3-ubyte")}' is a directory, not a regular file`,
    );
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    expect(() => readIdxFile(fifo)).toThrow(`readIdxFile: '${fifo}' is a FIFO, not a regular file`);
    expect(() => readIdxFile("/dev/zero")).toThrow("readIdxFile: '/dev/zero' is a character device");
    expect(() => readIdxFile(join(dir, "x.gz"))).toThrow("is named .gz but is not gzip data");
    expect(() => readIdxFile(join(dir, "y.gz"))).toThrow(`readIdxFile: cannot gunzip '${join(dir, "y.gz")}'`);
    expect(() => readIdxFile(join(dir, "z"), { maxBytes: 100 })).toThrow(
      `'${join(dir, "z")}' has ${train.bytes.length} bytes, more than the limit of 100`,
    );
    expect(() => readIdxFile(join(dir, "missing"))).toThrow(
      `readIdxFile: cannot open '${join(dir, "missing")}'`,
    );
    expect(() => readIdxFile(join(dir, "z"), { max: 1 } as never)).toThrow(
      "readIdxFile: unknown option 'max'",
    );
  });
});
