import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type Batch, batches, type Dataset, gather } from "@quant-trim/recipes";
import { loadMnist, MNIST_PIXELS, MNIST_SAMPLE_SHAPE, mnistSplit } from "@quant-trim/recipes/node";
import { Rng } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

function countLabels(labels: ArrayLike<number>): number[] {
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  return counts;
}

describe("loadMnist", () => {
  const all = loadMnist();

  it("loads the 10,000 digits with about 1,000 of each", () => {
    expect(all.count).toBe(10_000);
    expect(all.inputs.length).toBe(10_000 * MNIST_PIXELS);
    expect(all.labels.length).toBe(10_000);
    for (const n of countLabels(all.labels)) {
      expect(n).toBeGreaterThan(800);
      expect(n).toBeLessThan(1200);
    }
  });

  it("holds pixels in [0, 1], and every image has ink and background", () => {
    for (let i = 0; i < all.count; i++) {
      let max = 0;
      let min = 1;
      for (let p = i * MNIST_PIXELS; p < (i + 1) * MNIST_PIXELS; p++) {
        const v = all.inputs[p]!;
        if (!(v >= 0 && v <= 1)) throw new Error(`pixel ${p} of image ${i} is ${v}`);
        if (v > max) max = v;
        if (v < min) min = v;
      }
      expect(max).toBeGreaterThan(0.5);
      expect(min).toBe(0);
    }
  });

  it("matches the package's data files image for image", () => {
    const dir = join(dirname(createRequire(import.meta.url).resolve("mnist/package.json")), "src", "digits");
    let first = 0;
    for (let digit = 0; digit < 10; digit++) {
      const data = (JSON.parse(readFileSync(join(dir, `${digit}.json`), "utf8")) as { data: number[] }).data;
      const n = data.length / MNIST_PIXELS;
      // The first and last image of each digit, compared value by value (as float32).
      for (const k of [0, n - 1]) {
        const ours = all.inputs.subarray((first + k) * MNIST_PIXELS, (first + k + 1) * MNIST_PIXELS);
        const theirs = Float32Array.from(data.slice(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS));
        expect(ours).toEqual(theirs);
        expect(all.labels[first + k]).toBe(digit);
      }
      first += n;
    }
    expect(first).toBe(all.count);
  });

  it("reads the files once and caches the result", () => {
    expect(loadMnist()).toBe(all);
  });
});

describe("mnistSplit", () => {
  const all = loadMnist();

  function expectPartition(train: Int32Array, test: Int32Array): void {
    const seen = new Uint8Array(all.count);
    for (const i of train) seen[i]!++;
    for (const i of test) seen[i]!++;
    // Every sample lands in exactly one part: train ∩ test = ∅ and train ∪ test = all.
    expect(seen.every((n) => n === 1)).toBe(true);
  }

  it("splits 8,000 / 2,000 by default, with every digit in both parts", () => {
    const { train, test } = mnistSplit();
    expect(train.count).toBe(8000);
    expect(test.count).toBe(2000);
    expect(train.inputs.length).toBe(8000 * MNIST_PIXELS);
    expect(test.labels.length).toBe(2000);
    expectPartition(train.indices, test.indices);
    for (const n of countLabels(test.labels)) expect(n).toBeGreaterThan(120);
  });

  it("copies the right images and labels for each index", () => {
    const { train, test } = mnistSplit(3, 9000);
    for (const part of [train, test]) {
      for (let i = 0; i < part.count; i++) {
        const j = part.indices[i]!;
        expect(part.labels[i]).toBe(all.labels[j]);
        const ours = part.inputs.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
        const source = all.inputs.subarray(j * MNIST_PIXELS, (j + 1) * MNIST_PIXELS);
        if (!ours.every((v, p) => v === source[p])) throw new Error(`image ${i} differs from source ${j}`);
      }
    }
  });

  it("is a partition fixed by the seed: same seed, same split; different seed, different split", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 10_000 }),
        (seedA, seedB, trainCount) => {
          const a = mnistSplit(seedA, trainCount);
          const again = mnistSplit(seedA, trainCount);
          expect(a.train.count).toBe(trainCount);
          expect(a.test.count).toBe(10_000 - trainCount);
          expectPartition(a.train.indices, a.test.indices);
          expect(again.train.indices).toEqual(a.train.indices);
          expect(again.test.indices).toEqual(a.test.indices);
          if (seedA !== seedB && trainCount > 0 && trainCount < 10_000) {
            const b = mnistSplit(seedB, trainCount);
            expect(b.train.indices).not.toEqual(a.train.indices);
          }
        },
      ),
      { numRuns: 6 },
    );
  });

  it("rejects a train count outside the data", () => {
    expect(() => mnistSplit(0, -1)).toThrow(
      /mnistSplit: trainCount must be an integer in \[0, 10000\], got -1/,
    );
    expect(() => mnistSplit(0, 10_001)).toThrow(/got 10001/);
    expect(() => mnistSplit(0, 1.5)).toThrow(/got 1.5/);
  });

  it("rejects a seed that Rng would truncate into another split, and indices outside the data", () => {
    expect(() => mnistSplit(1.5)).toThrow(
      /mnistSplit: seed must be an integer in \[0, 4294967295\], got 1.5/,
    );
    expect(() => mnistSplit(-1)).toThrow(/got -1/);
    const all = loadMnist();
    expect(() => gather(all, Int32Array.of(0, 10_000))).toThrow(
      /gather: indices\[1\] = 10000 is outside the dataset's 10000 samples/,
    );
    expect(() => gather(all, Int32Array.of(-1))).toThrow(/indices\[0\] = -1/);
  });
});

/** A small dataset whose every pixel of sample i equals i / 256, so a batch reveals which samples it holds. */
function tagged(count: number): Dataset {
  const inputs = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    inputs.fill(i / 256, i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
    labels[i] = i % 10;
  }
  return { inputs, sampleShape: MNIST_SAMPLE_SHAPE, labels, count };
}

/** The sample ids of a batch, after checking that each sample's pixels and label belong together. */
function idsOf(batch: Batch): number[] {
  expect(batch.x.shape).toEqual([batch.size, 1, 28, 28]);
  expect(batch.y.length).toBe(batch.size);
  const x = batch.x.values();
  const ids: number[] = [];
  for (let i = 0; i < batch.size; i++) {
    const id = x[i * MNIST_PIXELS]! * 256;
    expect(x[(i + 1) * MNIST_PIXELS - 1]! * 256).toBe(id);
    expect(batch.y[i]).toBe(id % 10);
    ids.push(id);
  }
  return ids;
}

describe("batches", () => {
  it("visits every sample exactly once per epoch, in batches of the requested size", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 16 }),
        fc.option(fc.integer({ min: 0, max: 1000 })),
        fc.boolean(),
        (count, batchSize, seed, dropLast) => {
          const ds = tagged(count);
          const rng = seed === null ? undefined : new Rng(seed);
          const list = [...batches(ds, batchSize, rng, { dropLast })];
          const ids = list.flatMap(idsOf);
          const kept = dropLast ? count - (count % batchSize) : count;
          expect(ids.length).toBe(kept);
          expect(new Set(ids).size).toBe(kept);
          for (const id of ids) expect(id >= 0 && id < count).toBe(true);
          for (const [i, b] of list.entries()) {
            if (i < list.length - 1 || dropLast) expect(b.size).toBe(batchSize);
            else expect(b.size).toBe(Math.min(batchSize, count - i * batchSize));
          }
          if (rng === undefined) expect(ids).toEqual(Array.from({ length: kept }, (_, i) => i));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("shuffles reproducibly: same seed, same order; a new epoch on the same Rng, a new order", () => {
    const ds = tagged(50);
    const order = (rng: Rng) => [...batches(ds, 7, rng)].flatMap(idsOf);
    const rngA = new Rng(11);
    const epoch1 = order(rngA);
    const epoch2 = order(rngA);
    expect(order(new Rng(11))).toEqual(epoch1);
    expect(epoch2).not.toEqual(epoch1);
    expect([...epoch2].sort((a, b) => a - b)).toEqual([...epoch1].sort((a, b) => a - b));
  });

  it("gives fresh arrays for every batch", () => {
    const list = [...batches(tagged(8), 4)];
    expect(list[0]!.x.data).not.toBe(list[1]!.x.data);
    list[0]!.x.data.fill(9);
    expect(idsOf(list[1]!)).toEqual([4, 5, 6, 7]);
  });

  it("batches real digits as [B, 1, 28, 28]", () => {
    const { test } = mnistSplit();
    const list = [...batches(test, 512)];
    expect(list.map((b) => b.size)).toEqual([512, 512, 512, 464]);
    expect(list[3]!.x.shape).toEqual([464, 1, 28, 28]);
    expect(Array.from(list[0]!.y.subarray(0, 5))).toEqual(Array.from(test.labels.subarray(0, 5)));
  });

  it("rejects a bad batch size or an inconsistent dataset when called", () => {
    expect(() => batches(tagged(4), 0)).toThrow(/batches: batchSize must be a positive integer, got 0/);
    expect(() => batches(tagged(4), 2.5)).toThrow(/got 2.5/);
    const broken = { ...tagged(4), count: 5 };
    expect(() => batches(broken, 2)).toThrow(
      /batches: a dataset of 5 samples of shape \[1, 28, 28\] needs 3920 input values and 5 labels, got 3136 and 4/,
    );
  });
});
