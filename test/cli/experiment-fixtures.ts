import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildModel, trainingSteps } from "@quant-trim/recipes";
import {
  buildRecipe,
  type CheckpointEvaluation,
  type CheckpointEvaluator,
  type Trainer,
} from "quant-trim/internal";

/** Temporary folders made by a test file; `removeAll` in its afterAll. */
export function tempDirs() {
  const made: string[] = [];
  return {
    make(prefix = "qt-exp-"): string {
      const d = mkdtempSync(join(tmpdir(), prefix));
      made.push(d);
      return d;
    },
    removeAll(): void {
      for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** IDX bytes: two zero bytes, the type byte, the rank, big-endian dimensions, then the values. */
export function idxBytes(typeByte: number, shape: readonly number[], values: ArrayLike<number>): Uint8Array {
  const header = 4 + 4 * shape.length;
  const out = new Uint8Array(header + values.length);
  const view = new DataView(out.buffer);
  out[2] = typeByte;
  out[3] = shape.length;
  shape.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  for (let i = 0; i < values.length; i++) out[header + i] = values[i]!;
  return out;
}

export interface IdxFixtureOptions {
  readonly train: number;
  /** Test samples in t10k files; null: no test files (the experiment holds out part of the training set). */
  readonly test: number | null;
  readonly side: number;
  readonly classes: number;
  readonly gzip?: boolean;
  readonly seed?: number;
}

/**
 * A small learnable IDX dataset: class c lights the c-th horizontal band of an image (plus noise), so a
 * model separates the classes within a few steps. Returns the labels it wrote.
 */
export function writeIdxDataset(
  dir: string,
  o: IdxFixtureOptions,
): { trainLabels: number[]; testLabels: number[] } {
  let s = (o.seed ?? 1) >>> 0 || 1;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const make = (n: number) => {
    const pixels = new Uint8Array(n * o.side * o.side);
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      // Every class appears: the labels cycle, so the largest label is classes − 1 whenever n ≥ classes.
      const c = i % o.classes;
      labels.push(c);
      const band = Math.floor((c * o.side) / o.classes);
      for (let y = 0; y < o.side; y++)
        for (let x = 0; x < o.side; x++) {
          const lit = y >= band && y < band + Math.max(1, Math.floor(o.side / o.classes));
          pixels[i * o.side * o.side + y * o.side + x] = Math.min(
            255,
            (lit ? 200 : 20) + Math.floor(40 * next()),
          );
        }
    }
    return { pixels, labels };
  };
  const write = (name: string, bytes: Uint8Array) =>
    writeFileSync(join(dir, o.gzip ? `${name}.gz` : name), o.gzip ? gzipSync(bytes) : bytes);
  const train = make(o.train);
  write("train-images-idx3-ubyte", idxBytes(0x08, [o.train, o.side, o.side], train.pixels));
  write("train-labels-idx1-ubyte", idxBytes(0x08, [o.train], train.labels));
  if (o.test === null) return { trainLabels: train.labels, testLabels: [] };
  const test = make(o.test);
  write("t10k-images-idx3-ubyte", idxBytes(0x08, [o.test, o.side, o.side], test.pixels));
  write("t10k-labels-idx1-ubyte", idxBytes(0x08, [o.test], test.labels));
  return { trainLabels: train.labels, testLabels: test.labels };
}

/**
 * A trainer that does not train: the run's freshly initialised model with its recipe, and made-up curves,
 * reported through the progress renderer as the real one would. `failOn` (1-based) throws on that call,
 * as a diverged run would. Records the runs it was asked for.
 */
export function standInTrainer(failOn?: number): { train: Trainer; calls: string[] } {
  const calls: string[] = [];
  const train: Trainer = (o, data, progress) => {
    calls.push(`${o.recipe}/${o.seed}`);
    if (calls.length === failOn) throw new Error(`run ${failOn} failed`);
    const model = buildModel(o.arch, {
      inputShape: data.train.sampleShape,
      classes: o.classes,
      seed: o.seed,
    });
    const totalSteps = trainingSteps(data.train.count, o.batchSize, o.epochs);
    const recipe = buildRecipe(model, o, totalSteps, data.train.sampleShape, () => {});
    const curves = Array.from({ length: o.epochs }, (_, epoch) => {
      progress.startEpoch(epoch, o.epochs, totalSteps / o.epochs);
      progress.endEpoch({ trainAccuracy: 0.5, lambda: null, trimQuantile: null, loss: 1 });
      const figures = {
        loss: 1,
        trainAccuracy: 0.5,
        validationAccuracy: null,
        lambda: null,
        trimQuantile: null,
      };
      return { epoch, ...figures, seconds: 0.01, samplesPerSecond: 100 };
    });
    return {
      model,
      recipe,
      curves,
      steps: { every: 1, totalSteps: 1, loss: [1], lambda: null, trimQuantile: null },
      trimmedLayers: null,
      trainSeconds: 0.01,
      warnings: [],
    };
  };
  return { train, calls };
}

/** An evaluator that evaluates nothing: every profile at the same made-up figures (for file bookkeeping tests). */
export function fixedEvaluator(accuracy = 0.5): CheckpointEvaluator {
  return {
    async evaluate(_checkpoint, profiles, onProfile) {
      const out: CheckpointEvaluation = { fpAccuracy: accuracy, profiles: {}, costs: {} };
      for (const p of profiles) {
        const e = {
          accuracy,
          top1Agreement: 1,
          logitCosine: 1,
          layerSqnr: [],
          overflows: 0,
          warnings: [],
          seconds: 0,
        };
        out.profiles[p] = e;
        out.costs[p] = {
          macs: { int8: 1, int4: 0, float: 0 },
          weightBytes: 1,
          activationBytes: 1,
          latencySeconds: 1e-6,
          energyJoules: 1e-9,
          fallbackOps: 0,
          partitions: 1,
        };
        onProfile(p, e);
      }
      return out;
    },
    async close() {},
  };
}
