/**
 * fakeQuantizeInto gives the same bits on every tensor backend. The wasm backend takes half-even fake
 * quantization of large arrays in SIMD (see packages/tensor/src/wasm/fake-quant-kernel.ts); every
 * other case, and every case on the js backend, runs quant's own loops. Data mixes in-range values,
 * values far outside the grid, exact ties (k + ½)·s, values that round to −0, NaN, ±Infinity and ±0;
 * shapes include per-channel runs of one element and arrays that span several of the kernel's chunks.
 */
import {
  computeQParams,
  fakeQuantizeInto,
  type GridSpec,
  gridSpec,
  int16NarrowSymmetricPerTensor,
  minMax,
  type QParams,
} from "@quant-trim/quant";
import { Rng, withBackend } from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";
import { allGridCombos, describeSpec } from "./helpers.js";

function data(n: number, seed: number, spread: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  const specials = [Number.NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30];
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    if (u < 0.03) x[i] = specials[rng.int(specials.length)]!;
    else if (u < 0.2)
      x[i] = (rng.int(41) - 20 + 0.5) * spread * 0.05; // near ties at a typical scale
    else x[i] = rng.normal() * spread;
  }
  return x;
}

/** qparams from the data's (finite) range, per channel along axis 1 of [outer, channels, inner]. */
function qparamsFor(x: Float32Array, spec: GridSpec, shape: number[]): QParams {
  const finite = x.map((v) => (Number.isFinite(v) ? v : 0));
  const r = minMax(finite, spec, spec.granularity === "per-channel" ? shape : undefined);
  return computeQParams(r.min, r.max, spec);
}

/** Exact ties for the first channel's scale: x = (k + ½)·s lands exactly halfway between codes. */
function withTies(x: Float32Array, qp: QParams): Float32Array {
  const s = qp.scale[0]!;
  for (let i = 0; i < x.length; i += 7) x[i] = Math.fround((((i / 7) % 9) - 4 + 0.5) * s);
  for (let i = 3; i < x.length; i += 11) x[i] = Math.fround(-0.3 * s); // rounds to a zero code
  return x;
}

function run(spec: GridSpec, shape: number[], seed: number, masked: boolean, inPlace: boolean) {
  const n = shape.reduce((p, d) => p * d, 1);
  const base = data(n, seed, 3);
  const qp = qparamsFor(base, spec, shape);
  withTies(base, qp);
  const once = (backend: "js" | "wasm") =>
    withBackend(backend, () => {
      const x = base.slice();
      const out = inPlace ? x : new Float32Array(n).fill(7);
      const mask = masked ? new Uint8Array(n).fill(9) : undefined;
      fakeQuantizeInto(out, x, qp, spec, spec.granularity === "per-channel" ? shape : undefined, {
        ...(mask ? { mask } : {}),
        ...(spec.rounding === "stochastic" ? { rng: new Rng(seed) } : {}),
      });
      return { out, mask };
    });
  const js = once("js");
  const wasm = once("wasm");
  const label = `${describeSpec(spec)} shape [${shape}]${masked ? " mask" : ""}${inPlace ? " in place" : ""}`;
  for (let i = 0; i < n; i++) {
    const a = js.out[i]!;
    const b = wasm.out[i]!;
    if (!(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)))) {
      throw new Error(`${label}: out[${i}] js ${a} wasm ${b} (x = ${base[i]})`);
    }
  }
  if (masked) expect(Array.from(wasm.mask!), label).toEqual(Array.from(js.mask!));
}

describe("fakeQuantizeInto on every backend", () => {
  const shapes = [
    [3, 5, 400], // per-channel runs of 400
    [1, 2, 9000], // one array across several kernel chunks
    [2500, 2, 1], // per-channel runs of a single element
    [1, 1, 4099], // a vector tail
  ];

  it("half-even grids (the SIMD path): every layout, sign, range and scale convention, mask or not", () => {
    const specs = allGridCombos().filter((s) => s.rounding === "half-even");
    let i = 0;
    for (const spec of specs) {
      const shape = shapes[i % shapes.length]!;
      run(spec, shape, i, i % 2 === 0, i % 3 === 0);
      i++;
    }
    expect(i).toBeGreaterThan(50);
  });

  it("16-bit grids, the widest the SIMD path accepts", () => {
    run(int16NarrowSymmetricPerTensor, [1, 1, 6000], 1, true, false);
    const asym16 = gridSpec({
      bits: 16,
      signed: false,
      symmetric: false,
      granularity: "per-channel",
      axis: 1,
    });
    run(asym16, [2, 3, 2000], 2, true, true);
  });

  it("other rounding modes are untouched: the same loops run on every backend", () => {
    const specs = allGridCombos().filter((s) => s.rounding !== "half-even" && s.bits === 8 && s.signed);
    specs.forEach((spec, i) => {
      run(spec, shapes[i % shapes.length]!, 100 + i, i % 2 === 1, false);
    });
  });
});
