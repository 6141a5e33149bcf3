/**
 * Training-step costs on real MNIST batches of 64: an FP32 step (forward, cross-entropy, backward, Adam)
 * for the zoo's mlp and cnn, the same step with INT8 fake quantization on every weight and activation
 * (QAT at λ = 1), and one reverse-pruning projection of every weight, as a fraction of the FP step.
 *
 * Targets: mlp ≥ 1,500 and cnn ≥ 500 training samples/s; a QAT step ≤ 1.3× the FP step; pruning < 5 % of
 * a cnn step. The QAT/FP ratio is measured on alternating blocks of 30 consecutive steps (median of the
 * block-time ratios): a block amortises the garbage collection each variant causes, which single-step
 * pairs would misattribute to the neighbouring step and separate medians would catch unevenly.
 *
 * Run: `npx tsx bench/train.bench.ts`.
 */
import { Adam, type nn, ops, Variable } from "@quant-trim/autograd";
import { ReversePruner } from "@quant-trim/prune";
import { gridSpec, prepareQat } from "@quant-trim/quant";
import { batches, buildModel } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";
import { emit, pairedRatio, round, runSuite } from "./harness.js";

/** Median over `blocks` rounds of t(30 steps of x) / t(30 steps of y), x and y alternating. */
function blockRatio(x: () => unknown, y: () => unknown, blocks = 7, steps = 30): number {
  const time = (f: () => unknown) => {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) f();
    return performance.now() - t0;
  };
  const ratios: number[] = [];
  for (let b = 0; b < blocks; b++) ratios.push(time(x) / time(y));
  ratios.sort((p, q) => p - q);
  return ratios[ratios.length >> 1]!;
}

const { train } = standardizedSplit(0);
const batch = [...batches(train, 64)][0]!;

function stepper(arch: "mlp" | "cnn", qat: boolean): { step: () => number; model: nn.Sequential } {
  const model = buildModel(arch, { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES }) as nn.Sequential;
  if (qat) {
    const q = prepareQat(model, {
      inputShape: [1, 1, 28, 28],
      weight: gridSpec({ bits: 8, signed: true, symmetric: true, granularity: "per-channel" }),
      activation: gridSpec({ bits: 8, signed: true, symmetric: false }),
    });
    q.setLambda(0.5); // observers on, every point blending: the most work a QAT step does
  }
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  const x = new Variable(batch.x);
  return {
    model,
    step: () => {
      opt.zeroGrad();
      const loss = ops.crossEntropy(model.call(x), batch.y);
      loss.backward();
      opt.step();
      return loss.item();
    },
  };
}

const fpMlp = stepper("mlp", false);
const qatMlp = stepper("mlp", true);
const fpCnn = stepper("cnn", false);
const qatCnn = stepper("cnn", true);
const prune = (m: nn.Sequential) => {
  const rp = new ReversePruner(
    m.namedParameters().map(([name, param]) => ({ name, param })),
    { grid: gridSpec({ bits: 4, signed: true, symmetric: true, granularity: "per-channel" }) },
  );
  let s = 0;
  return () => rp.step(s++);
};
const pruneCnn = prune(fpCnn.model);
const pruneMlp = prune(fpMlp.model);

const medians = await runSuite(
  "train",
  [
    { name: "mlp fp step", fn: fpMlp.step },
    { name: "mlp qat int8 step", fn: qatMlp.step },
    { name: "cnn fp step", fn: fpCnn.step },
    { name: "cnn qat int8 step", fn: qatCnn.step },
    { name: "cnn reverse-prune all weights", fn: pruneCnn },
    { name: "mlp reverse-prune all weights", fn: pruneMlp },
  ],
  { minSamples: 20, maxTime: 2, warmupMs: 1500 },
);
const ms = (k: string) => medians[k]! * 1000;
emit("train", {
  medianMs: Object.fromEntries(Object.keys(medians).map((k) => [k, round(ms(k))])),
  samplesPerSecond: {
    mlp: round(64 / medians["mlp fp step"]!),
    cnn: round(64 / medians["cnn fp step"]!),
    mlpQat: round(64 / medians["mlp qat int8 step"]!),
    cnnQat: round(64 / medians["cnn qat int8 step"]!),
  },
  ratios: {
    mlpQatOverFp: round(blockRatio(qatMlp.step, fpMlp.step)),
    cnnQatOverFp: round(blockRatio(qatCnn.step, fpCnn.step)),
    mlpQatOverFpSingleStepPairs: round(pairedRatio(qatMlp.step, fpMlp.step, 30)),
    cnnQatOverFpSingleStepPairs: round(pairedRatio(qatCnn.step, fpCnn.step, 30)),
    cnnPruneOverStep: round(ms("cnn reverse-prune all weights") / ms("cnn fp step")),
    mlpPruneOverStep: round(ms("mlp reverse-prune all weights") / ms("mlp fp step")),
  },
});
