import { nn, noGrad, ops, Variable } from "@quant-trim/autograd";
import {
  compile,
  defineProfile,
  type IntegerProgram,
  type LinearStep,
  type PlainQParams,
  prepareOutputStage,
  profiles,
  requantizeValue,
  run,
  summarizeProgram,
  weightCode,
} from "@quant-trim/npu-sim";
import { makeQParams, qRange, quantize, roundHalfAway } from "@quant-trim/quant";
import * as T from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

const tflite = profiles["tflite-int8"]!;

function forward(model: nn.Module, x: T.Tensor): Float32Array {
  model.eval();
  return noGrad(() => model.call(new Variable(x))).data.toFloat32Array();
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Conv + BN + ReLU, pool, conv + BN, flatten, linear — with BatchNorm statistics far from identity. */
function convBnNet(rng: T.Rng): nn.Sequential {
  const m = new nn.Sequential(
    new nn.Conv2d(2, 4, 3, { padding: 1, rng }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d({ kernel: 2 }),
    new nn.Conv2d(4, 3, 3, { padding: 1, rng }),
    new nn.BatchNorm2d(3),
    new nn.Flatten(),
    new nn.Linear(3 * 4 * 4, 5, { rng }),
  );
  for (const [, mod] of m.namedModules()) {
    if (mod instanceof nn.BatchNorm2d) {
      const c = mod.numFeatures;
      T.assign(mod.runningMean, T.randn([c], rng, 0, 0.5));
      T.assign(mod.runningVar, T.rand([c], rng, 0.2, 3));
      T.assign(mod.weight.data, T.rand([c], rng, 0.3, 2));
      T.assign(mod.bias.data, T.randn([c], rng, 0, 0.3));
    }
  }
  return m;
}

describe("compile: folding, fusion and the float fallback", () => {
  it("a profile whose accelerator runs nothing reproduces the float model with folded BatchNorm", () => {
    const rng = new T.Rng(11);
    const model = convBnNet(rng);
    const x = T.randn([6, 2, 8, 8], rng);
    const floatOnly = defineProfile({ ...tflite, name: "float-only", ops: {} });
    const program = compile(model, floatOnly, x);
    expect(program.steps.every((s) => s.device === "cpu" && s.op === "float")).toBe(true);
    expect(program.fused).toEqual([
      { name: "2", members: ["0", "1", "2"] },
      { name: "5", members: ["4", "5"] },
    ]);
    expect(maxDiff(run(program, x).output.toFloat32Array(), forward(model, x))).toBeLessThan(2e-5);
  });

  it("integer programs stay within a few output steps of the float model", () => {
    const rng = new T.Rng(12);
    const model = convBnNet(rng);
    const x = T.randn([16, 2, 8, 8], rng);
    const program = compile(model, tflite, x);
    expect(program.steps.map((s) => s.op)).toEqual([
      "quantize",
      "conv2d",
      "max-pool",
      "conv2d",
      "reshape",
      "linear",
      "dequantize",
    ]);
    const outStep = program.values[program.steps[5]!.output]!;
    const step = (outStep.qparams as PlainQParams).scale[0]!;
    const diff = maxDiff(run(program, x).output.toFloat32Array(), forward(model, x));
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(6 * step);
  });
});

describe("compile: a Linear layer lowers to the spec's integer arithmetic", () => {
  it("weights, bias, output stage and codes match a hand computation", () => {
    const rng = new T.Rng(3);
    const model = new nn.Sequential(new nn.Linear(6, 4, { rng }));
    T.assign((model.layers[0] as nn.Linear).bias!.data, T.randn([4], rng));
    const x = T.randn([5, 6], rng);
    const program = compile(model, tflite, x);
    const lin = program.steps.find((s) => s.op === "linear") as LinearStep;
    const inQ = program.values[lin.inputs[0]!]!.qparams as { scale: number[]; zeroPoint: number[] };
    const outQ = program.values[lin.output]!.qparams as { scale: number[]; zeroPoint: number[] };
    const w = (model.layers[0] as nn.Linear).weight.data.toFloat32Array();
    const b = (model.layers[0] as nn.Linear).bias!.data.toFloat32Array();
    const sw = lin.weightQParams.scale;
    for (let o = 0; o < 4; o++) {
      // TFLite: scale = max|w| / 127 per output channel, codes = round half away, narrow range.
      const row = w.subarray(o * 6, o * 6 + 6);
      const absMax = Math.max(...Array.from(row, Math.abs));
      expect(sw[o]).toBeCloseTo(absMax / 127, 9);
      for (let k = 0; k < 6; k++) {
        expect(weightCode(lin.weights, o * 6 + k)).toBe(
          roundHalfAway(Math.fround(row[k]! / Math.fround(sw[o]!))),
        );
      }
      expect(lin.bias[o]).toBe(roundHalfAway(b[o]! / Math.fround(inQ.scale[0]! * sw[o]!)));
      expect(lin.outputStage!.effectiveScale[o]).toBeCloseTo((inQ.scale[0]! * sw[o]!) / outQ.scale[0]!, 12);
    }
    expect(lin.outputStage!.mode).toBe("gemmlowp");
    expect([lin.outputStage!.qmin, lin.outputStage!.qmax]).toEqual([-128, 127]);
    // Codes: quantize the input, accumulate exactly, requantize with the stage.
    const xq = quantize(x.toFloat32Array(), makeQParams(inQ.scale, inQ.zeroPoint), tflite.activation);
    const stage = prepareOutputStage(lin.outputStage!);
    const inter = run(program, x, { intermediates: true }).intermediates!;
    const got = inter[lin.output]!.toFloat32Array();
    for (let r = 0; r < 5; r++) {
      for (let o = 0; o < 4; o++) {
        let acc = lin.bias[o]!;
        for (let k = 0; k < 6; k++)
          acc += (xq[r * 6 + k]! - inQ.zeroPoint[0]!) * weightCode(lin.weights, o * 6 + k);
        const code = requantizeValue(acc, stage, o);
        expect(got[r * 4 + o]).toBe(Math.fround((code - outQ.zeroPoint[0]!) * outQ.scale[0]!));
      }
    }
  });

  it("flags a bias that needs more bits than the profile allows, and saturates it", () => {
    const rng = new T.Rng(4);
    const model = new nn.Sequential(new nn.Linear(3, 2, { rng }));
    T.assign((model.layers[0] as nn.Linear).bias!.data, T.tensor([3e6, -1]));
    const x = T.rand([4, 3], rng, -1e-3, 1e-3);
    const program = compile(model, tflite, x);
    expect(
      program.warnings.some((w) =>
        /'0' bias channel 0 needs \d+ bits .* the profile allows 32: saturated/.test(w),
      ),
    ).toBe(true);
    const lin = program.steps.find((s) => s.op === "linear") as LinearStep;
    expect(lin.bias[0]).toBe(2147483647);
    const ethos = compile(model, profiles["ethos-u"]!, x);
    expect(ethos.warnings.some((w) => /allows 40 and the simulator stores int32: saturated/.test(w))).toBe(
      true,
    );
  });
});

describe("compile: placement, constraints and partitioning", () => {
  class ConvTanhConv extends nn.Module {
    readonly a: nn.Conv2d;
    readonly b: nn.Conv2d;
    constructor(rng: T.Rng, stride = 1) {
      super();
      this.a = this.registerModule("a", new nn.Conv2d(1, 2, 3, { padding: 1, rng }));
      this.b = this.registerModule("b", new nn.Conv2d(2, 2, 5, { padding: 2, stride, rng }));
    }
    forward(x: Variable): Variable {
      return this.b.call(ops.tanh(this.a.call(x)));
    }
  }

  it("any-partitioning returns to the accelerator after a fallback; single-cut (edgetpu) does not", () => {
    const rng = new T.Rng(5);
    const model = new ConvTanhConv(rng);
    const x = T.randn([3, 1, 10, 10], rng);
    const any = compile(model, tflite, x);
    expect(any.steps.map((s) => `${s.device}:${s.op}`)).toEqual([
      "npu:quantize",
      "npu:conv2d",
      "cpu:dequantize",
      "cpu:float",
      "npu:quantize",
      "npu:conv2d",
      "npu:dequantize",
    ]);
    expect(any.partitions.map((p) => p.device)).toEqual(["npu", "cpu", "npu"]);
    expect(any.warnings).toEqual([
      "'tanh#0' runs on the CPU in float32: tanh has no integer kernel in this simulator",
    ]);
    const cut = compile(model, profiles.edgetpu!, x);
    expect(cut.partitions.map((p) => p.device)).toEqual(["npu", "cpu"]);
    expect(cut.warnings[1]).toMatch(/'b' runs on the CPU .*single-cut partitioning: it follows 'tanh#0'/);
    // Both still compute the model.
    for (const p of [any, cut])
      expect(maxDiff(run(p, x).output.toFloat32Array(), forward(model, x))).toBeLessThan(0.1);
  });

  it("an op outside the profile's limits falls back with the limit named; Ethos-U linear weights are per-tensor", () => {
    const rng = new T.Rng(6);
    const x = T.randn([2, 1, 12, 12], rng);
    const ethos = compile(new ConvTanhConv(rng, 5), profiles["ethos-u"]!, x);
    expect(ethos.steps.find((s) => s.name === "b")!.device).toBe("cpu");
    expect(ethos.warnings).toContain(
      "'b' runs on the CPU in float32: conv2d stride [5, 5] is outside the supported range 1..4",
    );
    const mlp = new nn.Sequential(new nn.Flatten(), new nn.Linear(144, 3, { rng }));
    const lin = compile(mlp, profiles["ethos-u"]!, x).steps.find((s) => s.op === "linear") as LinearStep;
    expect(lin.weightGrid.granularity).toBe("per-tensor");
    expect(lin.weightQParams.scale).toHaveLength(1);
  });

  it("a profile without fallback refuses to compile what its accelerator cannot run", () => {
    const rng = new T.Rng(7);
    const strict = defineProfile({ ...tflite, name: "strict", fallback: "error" });
    expect(() => compile(new ConvTanhConv(rng), strict, T.randn([2, 1, 6, 6], rng))).toThrow(
      /compile: 'tanh#0' cannot run on 'strict' and the profile has no fallback: tanh has no integer kernel/,
    );
  });
});

describe("compile: functional ops are compiled, not skipped", () => {
  class FunctionalResidual extends nn.Module {
    readonly conv: nn.Conv2d;
    readonly fc: nn.Linear;
    constructor(rng: T.Rng) {
      super();
      this.conv = this.registerModule("conv", new nn.Conv2d(2, 2, 3, { padding: 1, rng }));
      this.fc = this.registerModule("fc", new nn.Linear(2 * 6 * 6, 3, { rng }));
    }
    forward(x: Variable): Variable {
      return this.fc.call(ops.flatten(ops.relu(ops.add(x, this.conv.call(x)))));
    }
  }

  it("a residual written with ops.add and ops.relu becomes an integer add with the ReLU fused", () => {
    const rng = new T.Rng(8);
    const model = new FunctionalResidual(rng);
    const x = T.randn([8, 2, 6, 6], rng);
    const program = compile(model, tflite, x);
    const add = program.steps.find((s) => s.op === "add")!;
    expect(add.name).toBe("relu#0");
    expect(add.device).toBe("npu");
    expect(program.fused).toContainEqual({ name: "relu#0", members: ["add#0", "relu#0"] });
    expect(program.values[add.output]!.point).toBe("relu#0.output");
    const fp = forward(model, x);
    expect(maxDiff(run(program, x).output.toFloat32Array(), fp)).toBeLessThan(
      0.05 * Math.max(...Array.from(fp, Math.abs)),
    );
  });

  it("a functional op with neither an integer kernel nor a float fallback is refused by name", () => {
    class Sliced extends nn.Module {
      forward(x: Variable): Variable {
        return ops.slice(x, [null, [0, 1]]);
      }
    }
    expect(() => compile(new Sliced(), tflite, T.zeros([2, 4]))).toThrow(
      /compile: op 'slice#0' has no integer kernel and no float fallback; supported functional ops: add, /,
    );
  });
});

describe("compile: calibration inputs", () => {
  const rng = new T.Rng(9);
  const model = new nn.Sequential(new nn.Linear(4, 3, { rng }), new nn.ReLU(), new nn.Linear(3, 2, { rng }));
  const x = T.randn([10, 4], rng);

  it("uses given activation qparams by point name and calibrates the rest", () => {
    const program = compile(model, tflite, {
      batch: x,
      activationQParams: { input: { scale: [0.05], zeroPoint: [3] } },
    });
    const input = Object.values(program.values).find((v) => v.point === "input")!;
    expect(input.qparams).toEqual({ scale: [Math.fround(0.05)], zeroPoint: [3] });
    expect(Object.values(program.values).some((v) => v.point === "1.output")).toBe(true);
    expect(() =>
      compile(model, tflite, {
        inputShape: [4],
        activationQParams: { input: { scale: [0.05], zeroPoint: [3] } },
      }),
    ).toThrow(/compile: no calibration batch and no activationQParams for '1.output', '2.output'/);
    expect(() =>
      compile(model, tflite, { batch: x, activationQParams: { input: { scale: [0.05], zeroPoint: [300] } } }),
    ).toThrow(/activationQParams\['input'\].*zeroPoint\[0\] = 300 is outside/);
  });

  it("refuses bad calibration arguments, naming them", () => {
    expect(() => compile(model, tflite, { batch: x, chunks: 3 } as never)).toThrow(
      /unknown calibration option 'chunks'/,
    );
    expect(() => compile(model, tflite, {})).toThrow(/calibration needs a batch or an inputShape/);
    expect(() => compile(model, tflite, { batch: x, inputShape: [5] })).toThrow(
      /inputShape \[5\] does not match/,
    );
    expect(() => compile({} as never, tflite, x)).toThrow(/compile: model must be an nn.Module/);
    expect(() => compile(model, { ...tflite, requant: { mode: "fast" } } as never, x)).toThrow(
      /requant\.mode must be one of/,
    );
  });
});

describe("run", () => {
  const rng = new T.Rng(10);
  const model = convBnNet(rng);
  const x = T.randn([7, 2, 8, 8], rng);
  const program = compile(model, tflite, x);

  it("is deterministic, independent of the chunk size, and works on a structured clone", () => {
    const a = run(program, x).output.toFloat32Array();
    expect(run(program, x).output.toFloat32Array()).toEqual(a);
    expect(run(program, x, { chunk: 2 }).output.toFloat32Array()).toEqual(a);
    const clone: IntegerProgram = structuredClone(program);
    expect(run(clone, x).output.toFloat32Array()).toEqual(a);
  });

  it("dynamic scaling ranges every input on its own", () => {
    const dyn = compile(model, profiles["ort-cpu-dynamic-u8s8"]!, { inputShape: [2, 8, 8] });
    const small = T.randn([1, 2, 8, 8], rng, 0, 0.01);
    const big = T.randn([1, 2, 8, 8], rng, 0, 100);
    const both = T.concat([small, big], 0);
    const together = run(dyn, both).output.toFloat32Array();
    expect(together.subarray(0, 5)).toEqual(run(dyn, small).output.toFloat32Array());
    expect(together.subarray(5)).toEqual(run(dyn, big).output.toFloat32Array());
    const fpSmall = forward(model, small);
    const scale = Math.max(...Array.from(fpSmall, Math.abs));
    expect(maxDiff(together.subarray(0, 5), fpSmall)).toBeLessThan(0.05 * scale + 1e-3);
  });

  it("returns intermediates and per-step overflow counts on request", () => {
    const r = run(program, x, { intermediates: true, overflow: true });
    expect(Object.keys(r.intermediates!).sort()).toEqual(Object.keys(program.values).sort());
    expect(r.overflow).toHaveLength(program.steps.length);
    expect(r.overflow!.every((c) => c.accumulator === 0 && c.int16Pairs === 0)).toBe(true);
    expect(r.intermediates![program.output]!.toFloat32Array()).toEqual(r.output.toFloat32Array());
  });

  it("refuses bad input, naming the argument", () => {
    expect(() => run(program, T.zeros([2, 2, 8, 9]))).toThrow(
      /run: input has shape \[2, 2, 8, 9\] but the program takes \[N, 2, 8, 8\]/,
    );
    expect(() => run(program, x, { chunks: 2 } as never)).toThrow(/run: unknown option 'chunks'/);
    expect(() => run({} as never, x)).toThrow(/run: program must be an IntegerProgram/);
    expect(() => run(program, x, { chunk: 0 })).toThrow(/options.chunk must be a positive integer/);
  });

  it("prints a summary with every step, the partitions and the fusions", () => {
    const text = summarizeProgram(program);
    expect(text).toMatch(/integer program for 'tflite-int8'/);
    expect(text).toMatch(/conv2d\+relu\s+2\s+4×8×8\s+w int8\/ch × a int8→int8\s+s=\S+ zp=-?\d+ ← 2\.output/);
    expect(text).toMatch(/partitions: {2}npu 0–6/);
    expect(text).toMatch(/fused: {7}2 ← 0 \+ 1 \+ 2/);
    expect(text).toMatch(/warnings: {4}none/);
    expect(qRange(tflite.activation)).toEqual({ qmin: -128, qmax: 127 });
  });
});
