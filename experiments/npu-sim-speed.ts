/**
 * Speed of the NPU simulator on the mnist `cnn`: compile (calibrating on 256 training digits) and
 * integer inference of the 2,000 test digits, per profile. Medians of `reps` runs after one warm-up
 * (V8 runs a function ~10× slower until it is optimised). Prints one line per profile, wall-clock and
 * CPU time (user + system of this process, which other processes on a busy machine do not inflate),
 * and the machine's load average.
 *
 * Run: `npx tsx --conditions=source experiments/npu-sim-speed.ts [reps] [profiles]`
 */
import { cpus, loadavg } from "node:os";
import { compile, profileNames, profiles, run } from "@quant-trim/npu-sim";
import { buildModel, head } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE, standardizedSplit } from "@quant-trim/recipes/node";
import * as T from "@quant-trim/tensor";

const reps = Number(process.argv[2] ?? 3);
const names = process.argv[3] ? process.argv[3].split(",") : [...profileNames];
const { train, test } = standardizedSplit(0);
const shape = [...MNIST_SAMPLE_SHAPE];
const calib = head(train, 256);
const calibX = T.fromData(calib.inputs, [calib.count, ...shape]);
const testX = T.fromData(test.inputs, [test.count, ...shape]);
const model = buildModel("cnn", { inputShape: shape, classes: MNIST_CLASSES, seed: 0 });
model.eval();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `${cpus()[0]?.model ?? "cpu"} ×${cpus().length}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
console.log("| profile | compile ms (256 digits) | compile CPU ms | run ms (2,000 digits) | run CPU ms |");
console.log("|---|---|---|---|---|");
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
for (const name of names) {
  const profile = profiles[name]!;
  compile(model, profile, calibX);
  const compileMs: number[] = [];
  const runMs: number[] = [];
  const compileCpu: number[] = [];
  const runCpu: number[] = [];
  let program = compile(model, profile, calibX);
  run(program, testX);
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now();
    let c0 = cpuMs();
    program = compile(model, profile, calibX);
    compileMs.push(performance.now() - t0);
    compileCpu.push(cpuMs() - c0);
    t0 = performance.now();
    c0 = cpuMs();
    run(program, testX);
    runMs.push(performance.now() - t0);
    runCpu.push(cpuMs() - c0);
  }
  const f = (xs: number[]) => median(xs).toFixed(0);
  console.log(`| ${name} | ${f(compileMs)} | ${f(compileCpu)} | ${f(runMs)} | ${f(runCpu)} |`);
}
console.log(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
