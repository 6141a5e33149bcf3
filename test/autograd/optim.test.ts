import { Adam, AdamW, applyLr, cosineLr, type Optimizer, type ParamLike, SGD } from "@quant-trim/autograd";
import { Rng, slice, tensor, transpose } from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

// ---------------------------------------------------------------------------------------------------------
// Helpers and float64 references written straight from the documented update rules (PyTorch's docs for
// torch.optim.SGD / Adam / AdamW), independent of the implementation: plain number arrays, no buffers.

function param(values: readonly number[], shape: readonly number[] = [values.length]): ParamLike {
  return { data: tensor([...values], shape), grad: null };
}

function setGrad(p: ParamLike, values: readonly number[]): void {
  p.grad = tensor([...values], p.data.shape);
}

function valuesOf(p: ParamLike): number[] {
  return p.data.toArray();
}

/** |actual − expected| ≤ atol + rtol·|expected| element-wise; the optimizer stores float32 between steps. */
function expectClose(actual: readonly number[], expected: readonly number[], atol = 1e-6, rtol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (error ${err})`);
    }
  }
}

interface SgdRef {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

function referenceSgd(p0: readonly number[], grads: readonly (readonly number[])[], h: SgdRef): number[] {
  let p = [...p0];
  let b: number[] | null = null;
  for (const raw of grads) {
    const g = raw.map((gi, i) => gi + h.weightDecay * p[i]);
    let d = g;
    if (h.momentum !== 0) {
      const prev: number[] | null = b;
      const next: number[] =
        prev === null ? [...g] : prev.map((bi, i) => h.momentum * bi + (1 - h.dampening) * g[i]);
      b = next;
      d = h.nesterov ? g.map((gi, i) => gi + h.momentum * next[i]) : next;
    }
    p = p.map((pi, i) => pi - h.lr * d[i]);
  }
  return p;
}

interface AdamRef {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
}

function referenceAdam(p0: readonly number[], grads: readonly (readonly number[])[], h: AdamRef): number[] {
  let p = [...p0];
  let m = p0.map(() => 0);
  let v = p0.map(() => 0);
  grads.forEach((raw, step) => {
    const t = step + 1;
    if (h.decoupled) p = p.map((pi) => pi - h.lr * h.weightDecay * pi);
    const g = h.decoupled ? [...raw] : raw.map((gi, i) => gi + h.weightDecay * p[i]);
    m = m.map((mi, i) => h.beta1 * mi + (1 - h.beta1) * g[i]);
    v = v.map((vi, i) => h.beta2 * vi + (1 - h.beta2) * g[i] * g[i]);
    const mHat = m.map((mi) => mi / (1 - h.beta1 ** t));
    const vHat = v.map((vi) => vi / (1 - h.beta2 ** t));
    p = p.map((pi, i) => pi - (h.lr * mHat[i]) / (Math.sqrt(vHat[i]) + h.eps));
  });
  return p;
}

/** Run `steps` steps of `opt` on one parameter, feeding it the given gradients. */
function runSteps(opt: Optimizer, p: ParamLike, grads: readonly (readonly number[])[]): number[] {
  for (const g of grads) {
    setGrad(p, g);
    opt.step();
  }
  return valuesOf(p);
}

// fc.double / fc.float spread samples evenly over exponents (most land near 0), which would hide bugs
// that only show at ordinary magnitudes; these draw evenly over the range instead.
const uniform = (lo: number, hi: number) =>
  fc.integer({ min: 0, max: 1 << 20 }).map((k) => lo + ((hi - lo) * k) / (1 << 20));
const f32 = (lo: number, hi: number) => uniform(lo, hi).map(Math.fround);
/** Mostly ordinary values, sometimes an exact zero (a gradient that vanished, a weight at 0). */
const entry = fc.oneof({ arbitrary: f32(-4, 4), weight: 9 }, { arbitrary: fc.constant(0), weight: 1 });

/** An initial parameter vector and three gradient vectors of the same length (float32 values). */
const problem = fc
  .integer({ min: 1, max: 6 })
  .chain((n) =>
    fc.tuple(
      fc.array(entry, { minLength: n, maxLength: n }),
      fc.array(fc.array(entry, { minLength: n, maxLength: n }), { minLength: 3, maxLength: 3 }),
    ),
  );

// ---------------------------------------------------------------------------------------------------------

describe("SGD", () => {
  it("matches hand-computed momentum and Nesterov steps", () => {
    // p = 1, g = 1 every step, lr 0.1, μ 0.9. Plain momentum: b = 1, 1.9, 2.71 → p = 0.9, 0.71, 0.439.
    // Nesterov steps along g + μ·b = 1.9, 2.71, 3.439 → p = 0.81, 0.539, 0.1951.
    const a = param([1]);
    expectClose(runSteps(new SGD([a], { lr: 0.1, momentum: 0.9 }), a, [[1], [1], [1]]), [0.439]);
    const b = param([1]);
    const nesterov = new SGD([b], { lr: 0.1, momentum: 0.9, nesterov: true });
    expectClose(runSteps(nesterov, b, [[1], [1], [1]]), [0.1951]);
  });

  it("matches the documented update for random hyperparameters over three steps", () => {
    const hyper = fc.record({
      lr: uniform(0, 0.5),
      momentum: fc.oneof(fc.constant(0), uniform(0, 0.99)),
      dampening: fc.oneof(fc.constant(0), uniform(0, 1)),
      weightDecay: fc.oneof(fc.constant(0), uniform(0, 0.1)),
      nesterov: fc.boolean(),
    });
    fc.assert(
      fc.property(problem, hyper, ([p0, grads], h) => {
        const ok = !h.nesterov || (h.momentum > 0 && h.dampening === 0);
        const hh = ok ? h : { ...h, nesterov: false };
        const p = param(p0);
        const got = runSteps(new SGD([p], hh), p, grads);
        expectClose(got, referenceSgd(p0, grads, hh));
      }),
      { numRuns: 150, seed: 11 },
    );
  });

  it("Nesterov and plain momentum take different steps", () => {
    const a = param([0.5, -1]);
    const b = param([0.5, -1]);
    const grads = [
      [1, 2],
      [0.5, -1],
    ];
    const plain = runSteps(new SGD([a], { lr: 0.1, momentum: 0.9 }), a, grads);
    const nesterov = runSteps(new SGD([b], { lr: 0.1, momentum: 0.9, nesterov: true }), b, grads);
    expect(Math.abs(plain[0] - nesterov[0])).toBeGreaterThan(0.05);
    expect(Math.abs(plain[1] - nesterov[1])).toBeGreaterThan(0.05);
  });

  it("weight decay shrinks weights with zero gradient, except those in noDecay", () => {
    const decayed = param([2, -4]);
    const exempt = param([2, -4]);
    const opt = new SGD([decayed, exempt], { lr: 0.1, weightDecay: 0.5, noDecay: [exempt] });
    for (let s = 0; s < 3; s++) {
      setGrad(decayed, [0, 0]);
      setGrad(exempt, [0, 0]);
      opt.step();
    }
    const factor = (1 - 0.1 * 0.5) ** 3;
    expectClose(valuesOf(decayed), [2 * factor, -4 * factor]);
    expect(valuesOf(exempt)).toEqual([2, -4]);
  });
});

describe("Adam and AdamW", () => {
  it("a first Adam step moves each weight by about lr against its gradient's sign", () => {
    // With bias correction, m̂ = g and v̂ = g² after one step, so the step is lr·g/(|g| + ε).
    const p = param([1, 1, 1]);
    setGrad(p, [0.5, -3, 1e-3]);
    new Adam([p], { lr: 0.1 }).step();
    expectClose(valuesOf(p), [0.9, 1.1, 1 - 0.1 * (1e-3 / (1e-3 + 1e-8))]);
  });

  it("match the documented updates for random hyperparameters over three steps", () => {
    const hyper = fc.record({
      lr: uniform(0, 0.3),
      beta1: uniform(0, 0.99),
      beta2: uniform(0, 0.9999),
      eps: fc.constantFrom(1e-8, 1e-6, 1e-3, 0.1),
      weightDecay: fc.oneof(fc.constant(0), uniform(0, 0.2)),
      decoupled: fc.boolean(),
    });
    fc.assert(
      fc.property(problem, hyper, ([p0, grads], h) => {
        const p = param(p0);
        const options = {
          lr: h.lr,
          betas: [h.beta1, h.beta2] as const,
          eps: h.eps,
          weightDecay: h.weightDecay,
        };
        const opt = h.decoupled ? new AdamW([p], options) : new Adam([p], options);
        expectClose(runSteps(opt, p, grads), referenceAdam(p0, grads, h), 2e-6);
      }),
      { numRuns: 150, seed: 12 },
    );
  });

  it("use the documented defaults", () => {
    const p = param([1]);
    expect(new Adam([p]).hyperparameters).toEqual({ betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
    expect(new AdamW([p]).hyperparameters).toEqual({ betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 });
    expect(new Adam([p]).lr).toBe(1e-3);
    expect(new SGD([p]).hyperparameters).toEqual({
      momentum: 0,
      dampening: 0,
      weightDecay: 0,
      nesterov: false,
    });
  });

  it("AdamW decay is decoupled: shrink by (1 − lr·λ), then the same step as AdamW with λ = 0", () => {
    const p0 = [1.5, -2, 0.25];
    const grads = [
      [0.3, -0.1, 2],
      [0.1, 0.4, -1],
      [-0.2, 0.2, 0.5],
    ];
    const lr = 0.05;
    const lambda = 0.3;
    const withDecay = param(p0);
    const noDecay = param(p0);
    const optW = new AdamW([withDecay], { lr, weightDecay: lambda });
    const opt0 = new AdamW([noDecay], { lr, weightDecay: 0 });
    let expected = [...p0];
    for (const g of grads) {
      const before = valuesOf(noDecay);
      runSteps(opt0, noDecay, [g]);
      const update = valuesOf(noDecay).map((x, i) => before[i] - x);
      expected = expected.map((x, i) => x * (1 - lr * lambda) - update[i]);
      runSteps(optW, withDecay, [g]);
      expectClose(valuesOf(withDecay), expected);
    }
  });

  it("Adam's weight decay is an L2 term: the same as λ = 0 fed g + λ·θ", () => {
    const p0 = [1.5, -2, 0.25];
    const grads = [
      [0.3, -0.1, 2],
      [0.1, 0.4, -1],
      [-0.2, 0.2, 0.5],
    ];
    const lambda = 0.3;
    const l2 = param(p0);
    const manual = param(p0);
    const optL2 = new Adam([l2], { lr: 0.05, weightDecay: lambda });
    const optManual = new Adam([manual], { lr: 0.05 });
    for (const g of grads) {
      const theta = valuesOf(manual);
      runSteps(optManual, manual, [g.map((gi, i) => gi + lambda * theta[i])]);
      runSteps(optL2, l2, [g]);
      expectClose(valuesOf(l2), valuesOf(manual), 1e-6, 1e-6);
    }
  });

  it("with zero gradient AdamW shrinks geometrically while Adam's L2 takes normalised steps", () => {
    const lr = 0.01;
    const lambda = 0.1;
    const w = param([2, -3]);
    const a = param([2, -3]);
    const adamW = new AdamW([w], { lr, weightDecay: lambda });
    const adam = new Adam([a], { lr, weightDecay: lambda });
    runSteps(adamW, w, [[0, 0]]);
    runSteps(adam, a, [[0, 0]]);
    // AdamW: m = v = 0, so only the decay acts. Adam: g = λ·θ is normalised by √v̂ to a step of ≈ lr.
    expectClose(valuesOf(w), [2 * (1 - lr * lambda), -3 * (1 - lr * lambda)]);
    expectClose(valuesOf(a), [2 - lr, -3 + lr]);
  });

  it("noDecay exempts a parameter from AdamW's decay", () => {
    const decayed = param([1, -1]);
    const exempt = param([1, -1]);
    const opt = new AdamW([decayed, exempt], { lr: 0.1, weightDecay: 0.5, noDecay: new Set([exempt]) });
    setGrad(decayed, [0, 0]);
    setGrad(exempt, [0, 0]);
    opt.step();
    expectClose(valuesOf(decayed), [0.95, -0.95]);
    expect(valuesOf(exempt)).toEqual([1, -1]);
  });

  it("bias correction counts each parameter's own steps", () => {
    // A parameter that first gets a gradient at step 3 takes a first step (≈ lr), as in PyTorch.
    const early = param([0]);
    const late = param([0]);
    const opt = new Adam([early, late], { lr: 0.1 });
    for (let s = 0; s < 2; s++) {
      setGrad(early, [1]);
      late.grad = null;
      opt.step();
    }
    setGrad(late, [1]);
    opt.step();
    expectClose(valuesOf(late), [-0.1]);
    expect(opt.state().paramSteps).toEqual([3, 1]);
    expect(opt.stepCount).toBe(3);
  });
});

describe("all optimizers", () => {
  const makers: [string, (ps: ParamLike[]) => Optimizer][] = [
    ["SGD", (ps) => new SGD(ps, { lr: 0.1 })],
    ["SGD momentum", (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9 })],
    ["SGD Nesterov", (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true })],
    ["Adam", (ps) => new Adam(ps, { lr: 0.05 })],
    ["AdamW", (ps) => new AdamW(ps, { lr: 0.05, weightDecay: 0 })],
  ];

  // f(x) = ½ Σ a_i (x_i − c_i)², gradient a_i (x_i − c_i): an ill-conditioned bowl with minimum at c.
  const a = [0.5, 1, 2, 4];
  const c = [3, -2, 1, -0.5];
  const loss = (x: readonly number[]) => x.reduce((s, xi, i) => s + 0.5 * a[i] * (xi - c[i]) ** 2, 0);
  const gradient = (x: readonly number[]) => x.map((xi, i) => a[i] * (xi - c[i]));

  for (const [name, make] of makers) {
    it(`${name} minimises a quadratic`, () => {
      const p = param([0, 0, 0, 0]);
      const opt = make([p]);
      const schedule = cosineLr(opt.lr, 400, opt.lr / 100);
      const initial = loss(valuesOf(p));
      for (let s = 0; s < 400; s++) {
        applyLr(opt, schedule, s);
        setGrad(p, gradient(valuesOf(p)));
        opt.step();
      }
      expect(loss(valuesOf(p))).toBeLessThan(initial * 1e-4);
    });
  }

  it("plain SGD with a stable step size decreases the quadratic at every step", () => {
    const p = param([0, 0, 0, 0]);
    const opt = new SGD([p], { lr: 0.1 });
    let previous = loss(valuesOf(p));
    for (let s = 0; s < 50; s++) {
      setGrad(p, gradient(valuesOf(p)));
      opt.step();
      const now = loss(valuesOf(p));
      expect(now).toBeLessThan(previous);
      previous = now;
    }
  });

  for (const [name, make] of makers) {
    it(`${name} leaves parameters with a null grad untouched, buffers included`, () => {
      const trained = param([1, 2]);
      const idle = param([3, -4, 5], [3, 1]);
      const opt = make([trained, idle]);
      setGrad(trained, [0.5, -0.5]);
      opt.step();
      expect(valuesOf(idle)).toEqual([3, -4, 5]);
      expect(Object.keys(opt.stateTensors()).filter((k) => k.endsWith(".1"))).toEqual([]);
      // Once a parameter has state, a step without its gradient leaves both its values and its state.
      const before = valuesOf(trained);
      const stateBefore = Object.fromEntries(
        Object.entries(opt.stateTensors()).map(([k, t]) => [k, t.toArray()]),
      );
      trained.grad = null;
      setGrad(idle, [1, 1, 1]);
      opt.step();
      expect(valuesOf(trained)).toEqual(before);
      for (const [k, v] of Object.entries(stateBefore)) expect(opt.stateTensors()[k].toArray()).toEqual(v);
    });

    it(`${name} updates in place and reuses its buffers across steps`, () => {
      const p = param([1, -2, 3, 0.5], [2, 2]);
      const opt = make([p]);
      const dataArray = p.data.data;
      setGrad(p, [0.1, 0.2, -0.3, 0.4]);
      opt.step();
      const first = opt.stateTensors();
      for (let s = 0; s < 3; s++) {
        setGrad(p, [0.2, -0.1, 0.3, 0.1]);
        opt.step();
      }
      expect(p.data.data).toBe(dataArray);
      const later = opt.stateTensors();
      expect(Object.keys(later).sort()).toEqual(Object.keys(first).sort());
      for (const k of Object.keys(first)) {
        expect(later[k].data).toBe(first[k].data);
        expect(later[k].data).toBeInstanceOf(Float32Array);
        expect(later[k].shape).toEqual([2, 2]);
      }
    });

    it(`${name} reads non-contiguous and offset gradients correctly`, () => {
      const rng = new Rng(5);
      const p0 = Array.from({ length: 6 }, () => rng.normal());
      const g = Array.from({ length: 6 }, () => rng.normal());
      const viaCopy = param(p0, [2, 3]);
      const viaView = param(p0, [2, 3]);
      const optCopy = make([viaCopy]);
      const optView = make([viaView]);
      for (let s = 0; s < 3; s++) {
        // Lay the gradient out transposed, then view it back as [2, 3] through a transpose.
        const gt = [g[0], g[3], g[1], g[4], g[2], g[5]].map((x) => x * (s + 1));
        viaView.grad = transpose(tensor(gt, [3, 2]));
        expect(viaView.grad.isContiguous()).toBe(false);
        viaCopy.grad = viaView.grad.copy();
        optView.step();
        optCopy.step();
      }
      expect(valuesOf(viaView)).toEqual(valuesOf(viaCopy));
      // A contiguous gradient at a non-zero offset inside a larger buffer.
      const offsetGrad = slice(tensor([9, 9, ...g, 9], [9]), [[2, 8]]);
      expect(offsetGrad.offset).toBe(2);
      const flatA = param(p0);
      const flatB = param(p0);
      const optA = make([flatA]);
      const optB = make([flatB]);
      flatA.grad = offsetGrad;
      flatB.grad = tensor(g);
      optA.step();
      optB.step();
      expect(valuesOf(flatA)).toEqual(valuesOf(flatB));
    });

    it(`${name} round-trips its state through JSON and copied tensors`, () => {
      const rng = new Rng(7);
      const p0 = Array.from({ length: 5 }, () => rng.normal());
      const q0 = [0.5, -0.5];
      const grads = Array.from({ length: 5 }, () => Array.from({ length: 5 }, () => rng.normal()));
      const a = param(p0);
      const aq = param(q0);
      const optA = make([a, aq]);
      for (let s = 0; s < 3; s++) {
        setGrad(a, grads[s]);
        optA.step(); // aq never gets a gradient: no state for it
      }
      const saved = JSON.parse(JSON.stringify(optA.state()));
      const savedTensors = Object.fromEntries(
        Object.entries(optA.stateTensors()).map(([k, t]) => [k, t.copy()]),
      );
      const b = param(valuesOf(a));
      const bq = param(q0);
      const optB = make([b, bq]);
      optB.loadState(saved);
      optB.loadStateTensors(savedTensors);
      expect(optB.state()).toEqual(optA.state());
      for (let s = 3; s < 5; s++) {
        setGrad(a, grads[s]);
        setGrad(b, grads[s]);
        optA.step();
        optB.step();
      }
      expect(valuesOf(b)).toEqual(valuesOf(a));
      expect(optB.stepCount).toBe(5);
    });
  }
});

describe("optimizer state errors", () => {
  function trainedAdam(): { opt: Adam; p: ParamLike } {
    const p = param([1, 2, 3]);
    const opt = new Adam([p], { lr: 0.01 });
    setGrad(p, [1, 1, 1]);
    opt.step();
    return { opt, p };
  }

  it("rejects a state for another optimizer or another parameter list, changing nothing", () => {
    const { opt } = trainedAdam();
    const state = opt.state();
    const fresh = new AdamW([param([1, 2, 3])]);
    expect(() => fresh.loadState(state)).toThrow(/AdamW\.loadState: state is for 'Adam'/);
    const twoParams = new Adam([param([1]), param([2])], { lr: 0.5 });
    expect(() => twoParams.loadState(state)).toThrow(/paramSteps must list one count per parameter \(2\)/);
    const bad = { ...state, hyperparameters: { ...state.hyperparameters, betas: [1, 0.999] } };
    const other = new Adam([param([0, 0, 0])], { lr: 0.5 });
    expect(() => other.loadState(bad)).toThrow(/betas\[0\].*\[0, 1\), got 1/);
    expect(() => other.loadState({ ...state, hyperparameters: { eps: 1e-8 } })).toThrow(
      /missing \[betas, weightDecay\]/,
    );
    expect(other.lr).toBe(0.5);
    expect(other.stepCount).toBe(0);
  });

  it("refuses to step between loadState and loadStateTensors", () => {
    const { opt } = trainedAdam();
    const p = param([0, 0, 0]);
    const other = new Adam([p]);
    other.loadState(opt.state());
    setGrad(p, [1, 1, 1]);
    expect(() => other.step()).toThrow(/Adam\.step: .*loadStateTensors/);
  });

  it("checks tensor names and shapes, changing nothing on error", () => {
    const { opt } = trainedAdam();
    const tensors = opt.stateTensors();
    const p = param([0, 0, 0]);
    const other = new Adam([p]);
    other.loadState(opt.state());
    expect(() => other.loadStateTensors({ "exp_avg.0": tensors["exp_avg.0"] })).toThrow(
      /missing \[exp_avg_sq\.0\]/,
    );
    expect(() => other.loadStateTensors({ ...tensors, "exp_avg.7": tensors["exp_avg.0"] })).toThrow(
      /unexpected \[exp_avg\.7\]/,
    );
    expect(() => other.loadStateTensors({ ...tensors, "exp_avg.0": tensor([1, 2], [2]) })).toThrow(
      /'exp_avg\.0' must be a tensor of shape \[3\], got \[2\]/,
    );
    expect(other.stateTensors()).toEqual({});
    other.loadStateTensors(tensors);
    expect(Object.keys(other.stateTensors()).sort()).toEqual(["exp_avg.0", "exp_avg_sq.0"]);
  });
});

describe("optimizer input checks", () => {
  const p = () => param([1, 2]);
  const bad: [string, () => unknown, RegExp][] = [
    ["negative lr", () => new SGD([p()], { lr: -1 }), /SGD: lr must be a finite number >= 0, got -1/],
    ["NaN lr", () => new Adam([p()], { lr: Number.NaN }), /Adam: lr .* got NaN/],
    ["infinite lr", () => new AdamW([p()], { lr: Infinity }), /AdamW: lr .* got Infinity/],
    [
      "negative momentum",
      () => new SGD([p()], { momentum: -0.1 }),
      /SGD: momentum must be .*>= 0, got -0\.1/,
    ],
    ["dampening above 1", () => new SGD([p()], { dampening: 2 }), /SGD: dampening .*\[0, 1\], got 2/],
    ["negative SGD weight decay", () => new SGD([p()], { weightDecay: -1 }), /SGD: weightDecay .* got -1/],
    [
      "Nesterov without momentum",
      () => new SGD([p()], { nesterov: true }),
      /SGD: nesterov requires momentum > 0 and dampening 0, got momentum 0/,
    ],
    [
      "Nesterov with dampening",
      () => new SGD([p()], { nesterov: true, momentum: 0.9, dampening: 0.1 }),
      /nesterov requires .* dampening 0\.1/,
    ],
    [
      "beta1 = 1",
      () => new Adam([p()], { betas: [1, 0.999] }),
      /Adam: betas\[0\] \(beta1\) .*\[0, 1\), got 1/,
    ],
    ["negative beta2", () => new Adam([p()], { betas: [0.9, -0.1] }), /betas\[1\] \(beta2\) .* got -0\.1/],
    [
      "betas not a pair",
      () => new Adam([p()], { betas: [0.9] as unknown as [number, number] }),
      /Adam: betas must be a pair/,
    ],
    ["eps = 0", () => new AdamW([p()], { eps: 0 }), /AdamW: eps must be a finite number > 0, got 0/],
    ["negative Adam weight decay", () => new AdamW([p()], { weightDecay: -0.01 }), /AdamW: weightDecay/],
  ];
  for (const [what, make, message] of bad) {
    it(`rejects ${what}`, () => {
      expect(make).toThrow(message);
    });
  }

  it("rejects a bad lr assigned later, keeping the old one", () => {
    const opt = new SGD([p()], { lr: 0.1 });
    expect(() => {
      opt.lr = Number.NaN;
    }).toThrow(/SGD: lr must be a finite number >= 0, got NaN/);
    expect(opt.lr).toBe(0.1);
  });

  it("rejects duplicate parameters, strangers in noDecay and non-contiguous data", () => {
    const a = p();
    expect(() => new SGD([a, a])).toThrow(/SGD: parameter 1 appears more than once/);
    expect(() => new Adam([a], { noDecay: [p()] })).toThrow(/Adam: a noDecay entry is not one of/);
    const strided: ParamLike = { data: transpose(tensor([1, 2, 3, 4, 5, 6], [2, 3])), grad: null };
    expect(() => new SGD([strided])).toThrow(/SGD: parameter 0 data must be contiguous/);
  });

  it("rejects a gradient of the wrong shape before updating any parameter", () => {
    const good = param([1, 2]);
    const wrong = param([1, 2, 3]);
    const opt = new SGD([good, wrong], { lr: 0.1 });
    setGrad(good, [1, 1]);
    wrong.grad = tensor([1, 1]);
    expect(() => opt.step()).toThrow(
      /SGD\.step: parameter 1 grad shape \[2\] does not match data shape \[3\]/,
    );
    expect(valuesOf(good)).toEqual([1, 2]);
    expect(opt.stepCount).toBe(0);
  });
});

describe("zeroGrad", () => {
  it("zeroes contiguous gradients in place and drops views or, on request, everything", () => {
    const a = param([1, 2]);
    const b = param([1, 2, 3, 4, 5, 6], [2, 3]);
    const c = param([1]);
    const opt = new SGD([a, b, c]);
    setGrad(a, [3, 4]);
    const aGrad = a.grad;
    b.grad = transpose(tensor([1, 2, 3, 4, 5, 6], [3, 2]));
    opt.zeroGrad();
    expect(a.grad).toBe(aGrad);
    expect(a.grad?.toArray()).toEqual([0, 0]);
    expect(b.grad).toBeNull();
    expect(c.grad).toBeNull();
    opt.zeroGrad({ setToNone: true });
    expect(a.grad).toBeNull();
  });

  it("zeroes only the gradient's own window of a shared buffer", () => {
    const a = param([1, 2]);
    const backing = tensor([7, 8, 9, 10]);
    a.grad = slice(backing, [[1, 3]]);
    new SGD([a]).zeroGrad();
    expect(backing.toArray()).toEqual([7, 0, 0, 10]);
  });
});

describe("float64 parameters", () => {
  it("keep float64 moment buffers", () => {
    const p: ParamLike = { data: tensor([1, 2], [2], "float64"), grad: tensor([0.1, 0.2], [2], "float64") };
    const opt = new Adam([p], { lr: 0.1 });
    opt.step();
    expect(opt.stateTensors()["exp_avg.0"].data).toBeInstanceOf(Float64Array);
    // One step is lr·g/(|g| + ε) per weight; float64 storage keeps the ε term visible.
    expectClose(valuesOf(p), [1 - (0.1 * 0.1) / (0.1 + 1e-8), 2 - (0.1 * 0.2) / (0.2 + 1e-8)], 1e-15, 1e-15);
  });
});
