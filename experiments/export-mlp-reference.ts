/**
 * Writes what a PyTorch run needs to train the zoo's mlp on exactly the data quant-trim trains on, for
 * `experiments/torch-mlp-reference.py`: the standardised 8,000/2,000 split (split seed 0), the seed-0
 * initial weights of `buildModel("mlp", …)` (seed 0) and the seed-0 batch order of `trainClassifier` for each epoch.
 *
 * Files (raw little-endian, so numpy reads them with `fromfile`): train-x.f32 [8000·784], train-y.u8,
 * test-x.f32 [2000·784], test-y.u8, init-<name>.f32 for each parameter (stateDict names, row-major), and
 * order.i32 [epochs·8000], plus manifest.json with every shape.
 *
 * Run: `npx tsx experiments/export-mlp-reference.ts <out-dir> [epochs]` (default epochs 10).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildModel } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";
import { Rng } from "@quant-trim/tensor";

const outDir = process.argv[2];
const epochs = Number(process.argv[3] ?? 10);
if (!outDir || !Number.isInteger(epochs) || epochs < 1) {
  console.error("usage: export-mlp-reference.ts <out-dir> [epochs ≥ 1]");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const bytes = (a: Float32Array | Uint8Array | Uint16Array | Int32Array) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const { train, test } = standardizedSplit(0);
writeFileSync(join(outDir, "train-x.f32"), bytes(train.inputs));
writeFileSync(join(outDir, "train-y.u8"), bytes(train.labels));
writeFileSync(join(outDir, "test-x.f32"), bytes(test.inputs));
writeFileSync(join(outDir, "test-y.u8"), bytes(test.labels));

const params: Record<string, number[]> = {};
for (const [name, t] of Object.entries(
  buildModel("mlp", { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES }).stateDict(),
)) {
  writeFileSync(join(outDir, `init-${name}.f32`), bytes(t.toFloat32Array()));
  params[name] = [...t.shape];
}

// trainClassifier draws one permutation of the training set per epoch from Rng(seed), in this order.
const rng = new Rng(0);
const order = new Int32Array(epochs * train.count);
for (let e = 0; e < epochs; e++) order.set(rng.permutation(train.count), e * train.count);
writeFileSync(join(outDir, "order.i32"), bytes(order));

writeFileSync(
  join(outDir, "manifest.json"),
  `${JSON.stringify({ train: train.count, test: test.count, pixels: 784, epochs, params }, null, 2)}\n`,
);
console.log(`wrote the split, the seed-0 mlp weights and ${epochs} epochs of batch order to ${outDir}`);
