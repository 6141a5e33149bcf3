import { nn, ops, type Variable } from "@quant-trim/autograd";
import {
  type BackendProfile,
  compile,
  defineProfile,
  floatValues,
  type IntegerProgram,
  parseProfile,
  profiles,
  run,
} from "@quant-trim/npu-sim";
import { buildModel, zooNames } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { profileViolations, qparamsViolations, stepBoundViolations } from "./conformance-checks.js";

/*
 * The conformance suite: one file, every profile (tfjs-style). Each profile compiles and runs random
 * small models and every zoo model, and each program must (1) respect its profile's own rules, (2) keep
 * every integer step within the error its grid steps allow given its inputs' error, (3) be
 * deterministic and independent of batching. A backend described only as JSON runs the same suite.
 */

/** A backend added as data: nothing in the code knows its name. */
const jsonProfile = parseProfile(
  JSON.stringify({
    ...profiles["tflite-int8"],
    name: "json-npu",
    summary:
      "a user's backend from JSON: uint8 activations, per-tensor weights, single rounding, percentile calibration",
    sources: ["this test"],
    weight: { ...profiles["tflite-int8"]!.weight, granularity: "per-tensor" },
    activation: { ...profiles["ort-cpu-u8s8"]!.activation },
    requant: { mode: "single-rounding" },
    fusedActivations: ["relu"],
    ops: { conv2d: { stride: [1, 1] }, linear: {}, add: {}, "max-pool": {}, reshape: {}, clamp: {} },
    calibration: { method: "percentile", percentile: 99.9 },
  }),
);

const suite: BackendProfile[] = [...Object.values(profiles), jsonProfile];

function randomizeBatchNorm(model: nn.Module, rng: T.Rng): nn.Module {
  for (const [, m] of model.namedModules()) {
    if (m instanceof nn.BatchNorm2d) {
      const c = m.numFeatures;
      T.assign(m.runningMean, T.randn([c], rng, 0, 0.3));
      T.assign(m.runningVar, T.rand([c], rng, 0.3, 2));
      T.assign(m.weight.data, T.rand([c], rng, 0.5, 1.5));
      T.assign(m.bias.data, T.randn([c], rng, 0, 0.2));
    }
  }
  return model;
}

interface BlockSpec {
  kind: "conv" | "depthwise" | "residual" | "max-pool" | "avg-pool" | "tanh";
  out: number;
  kernel: 1 | 3;
  stride: 1 | 2;
  bn: boolean;
  act: "none" | "relu" | "relu6";
}

interface NetSpec {
  channels: number;
  size: number;
  blocks: BlockSpec[];
  hidden: boolean;
  classes: number;
  seed: number;
}

const blockArb: fc.Arbitrary<BlockSpec> = fc.record({
  kind: fc.constantFrom("conv", "depthwise", "residual", "max-pool", "avg-pool", "tanh"),
  out: fc.integer({ min: 2, max: 4 }),
  kernel: fc.constantFrom(1 as const, 3 as const),
  stride: fc.constantFrom(1 as const, 2 as const),
  bn: fc.boolean(),
  act: fc.constantFrom("none" as const, "relu" as const, "relu6" as const),
});

const netArb: fc.Arbitrary<NetSpec> = fc.record({
  channels: fc.integer({ min: 1, max: 3 }),
  size: fc.integer({ min: 5, max: 8 }),
  blocks: fc.array(blockArb, { minLength: 1, maxLength: 4 }),
  hidden: fc.boolean(),
  classes: fc.integer({ min: 2, max: 4 }),
  seed: fc.nat({ max: 1000 }),
});

/** A random small network: convolutions (plain, depthwise, residual via ops.add), pools, a float-only tanh. */
class RandomNet extends nn.Module {
  private readonly steps: ((x: Variable) => Variable)[] = [];
  constructor(spec: NetSpec) {
    super();
    const rng = new T.Rng(spec.seed);
    let c = spec.channels;
    let h = spec.size;
    spec.blocks.forEach((b, i) => {
      const reg = <M extends nn.Module>(name: string, m: M) => this.registerModule(`${name}${i}`, m);
      const tail = (out: number): ((x: Variable) => Variable) => {
        const bn = b.bn ? reg("bn", new nn.BatchNorm2d(out)) : null;
        const act =
          b.act === "relu"
            ? reg("relu", new nn.ReLU())
            : b.act === "relu6"
              ? reg("relufix", new nn.ReLU6())
              : null;
        return (x) => {
          let y = bn ? bn.call(x) : x;
          if (act) y = act.call(y);
          return y;
        };
      };
      if (b.kind === "conv" || b.kind === "depthwise") {
        const depthwise = b.kind === "depthwise" && c > 1;
        const out = depthwise ? c : b.out;
        const stride = h >= 4 ? b.stride : 1;
        const conv = reg(
          "conv",
          new nn.Conv2d(c, out, b.kernel, { padding: b.kernel >> 1, stride, groups: depthwise ? c : 1, rng }),
        );
        const after = tail(out);
        this.steps.push((x) => after(conv.call(x)));
        c = out;
        h = Math.floor((h + 2 * (b.kernel >> 1) - b.kernel) / stride) + 1;
      } else if (b.kind === "residual") {
        const conv = reg("conv", new nn.Conv2d(c, c, 3, { padding: 1, rng }));
        const bn = b.bn ? reg("bn", new nn.BatchNorm2d(c)) : null;
        const relu = b.act !== "none";
        this.steps.push((x) => {
          const y = ops.add(x, bn ? bn.call(conv.call(x)) : conv.call(x));
          return relu ? ops.relu(y) : y;
        });
      } else if ((b.kind === "max-pool" || b.kind === "avg-pool") && h >= 4) {
        const pool = reg(
          "pool",
          b.kind === "max-pool" ? new nn.MaxPool2d({ kernel: 2 }) : new nn.AvgPool2d({ kernel: 2 }),
        );
        this.steps.push((x) => pool.call(x));
        h = Math.floor(h / 2);
      } else if (b.kind === "tanh") {
        this.steps.push((x) => ops.tanh(x));
      }
    });
    const flat = this.registerModule("flatten", new nn.Flatten());
    const features = c * h * h;
    const head: nn.Module[] = spec.hidden
      ? [new nn.Linear(features, 6, { rng }), new nn.ReLU(), new nn.Linear(6, spec.classes, { rng })]
      : [new nn.Linear(features, spec.classes, { rng })];
    const seq = this.registerModule("head", new nn.Sequential(...head));
    this.steps.push((x) => seq.call(flat.call(x)));
    randomizeBatchNorm(this, rng);
  }
  forward(x: Variable): Variable {
    return this.steps.reduce((h, f) => f(h), x);
  }
}

/** Everything the suite asserts about one compiled model on one profile. */
function conforms(profile: BackendProfile, model: nn.Module, shape: number[], rng: T.Rng): void {
  const calib = T.randn([6, ...shape], rng);
  const x = T.randn([5, ...shape], rng);
  const program: IntegerProgram = compile(model, profile, calib);
  expect(profileViolations(program, profile)).toEqual([]);

  const r = run(program, x, { intermediates: true, overflow: true });
  expect(qparamsViolations(program, r.intermediateQParams!)).toEqual([]);
  expect(r.overflow!.reduce((s, c) => s + c.accumulator, 0)).toBe(0);
  // Steps whose u8×s8 pairs saturated (x86) are outside the grid model; every other step is checked.
  const saturated = new Set(r.overflow!.flatMap((c, i) => (c.int16Pairs > 0 ? [i] : [])));
  if (!profile.pairSaturation) expect(saturated.size).toBe(0);
  const fp = floatValues(model, program, x);
  expect(stepBoundViolations(program, fp, r.intermediates!, r.intermediateQParams!, saturated)).toEqual([]);

  // Deterministic, and the same whatever the batching.
  const out = r.output.toFloat32Array();
  expect(run(program, x).output.toFloat32Array()).toEqual(out);
  expect(run(program, x, { chunk: 2 }).output.toFloat32Array()).toEqual(out);
  expect(out.every(Number.isFinite)).toBe(true);

  if (profile.pairSaturation) {
    // Without a saturated pair, the x86 kernel is the exact one, bit for bit.
    const exact = compile(
      model,
      defineProfile({ ...profile, name: `${profile.name}-exact`, pairSaturation: false }),
      calib,
    );
    const same = run(exact, x).output.toFloat32Array();
    if (saturated.size === 0) expect(out).toEqual(same);
  }
}

describe.each(suite.map((p) => [p.name, p] as const))("conformance: %s", (_name, profile) => {
  it("random small models", () => {
    fc.assert(
      fc.property(netArb, (spec) => {
        conforms(
          profile,
          new RandomNet(spec),
          [spec.channels, spec.size, spec.size],
          new T.Rng(spec.seed + 1),
        );
      }),
      { numRuns: 3 },
    );
  });

  it.each(zooNames.map((n) => [n]))("zoo model %s", (name) => {
    const rng = new T.Rng(7);
    const model = randomizeBatchNorm(buildModel(name, { inputShape: [1, 8, 8], classes: 10, seed: 1 }), rng);
    conforms(profile, model, [1, 8, 8], rng);
  });
});
