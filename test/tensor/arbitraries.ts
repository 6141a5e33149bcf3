/**
 * Shared generators and index helpers for the tensor property tests (a plain module, not a test file, so
 * vitest does not collect it). The arbitraries draw in a fixed order, so a property's seed picks the same
 * cases whichever file it runs in.
 */
import { expand, permute, Rng, randn, slice, type Tensor, tensor, transpose } from "@quant-trim/tensor";
import fc from "fast-check";
import { expect } from "vitest";

export type DType = "float32" | "float64";

/** Number of elements of a shape. */
export const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Row-major multi-index of flat position `i` in `shape`. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let ax = shape.length - 1; ax >= 0; ax--) {
    idx[ax] = i % shape[ax]!;
    i = Math.floor(i / shape[ax]!);
  }
  return idx;
}

// ------------------------------------------------------------------------------------------------
// Random tensors with random layouts: contiguous, or a permuted / stepped / reversed / expanded view of
// a larger buffer. Values mix small integers (ties, exact equality), uniform floats and, optionally,
// NaN, ±Infinity and ±0.

export interface Layout {
  plain: boolean;
  perm: number[];
  steps: number[];
  pads: number[];
  expandAxes: boolean[];
  seed: number;
  dtype: DType;
  specials: boolean;
}

const SPECIALS = [Number.NaN, Infinity, -Infinity, 0, -0];

export function sampleValues(n: number, seed: number, specials: boolean): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const u = rng.next();
    if (specials && u < 0.1) return SPECIALS[rng.int(SPECIALS.length)]!;
    if (u < 0.4) return rng.int(7) - 3;
    return rng.uniform(-4, 4);
  });
}

export const arbLayout = (rank: number, specials?: boolean): fc.Arbitrary<Layout> =>
  fc.record({
    plain: fc.integer({ min: 0, max: 3 }).map((x) => x === 0),
    perm: fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank }),
    steps: fc.array(fc.constantFrom(1, 1, 2, -1, -2), { minLength: rank, maxLength: rank }),
    pads: fc.array(fc.nat(2), { minLength: rank, maxLength: rank }),
    expandAxes: fc.array(
      fc.integer({ min: 0, max: 4 }).map((x) => x === 0),
      { minLength: rank, maxLength: rank },
    ),
    seed: fc.nat(),
    dtype: fc.constantFrom<DType>("float32", "float64"),
    specials: specials === undefined ? fc.boolean() : fc.constant(specials),
  });

/** The tensor of `shape` that `lay` describes (checked to come out with that shape). */
export function viewOf(shape: readonly number[], lay: Layout): Tensor {
  if (lay.plain) return tensor(sampleValues(size(shape), lay.seed, lay.specials), shape, lay.dtype);
  const baseDims = shape.map((d, i) => (lay.expandAxes[i] ? 1 : d * Math.abs(lay.steps[i]!) + lay.pads[i]!));
  const physical = lay.perm.map((ax) => baseDims[ax]!);
  const base = tensor(sampleValues(size(physical), lay.seed, lay.specials), physical, lay.dtype);
  const inverse = new Array<number>(shape.length);
  lay.perm.forEach((ax, pos) => {
    inverse[ax] = pos;
  });
  let v = permute(base, inverse);
  v = slice(
    v,
    shape.map((d, i) => {
      if (lay.expandAxes[i]) return null;
      const step = Math.abs(lay.steps[i]!);
      const start = lay.pads[i]!; // the buffer axis holds d·step + pad elements
      return [start, start + d * step, step] as const;
    }),
  );
  v = slice(
    v,
    shape.map((_, i) => (lay.steps[i]! < 0 && !lay.expandAxes[i] ? ([-1, undefined, -1] as const) : null)),
  );
  if (lay.expandAxes.some(Boolean)) v = expand(v, shape);
  expect(v.shape).toEqual(shape);
  return v;
}

const arbDim = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.constant(1) },
  { weight: 8, arbitrary: fc.integer({ min: 2, max: 5 }) },
);

/** Shapes up to `maxRank` axes, sizes 0–5 with size-1 axes common. */
export const arbShape = (maxRank = 4) => fc.array(arbDim, { maxLength: maxRank });

export const arbTensor = (shape: readonly number[], specials?: boolean) =>
  arbLayout(shape.length, specials).map((l) => viewOf(shape, l));

/**
 * A standard-normal input of shape [N, C, H, W] for the convolution and pooling tests: contiguous, or
 * (`transposed`) a view of an [N, C, W, H] buffer with its last two axes swapped, so the kernels also meet
 * a non-contiguous input.
 */
export function randnNCHW(
  shape: readonly [number, number, number, number],
  transposed: boolean,
  rng: Rng,
  dtype: DType,
): Tensor {
  const [N, C, H, W] = shape;
  return transposed
    ? transpose(randn([N, C, W, H], rng, 0, 1, dtype))
    : randn([N, C, H, W], rng, 0, 1, dtype);
}
