/**
 * How much of the mlp's test accuracy is the split: trains the zoo's mlp with the reference recipe
 * (Adam lr 1e-3, batch 64, 10 epochs, standardised inputs, initialisation and batch-order seed 0) on the
 * 8,000/2,000 splits drawn with split seeds 0..S−1 and prints each split's test accuracy, then the mean
 * and sample standard deviation. Split seed 0 is the project's fixed split; the others exist only here,
 * to size the split-to-split spread next to the seed-to-seed spread of `quant-trim experiment --seeds`.
 *
 * Run: `npx tsx experiments/mlp-split-variance.ts [splits] [epochs]`.
 */
import { buildModel, evaluate, trainClassifier } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";

const splits = Number(process.argv[2] ?? 5);
const epochs = Number(process.argv[3] ?? 10);
if (!Number.isInteger(splits) || splits < 1 || !Number.isInteger(epochs) || epochs < 1) {
  console.error("usage: mlp-split-variance.ts [splits ≥ 1] [epochs ≥ 1]");
  process.exit(2);
}

const accuracies: number[] = [];
for (let splitSeed = 0; splitSeed < splits; splitSeed++) {
  const { train, test } = standardizedSplit(splitSeed);
  const model = buildModel("mlp", { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES });
  trainClassifier(model, train, { epochs, batchSize: 64, lr: 1e-3, seed: 0 });
  const acc = evaluate(model, test);
  accuracies.push(acc);
  console.log(`split seed ${splitSeed}: ${(100 * acc).toFixed(2)} %`);
}
const mean = accuracies.reduce((a, b) => a + b, 0) / splits;
const sd = splits > 1 ? Math.sqrt(accuracies.reduce((a, b) => a + (b - mean) ** 2, 0) / (splits - 1)) : 0;
console.log(`mean ${(100 * mean).toFixed(2)} % ± ${(100 * sd).toFixed(2)} over ${splits} splits`);
