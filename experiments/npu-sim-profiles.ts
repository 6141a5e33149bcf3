/**
 * Every backend profile × the mnist `cnn`, `cnn-bn`, `depthwise-separable` and `residual` models:
 * FP-trained (Adam lr 1e-3, batch 64, seed 0, standardised inputs), each profile calibrating on the
 * first 256 training digits, evaluated on the 2,000 test digits. Per cell: FP accuracy, integer
 * accuracy, top-1 agreement with FP, and — the fake-quant check — the top-1 agreement and max logit
 * difference between the model prepared for QAT on the profile's grids (calibrated with min-max
 * observers on the same 256 digits, λ = 1; for a pair-saturating profile `qatConfigForProfile` also
 * sets `accumulator.int16Pairs`, so fake quantization adds the x86 int16 pair-saturation error) and the
 * program compiled from that QAT model's activation qparams (points QAT lacks, e.g. at a fallback
 * boundary, calibrate on the same digits). Also times compile and integer inference of the 2,000 digits.
 *
 * Run: `npx tsx --conditions=source experiments/npu-sim-profiles.ts [epochs] [cacheDir] [models] [profiles]`
 * (trained weights are cached as .safetensors in cacheDir, default /tmp/quant-trim-npu-sim).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Module, noGrad, Variable } from "@quant-trim/autograd";
import { loadCheckpointInto, saveCheckpoint } from "@quant-trim/autograd/node";
import {
  compareWithFloat,
  compile,
  estimateCost,
  fakeQuantOutputs,
  floatLogits,
  maxAbsDifference,
  profiles,
  qatActivationQParams,
  qatConfigForProfile,
  run,
  top1Agreement,
} from "@quant-trim/npu-sim";
import { MinMaxObserver, prepareQat } from "@quant-trim/quant";
import { buildModel, head, trainClassifier } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";
import * as T from "@quant-trim/tensor";

const epochs = Number(process.argv[2] ?? 3);
const cacheDir = process.argv[3] ?? "/tmp/quant-trim-npu-sim";
const models = (process.argv[4] ?? "cnn,cnn-bn,depthwise-separable,residual").split(",");
const only = process.argv[5]?.split(",");
mkdirSync(cacheDir, { recursive: true });

const { train, test } = standardizedSplit(0);
const calib = head(train, 256);
const shape = [...MNIST_SAMPLE_SHAPE];
const calibX = T.fromData(calib.inputs, [calib.count, ...shape]);
const testX = T.fromData(test.inputs, [test.count, ...shape]);
const pct = (v: number) => `${(100 * v).toFixed(2)}`;

function trained(name: string): Module {
  const model = buildModel(name, { inputShape: shape, classes: MNIST_CLASSES, seed: 0 });
  const path = join(cacheDir, `${name}-e${epochs}.safetensors`);
  if (existsSync(path)) {
    loadCheckpointInto(path, model, name);
    return model;
  }
  const t0 = performance.now();
  trainClassifier(model, train, { epochs, batchSize: 64, lr: 1e-3, seed: 0 });
  console.error(`trained ${name} (${epochs} epochs) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  saveCheckpoint(path, model, { architecture: name, recipe: "fp" } as never);
  return model;
}

console.log(
  "| model | profile | FP acc % | int acc % | top-1 agr. % | FQ↔int top-1 % | FQ↔int max logit diff | compile ms | run 2000 ms |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const name of models) {
  const model = trained(name);
  model.eval();
  const fp = floatLogits(model, testX);
  for (const profile of Object.values(profiles).filter((p) => !only || only.includes(p.name))) {
    let t0 = performance.now();
    const program = compile(model, profile, calibX);
    const compileMs = performance.now() - t0;
    t0 = performance.now();
    run(program, testX);
    const runMs = performance.now() - t0;
    const cmp = compareWithFloat(model, program, testX, {
      labels: test.labels,
      fpLogits: fp,
      sqnrSamples: 32,
    });
    // Fake quantization on the profile's grids, calibrated like the compiler (min-max, 256 digits).
    const qatModel = buildModel(name, { inputShape: shape, classes: MNIST_CLASSES, seed: 0 });
    qatModel.loadStateDict(model.stateDict());
    qatModel.eval();
    const qat = prepareQat(
      qatModel,
      qatConfigForProfile(qatModel, profile, shape, { activationObserver: () => new MinMaxObserver() }),
    );
    qat.setLambda(1);
    qat.calibrate(() => noGrad(() => void qatModel.call(new Variable(calibX))));
    // Static: the program is compiled from the QAT model's qparams. Dynamic: each input's own ranges
    // on both sides (fakeQuantOutputs calibrates per input; the program computes them at run time).
    const fromQat =
      profile.activationScaling === "static"
        ? compile(model, profile, { inputShape: shape, activationQParams: qatActivationQParams(qat) })
        : program;
    const fq = fakeQuantOutputs(qatModel, qat, profile, testX).toFloat32Array();
    const integer = run(fromQat, testX).output.toFloat32Array();
    const agreement = pct(top1Agreement(fq, integer, MNIST_CLASSES));
    const maxDiff = maxAbsDifference(fq, integer).toFixed(4);
    const cost = estimateCost(program);
    console.log(
      `| ${name} | ${profile.name} | ${pct(cmp.fpAccuracy!)} | ${pct(cmp.accuracy!)} | ${pct(cmp.top1Agreement)} | ${agreement} | ${maxDiff} | ${compileMs.toFixed(0)} | ${runMs.toFixed(0)} |`,
    );
    console.error(
      `  ${name}/${profile.name}: worst layer ${cmp.worstLayer?.name} ${cmp.worstLayer?.sqnrDb.toFixed(1)} dB, cosine ${cmp.logitCosine.toFixed(4)}, overflow ${JSON.stringify(cmp.overflow.total)}, latency ${(cost.latencySeconds * 1e6).toFixed(1)} µs (model), warnings ${cmp.warnings.length}`,
    );
  }
}
