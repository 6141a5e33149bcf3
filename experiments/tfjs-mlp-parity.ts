/**
 * Cross-check of the MNIST training loop against an independent engine: trains the zoo's mlp
 * (784-256-10) with Adam (lr 1e-3, batch 64) for 10 epochs on the same 8,000/2,000 split, from the
 * same initial weights and with the same batch order (standardised inputs, as the CLI uses), once with
 * quant-trim and once with tfjs-core's pure-JS CPU backend, and prints both test accuracies per epoch.
 *
 * Run: `npx tsx experiments/tfjs-mlp-parity.ts [epochs]`.
 */
import { createRequire } from "node:module";
import { Rng } from "@quant-trim/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { batches, buildModel, type Dataset, evaluate, trainClassifier } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";

// tfjs-core registers its gradients through a side-effect module that its ESM build does not expose.
createRequire(import.meta.url)("@tensorflow/tfjs-core/dist/register_all_gradients.js");

const epochs = Number(process.argv[2] ?? 10);
const { train, test } = standardizedSplit(0);

// quant-trim
const ours: number[] = [];
const model = buildModel("mlp", { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES });
trainClassifier(model, train, {
  epochs,
  batchSize: 64,
  lr: 1e-3,
  seed: 0,
  onEpoch: () => ours.push(evaluate(model, test)),
});

// tfjs-core, same initial weights (Linear stores W as [out, in]; tfjs multiplies x·W with W [in, out]).
await tf.setBackend("cpu");
const init = buildModel("mlp", { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES }).stateDict();
const param = (name: string, shape: [number, number] | [number]) => {
  const t = tf.tensor(init[name]!.toFloat32Array(), shape);
  return tf.variable(shape.length === 2 ? tf.transpose(t) : t);
};
const w1 = param("1.weight", [256, 784]);
const b1 = param("1.bias", [256]);
const w2 = param("3.weight", [10, 256]);
const b2 = param("3.bias", [10]);
const forward = (x: tf.Tensor2D) =>
  tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2) as tf.Tensor2D;
const accuracy = (ds: Dataset) =>
  tf.tidy(() => {
    const pred = tf.argMax(forward(tf.tensor2d(ds.inputs, [ds.count, 784])), 1).dataSync();
    let correct = 0;
    for (let i = 0; i < ds.count; i++) if (pred[i] === ds.labels[i]) correct++;
    return correct / ds.count;
  });
const adam = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
const rng = new Rng(0); // the same shuffling stream trainClassifier uses for seed 0
const theirs: number[] = [];
for (let e = 0; e < epochs; e++) {
  for (const b of batches(train, 64, rng)) {
    adam.minimize(() =>
      tf.tidy(() => {
        const x = tf.tensor2d(b.x.toFloat32Array(), [b.size, 784]);
        const y = tf.oneHot(tf.tensor1d(Array.from(b.y, Number), "int32"), 10);
        return tf.losses.softmaxCrossEntropy(y, forward(x)) as tf.Scalar;
      }),
    );
  }
  theirs.push(accuracy(test));
}
console.log(
  JSON.stringify({
    experiment: "tfjs-mlp-parity",
    epochs,
    testAccuracy: { quantTrim: ours, tfjsCpu: theirs },
  }),
);
