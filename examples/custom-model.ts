/**
 * Quant-Trim on a model and data of your own: a classifier of 16-value sensor readings into four
 * classes, trained once in plain float32 and once with Quant-Trim, then both quantized after training
 * to INT4 weights and INT8 activations (the deployment question: how much accuracy does INT4 cost?).
 *
 *   npx tsx --conditions=source examples/custom-model.ts [checkpoint.safetensors]
 *
 * With a path, the Quant-Trim model is saved there with its recipe, observed ranges and pruning state
 * (read it back with examples/checkpoint-metadata.mjs).
 */
import { nn } from "@quant-trim/autograd";
import { saveCheckpoint } from "@quant-trim/autograd/node";
import { int4SymmetricPerTensor, int8AsymmetricPerTensor } from "@quant-trim/quant";
import {
  type Dataset,
  dataset,
  evaluate,
  head,
  ptqAccuracy,
  quantTrim,
  type RecipeName,
  splitValidation,
  trainClassifier,
  trainingSteps,
} from "@quant-trim/recipes";
import { Rng } from "@quant-trim/tensor";

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const CLASSES = 4;
const FEATURES = 16;

/** Readings: each class has a prototype pattern; a sample is its pattern plus noise and a random gain. */
function readings(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const prototypes = Array.from({ length: CLASSES }, (_, c) =>
    Array.from({ length: FEATURES }, (_, f) => Math.sin((c + 1) * (f + 1) * 0.7)),
  );
  const inputs = new Float32Array(count * FEATURES);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const c = rng.int(CLASSES);
    const gain = rng.uniform(0.5, 2);
    labels[i] = c;
    for (let f = 0; f < FEATURES; f++)
      inputs[i * FEATURES + f] = gain * prototypes[c]![f]! + rng.normal(0, 0.9);
  }
  return dataset(inputs, [FEATURES], labels);
}

/** Your model: any autograd module that maps a batch of samples to [batch, classes] logits. */
function sensorNet(seed: number): nn.Sequential {
  const rng = new Rng(seed);
  return new nn.Sequential(
    new nn.Linear(FEATURES, 64, { rng }),
    new nn.ReLU(),
    new nn.Linear(64, 64, { rng }),
    new nn.ReLU(),
    new nn.Linear(64, CLASSES, { rng }),
  );
}

const { train, validation } = splitValidation(readings(2400, 1), 0.2);
const test = readings(1000, 2);
const epochs = 8;
const batchSize = 32;
const totalSteps = trainingSteps(train.count, batchSize, epochs);
const int4 = { weight: int4SymmetricPerTensor, activation: int8AsymmetricPerTensor };

for (const recipe of ["fp", "quant-trim"] as RecipeName[]) {
  const model = sensorNet(0);
  const run = quantTrim(model, {
    recipe,
    bits: 4,
    granularity: "per-tensor",
    totalSteps,
    inputShape: [1, FEATURES],
    // The first layer has 16·64 = 1024 weights, enough for pFinal 0.99; a smaller one would be reported here.
    onWarning: (message) => console.log(`note: ${message}`),
  });
  const result = trainClassifier(model, train, {
    epochs,
    batchSize,
    lr: 3e-3,
    seed: 0,
    hooks: run,
    validation,
  });
  // The float checkpoint is what gets deployed: take the QAT instrumentation out before quantizing it.
  run.qat?.detach();
  const validated = result.epochs.map((e) => e.validationAccuracy!);
  const float32 = evaluate(model, test);
  const int4Accuracy = ptqAccuracy(model, { grids: int4, calibration: head(train, 256), test });
  console.log(
    `${recipe.padEnd(10)} validation per epoch ${validated.map((a) => (100 * a).toFixed(1)).join(" ")} %; test: float32 ${pct(float32)}, INT4 after training ${pct(int4Accuracy)}`,
  );
  const out = process.argv[2];
  if (out && recipe === "quant-trim") {
    saveCheckpoint(out, model, {
      architecture: "sensor-net",
      recipe: JSON.stringify(run.settings),
      seed: "0",
      activation_ranges: JSON.stringify(run.qat!.observerState()),
      reverse_pruning: JSON.stringify(run.pruner!.state()),
    });
    console.log(`saved ${out}`);
  }
}
