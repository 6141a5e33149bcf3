import { type NamedParam, pAt, ReversePruner, type TrimSchedule, trimProgress } from "@quant-trim/prune";
import { gridSpec, LambdaSchedule } from "@quant-trim/quant";
import { Rng, randn, type Tensor } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** The fake-quantization clock the pruner shares: the project's default Quant-Trim curriculum. */
function quantTrimLambda(totalSteps: number): LambdaSchedule {
  return new LambdaSchedule({ kind: "quant-trim", totalSteps });
}

/** A small model's parameters: conv, linear, their biases and a BatchNorm, seeded. */
function model(seed = 1): NamedParam[] {
  const rng = new Rng(seed);
  const p = (name: string, shape: number[]): NamedParam => ({
    name,
    param: { data: randn(shape, rng), grad: randn(shape, rng) },
  });
  return [
    p("conv1.weight", [4, 2, 3, 3]),
    p("conv1.bias", [4]),
    p("bn1.weight", [4]),
    p("bn1.bias", [4]),
    p("fc.weight", [5, 36]),
    p("fc.bias", [5]),
  ];
}

const byName = (params: NamedParam[], name: string): Tensor =>
  params.find((p) => p.name === name)!.param.data;

describe("p schedule", () => {
  it("p is 1.0 during the warm-up, falls monotonically and is pFinal once λ reaches 1", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 500 }),
        fc.double({ min: 0.5, max: 0.9999, noNaN: true }),
        (total, pFinal) => {
          const schedule: TrimSchedule = { kind: "lambda", lambda: quantTrimLambda(total) };
          const bad: string[] = [];
          let prev = 1;
          for (let t = 0; t <= total; t++) {
            const p = pAt(schedule, t, pFinal);
            if (t < 0.2 * total && p !== 1) bad.push(`warm-up step ${t}: p = ${p}`);
            if (t >= 0.8 * total && p !== pFinal) bad.push(`step ${t} after λ = 1: p = ${p}`);
            if (p > prev || p < pFinal) bad.push(`step ${t}: p = ${p} after ${prev}`);
            prev = p;
          }
          expect(bad).toEqual([]);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("linear and constant schedules for ablations", () => {
    const lin: TrimSchedule = { kind: "linear", startStep: 10, endStep: 20 };
    expect(pAt(lin, 0, 0.9)).toBe(1);
    expect(pAt(lin, 15, 0.9)).toBeCloseTo(0.95, 12);
    expect(pAt(lin, 20, 0.9)).toBe(0.9);
    expect(pAt(lin, 99, 0.9)).toBe(0.9);
    expect(pAt({ kind: "constant" }, 0, 0.99)).toBe(0.99);
    expect(pAt({ kind: "constant", p: 0.95 }, 0, 0.99)).toBe(0.95);
  });

  it("a λ outside [0, 1] is reported with the step", () => {
    expect(() => trimProgress({ kind: "lambda", lambda: { at: () => 1.5 } }, 7)).toThrow(
      /returned 1.5 at step 7/,
    );
  });
});

describe("ReversePruner", () => {
  it("prunes Linear/Conv weights only, never biases or BatchNorm parameters, and leaves gradients alone", () => {
    const params = model();
    const before = params.map((p) => ({
      w: p.param.data.toFloat32Array(),
      g: p.param.grad!.toFloat32Array(),
    }));
    const rp = new ReversePruner(params, { pFinal: 0.9 });
    expect(rp.layerNames).toEqual(["conv1.weight", "fc.weight"]);
    expect(rp.step(0)).toBe(true);
    params.forEach((p, i) => {
      expect(p.param.grad!.toFloat32Array()).toEqual(before[i]!.g);
      const changed = !p.param.data.toFloat32Array().every((v, j) => Object.is(v, before[i]!.w[j]));
      expect(changed).toBe(p.name.endsWith(".weight") && p.param.data.ndim >= 2);
    });
    const r = rp.report();
    expect(r.lastStep).toBe(0);
    for (const l of r.layers) {
      expect(l.p).toBe(0.9);
      expect(l.thresholds.length).toBe(1);
      const n = l.shape.reduce((a, b) => a * b, 1);
      expect(l.trimmed).toBe(n - Math.ceil(0.9 * n));
      expect(l.fractionTrimmed).toBeCloseTo(l.trimmed / n, 12);
      for (const v of byName(params, l.name).toArray())
        expect(Math.abs(v)).toBeLessThanOrEqual(l.thresholds[0]!);
    }
  });

  it("groups follow the grid: per-channel grids give one threshold per output channel", () => {
    const params = model();
    const perChannel = gridSpec({ bits: 4, granularity: "per-channel", axis: 0 });
    const rp = new ReversePruner(params, { grid: perChannel });
    rp.step(0);
    const [conv, fc_] = rp.report().layers;
    expect(conv!.granularity).toBe("per-channel");
    expect(conv!.thresholds.length).toBe(4);
    expect(fc_!.thresholds.length).toBe(5);
    expect(conv!.p).toBe(0.99); // 4-bit grid → INT4 default
    const perTensor = new ReversePruner(model(), { grid: perChannel, granularity: "per-tensor" });
    perTensor.step(0);
    expect(perTensor.report().layers[0]!.thresholds.length).toBe(1);
    expect(new ReversePruner(model(), { grid: gridSpec({ bits: 8 }) }).pAt(10_000)).toBe(0.999);
    expect(new ReversePruner(model(), {}).pAt(0)).toBe(0.999);
  });

  it("shares the λ clock: no trimming during the FP warm-up, pFinal when λ = 1", () => {
    const params = model();
    const snapshot = byName(params, "fc.weight").toFloat32Array();
    const rp = new ReversePruner(params, { schedule: quantTrimLambda(100), pFinal: 0.9 });
    for (let t = 0; t < 20; t++) rp.step(t);
    expect(byName(params, "fc.weight").toFloat32Array()).toEqual(snapshot);
    expect(rp.report().layers[1]!.trimmedTotal).toBe(0);
    rp.step(80);
    expect(rp.report().layers[1]!.p).toBe(0.9);
    expect(rp.report().layers[1]!.trimmed).toBeGreaterThan(0);
  });

  it("projects only every `every` steps", () => {
    const params = model();
    const rp = new ReversePruner(params, { every: 3, pFinal: 0.5 });
    const snapshot = byName(params, "fc.weight").toFloat32Array();
    expect(rp.step(1)).toBe(false);
    expect(byName(params, "fc.weight").toFloat32Array()).toEqual(snapshot);
    expect(rp.step(3)).toBe(true);
    expect(rp.report().lastStep).toBe(3);
  });

  it("mask mode zeroes the tail instead of clamping it", () => {
    const params = model();
    const rp = new ReversePruner(params, { mode: "mask", pFinal: 0.8 });
    const before = byName(params, "fc.weight").toFloat32Array();
    rp.step(0);
    const tau = rp.report().layers[1]!.thresholds[0]!;
    const after = byName(params, "fc.weight").toFloat32Array();
    before.forEach((v, i) => {
      expect(after[i]).toBe(Math.abs(v) > tau ? 0 : v);
    });
  });

  it("kSigma rule, with its strength following λ", () => {
    const params = model();
    const rp = new ReversePruner(params, {
      rule: { rule: "kSigma", k: 1, robust: true },
      schedule: { kind: "linear", startStep: 0, endStep: 10 },
    });
    const w = byName(params, "fc.weight");
    const max0 = Math.max(...w.toArray().map(Math.abs));
    rp.step(0);
    expect(rp.report().layers[1]!.thresholds[0]).toBe(Math.fround(max0)); // λ = 0: nothing trimmed
    rp.step(10);
    const tau = rp.report().layers[1]!.thresholds[0]!;
    expect(tau).toBeLessThan(max0);
    expect(rp.report().layers[1]!.p).toBeNull();
  });

  it("per-layer overrides by name or glob, later keys winning", () => {
    const rp = new ReversePruner(model(), {
      pFinal: 0.9,
      layers: { "*.weight": { pFinal: 0.8 }, "fc.weight": { granularity: "per-channel", pFinal: 0.7 } },
    });
    expect(rp.pAt(0, "conv1.weight")).toBe(0.8);
    expect(rp.pAt(0, "fc.weight")).toBe(0.7);
    rp.step(0);
    expect(rp.report().layers[1]!.thresholds.length).toBe(5);
  });

  it("accepts [name, param] pairs as Module.namedParameters() yields them", () => {
    const params = model();
    const rp = new ReversePruner(
      params.map((p) => [p.name, p.param] as const),
      { pFinal: 0.9 },
    );
    expect(rp.layerNames).toEqual(["conv1.weight", "fc.weight"]);
    rp.step(0);
    expect(rp.report().layers[1]!.trimmed).toBeGreaterThan(0);
    expect(() => new ReversePruner([["x", null]] as never)).toThrow(/params\[0\] must be/);
  });

  it("include and exclude by name or glob", () => {
    expect(new ReversePruner(model(), { include: ["fc.*"] }).layerNames).toEqual(["fc.weight"]);
    expect(new ReversePruner(model(), { exclude: ["conv?.weight"] }).layerNames).toEqual(["fc.weight"]);
    expect(new ReversePruner(model(), { include: ["*"] }).layerNames).toEqual(["conv1.weight", "fc.weight"]);
  });

  it("state round-trips through JSON and restores the report", () => {
    const a = model(3);
    const rp = new ReversePruner(a, {
      schedule: quantTrimLambda(50),
      grid: gridSpec({ bits: 4, granularity: "per-channel" }),
    });
    for (let t = 0; t <= 30; t++) rp.step(t);
    const json = JSON.stringify(rp.state());
    const restored = new ReversePruner(model(3), {
      schedule: quantTrimLambda(50),
      grid: gridSpec({ bits: 4, granularity: "per-channel" }),
    });
    restored.loadState(json);
    expect(restored.state()).toEqual(rp.state());
    expect(restored.report()).toEqual({ ...rp.report(), layers: restored.report().layers });
    expect(restored.report().layers.map((l) => l.thresholds)).toEqual(
      rp.report().layers.map((l) => l.thresholds),
    );
    expect(JSON.parse(json).layers["fc.weight"].thresholds.length).toBe(5);
  });

  it("rejects a damaged snapshot naming the field, and keeps its own state", () => {
    const rp = new ReversePruner(model(3), { grid: gridSpec({ bits: 4, granularity: "per-channel" }) });
    rp.step(0);
    const good = rp.state();
    const before = JSON.stringify(good);
    const damaged = (edit: (l: Record<string, unknown>) => void) => {
      const s = JSON.parse(before);
      edit(s.layers["fc.weight"]);
      return s;
    };
    const cases: Array<[unknown, RegExp]> = [
      [
        { ...JSON.parse(before), layers: { ...good.layers, "fc.weight": null } },
        /layer 'fc.weight' must be an object, got null/,
      ],
      [
        damaged((l) => {
          l.thresholds = "1,2";
        }),
        /thresholds and trimmed must be arrays/,
      ],
      [
        damaged((l) => {
          (l.thresholds as number[])[0] = null as never;
        }),
        /thresholds\[0\] must be a finite number ≥ 0, got null/,
      ],
      [
        damaged((l) => {
          (l.trimmed as number[])[1] = 2 ** 32 + 3;
        }),
        /trimmed\[1\] must be an integer in \[0, 36\] \(the group size\)/,
      ],
      [
        damaged((l) => {
          (l.trimmed as number[])[2] = 37;
        }),
        /trimmed\[2\]/,
      ],
      [
        damaged((l) => {
          l.trimmedTotal = -1;
        }),
        /trimmedTotal must be an integer ≥ 0, got -1/,
      ],
      [
        damaged((l) => {
          l.thresholds = [1];
        }),
        /needs 5 thresholds and as many trimmed counts \(or none\), got 1 and 5/,
      ],
      [{ ...JSON.parse(before), lastStep: 1e300 }, /lastStep must be null or an integer ≥ 0/],
    ];
    for (const [state, message] of cases) {
      expect(() => rp.loadState(state as never)).toThrow(message);
      expect(JSON.stringify(rp.state())).toBe(before);
    }
  });

  it("rejects bad input with clear messages", () => {
    const m = model();
    expect(() => new ReversePruner(m, { pFinal: 0 })).toThrow(
      /pFinal: p must be a number in \(0, 1\], got 0/,
    );
    expect(() => new ReversePruner(m, { pFinal: 1.01 })).toThrow(/got 1.01/);
    expect(() => new ReversePruner(m, { schedule: { kind: "constant", p: -1 } })).toThrow(
      /p must be a number in \(0, 1\]/,
    );
    expect(() => new ReversePruner(m, { rule: { rule: "kSigma", k: 0 } })).toThrow(
      /k must be a finite number > 0, got 0/,
    );
    expect(() => new ReversePruner(m, { include: ["fc2.weight"] })).toThrow(
      /include 'fc2.weight' matches no parameter; available: conv1.weight, conv1.bias, bn1.weight, bn1.bias, fc.weight, fc.bias/,
    );
    expect(() => new ReversePruner(m, { exclude: ["nope"] })).toThrow(/exclude 'nope' matches no parameter/);
    expect(() => new ReversePruner(m, { include: ["bn1.*"] })).toThrow(/only 1-D parameters.*never pruned/);
    expect(() => new ReversePruner(m, { layers: { "fc.bias": { pFinal: 0.9 } } })).toThrow(
      /matches no pruned parameter/,
    );
    expect(() => new ReversePruner(m, { pfinal: 0.9 } as never)).toThrow(
      /unknown ReversePruner option 'pfinal'/,
    );
    expect(() => new ReversePruner(m, { layers: { "fc.weight": { mode: "mask" } as never } })).toThrow(
      /unknown layers\['fc.weight'\] option 'mode'/,
    );
    expect(() => new ReversePruner(m, { every: 0 })).toThrow(/every must be an integer ≥ 1/);
    expect(() => new ReversePruner(m, { schedule: { kind: "cosine" } as never })).toThrow(
      /unknown schedule kind "cosine"/,
    );
    expect(() => new ReversePruner(m, { grid: gridSpec({ granularity: "per-channel", axis: 1 }) })).toThrow(
      /axis 1/,
    );
    const rp = new ReversePruner(m, {});
    expect(() => rp.step(-1)).toThrow(/step must be an integer ≥ 0, got -1/);
    expect(() => rp.step(1.5)).toThrow(/got 1.5/);
    expect(() => rp.loadState("{")).toThrow(/not valid JSON/);
    expect(() => rp.loadState({ format: "other" } as never)).toThrow(/expected an object with format/);
    const other = new ReversePruner(model(), { include: ["fc.weight"] });
    expect(() => rp.loadState(other.state())).toThrow(
      /state has layers \[fc.weight\], this pruner prunes \[conv1.weight, fc.weight\]/,
    );
    // conv1 comes first and has a tail to trim; a NaN in fc must stop the step before conv1 is written
    const conv = byName(m, "conv1.weight");
    conv.data[0] = 50;
    const convBefore = conv.data.slice();
    const sigma = new ReversePruner(m, { rule: { rule: "kSigma", k: 2 } });
    const reportBefore = JSON.stringify(sigma.report());
    byName(m, "fc.weight").data[3] = Number.NaN;
    expect(() => sigma.step(0)).toThrow(/parameter 'fc.weight'.*NaN or Infinity/);
    expect(conv.data).toEqual(convBefore);
    expect(JSON.stringify(sigma.report())).toBe(reportBefore);
    byName(m, "fc.weight").data[3] = 0;
    expect(sigma.step(0)).toBe(true);
    expect(conv.data[0]).toBeLessThan(50); // the same step trims conv1 once the weights are finite
  });
});
