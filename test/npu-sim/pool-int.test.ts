import {
  avgPool2dInt,
  type IntArray,
  maxPool2dInt,
  overflowCounts,
  type PoolIntOptions,
} from "@quant-trim/npu-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

type Make = (values: number[]) => IntArray;
const containers: { name: string; make: Make; min: number; max: number }[] = [
  { name: "int8", make: (v) => Int8Array.from(v), min: -128, max: 127 },
  { name: "uint8", make: (v) => Uint8Array.from(v), min: 0, max: 255 },
  { name: "int16", make: (v) => Int16Array.from(v), min: -32768, max: 32767 },
  { name: "int32", make: (v) => Int32Array.from(v), min: -(2 ** 31), max: 2 ** 31 - 1 },
];

interface Case {
  N: number;
  C: number;
  H: number;
  W: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  pH: number;
  pW: number;
}

/** Windows over in-bounds taps, visited by brute force over the padded grid. */
function referencePool(
  x: IntArray,
  c: Case,
  average: boolean,
  qmin: number,
  qmax: number,
): { out: number[]; wraps: number } {
  const Hout = Math.floor((c.H + 2 * c.pH - c.kH) / c.sH) + 1;
  const Wout = Math.floor((c.W + 2 * c.pW - c.kW) / c.sW) + 1;
  const out: number[] = [];
  let wraps = 0;
  for (let nc = 0; nc < c.N * c.C; nc++) {
    for (let oh = 0; oh < Hout; oh++) {
      for (let ow = 0; ow < Wout; ow++) {
        const taps: number[] = [];
        for (let i = 0; i < c.kH; i++) {
          for (let j = 0; j < c.kW; j++) {
            const h = oh * c.sH - c.pH + i;
            const w = ow * c.sW - c.pW + j;
            if (h >= 0 && h < c.H && w >= 0 && w < c.W) taps.push(x[nc * c.H * c.W + h * c.W + w]!);
          }
        }
        let v: number;
        if (average) {
          let sum = BigInt(taps.reduce((s, t) => s + t, 0));
          const wrapped = BigInt.asIntN(32, sum);
          if (wrapped !== sum) wraps++;
          sum = wrapped;
          const n = BigInt(taps.length);
          const nudged = sum > 0n ? sum + n / 2n : sum - n / 2n;
          if (BigInt.asIntN(32, nudged) !== nudged) {
            v = Number(BigInt.asIntN(32, nudged) / n); // the C++ int32 overflows here too: follow it
          } else {
            // round(sum / n) with ties away from zero: sign · floor((2|sum| + n) / 2n)
            const mag = ((sum < 0n ? -sum : sum) * 2n + n) / (2n * n);
            v = Number(sum < 0n ? -mag : mag);
          }
        } else {
          v = Math.max(...taps);
        }
        out.push(Math.min(Math.max(v, qmin), qmax));
      }
    }
  }
  return { out, wraps };
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    C: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 1, max: 7 }),
    W: fc.integer({ min: 1, max: 7 }),
    kH: fc.integer({ min: 1, max: 4 }),
    kW: fc.integer({ min: 1, max: 4 }),
    sH: fc.integer({ min: 1, max: 3 }),
    sW: fc.integer({ min: 1, max: 3 }),
    pH: fc.integer({ min: 0, max: 3 }),
    pW: fc.integer({ min: 0, max: 3 }),
  })
  .map((c) => ({ ...c, pH: Math.min(c.pH, c.kH - 1), pW: Math.min(c.pW, c.kW - 1) }))
  .filter((c) => c.H + 2 * c.pH >= c.kH && c.W + 2 * c.pW >= c.kW);

describe("integer pooling", () => {
  it("TFLite's average rounds ties away from zero and ignores padding", () => {
    const x = Int8Array.from([1, 2, -1, -2, 5, 6, 1, 0]);
    expect(Array.from(avgPool2dInt(x, [1, 1, 2, 4], { kernel: [1, 2] }).data)).toEqual([2, -2, 6, 1]);
    // 3×3 input, 2×2 windows with padding 1 and stride 2: corner windows average 1, 2 or 4 real taps.
    const y = Int8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const r = avgPool2dInt(y, [1, 1, 3, 3], { kernel: 2, stride: 2, padding: 1 });
    expect(r.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(r.data)).toEqual([1, 3, 6, 7]); // 1, (2+3)/2, (4+7)/2, (5+6+8+9)/4
    expect(Array.from(maxPool2dInt(y, [1, 1, 3, 3], { kernel: 2, stride: 1 }).data)).toEqual([5, 6, 8, 9]);
  });

  for (const average of [false, true]) {
    const name = average ? "avgPool2dInt" : "maxPool2dInt";
    it(`${name} matches the brute-force reference across containers, geometries and clamps`, () => {
      fc.assert(
        fc.property(
          caseArb,
          fc.constantFrom(...containers),
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          fc.boolean(),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (c, box, seed, clamped, lo, hi) => {
            const n = c.N * c.C * c.H * c.W;
            let s = seed;
            const values: number[] = [];
            for (let i = 0; i < n; i++) {
              s = (Math.imul(s, 1103515245) + 12345) >>> 0;
              values.push(box.min + Math.floor((s / 2 ** 32) * (box.max - box.min + 1)));
            }
            const x = box.make(values);
            const span = box.max - box.min;
            const qmin = clamped ? box.min + Math.floor(Math.min(lo, hi) * span) : box.min;
            const qmax = clamped ? box.min + Math.floor(Math.max(lo, hi) * span) : box.max;
            const counts = overflowCounts();
            const options: PoolIntOptions = {
              kernel: [c.kH, c.kW],
              stride: [c.sH, c.sW],
              padding: [c.pH, c.pW],
              overflow: counts,
              ...(clamped ? { clamp: { qmin, qmax } } : {}),
            };
            const got = (average ? avgPool2dInt : maxPool2dInt)(x, [c.N, c.C, c.H, c.W], options);
            const want = referencePool(x, c, average, qmin, qmax);
            expect(got.data.constructor).toBe(x.constructor);
            expect(Array.from(got.data)).toEqual(want.out);
            expect(got.data.length).toBe(got.shape.reduce((p, d) => p * d, 1));
            expect(counts.elements).toBe(got.data.length);
            expect(counts.accumulator).toBe(want.wraps);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it("counts clamps and int32 sums that wrap as the C++ int32 does", () => {
    const counts = overflowCounts();
    const x = Int32Array.from([2 ** 31 - 1, 2 ** 31 - 1, 10, 20]);
    const r = avgPool2dInt(x, [1, 1, 2, 2], { kernel: [1, 2], overflow: counts });
    // 2·(2^31 − 1) wraps to −2; (−2 − 1) / 2 truncates to −1.
    expect(Array.from(r.data)).toEqual([-1, 15]);
    expect(counts).toEqual({ accumulator: 1, int16Pairs: 0, outputClamps: 0, elements: 2 });
    const c2 = overflowCounts();
    maxPool2dInt(Int8Array.from([-5, 3, 9, 100]), [1, 1, 2, 2], {
      kernel: 1,
      clamp: { qmin: 0, qmax: 6 },
      overflow: c2,
    });
    expect(c2.outputClamps).toBe(3);
  });

  it("bad input names the argument", () => {
    const x = new Int8Array(16);
    const shape = [1, 1, 4, 4];
    expect(() => maxPool2dInt(x, [1, 1, 4, 3], { kernel: 2 })).toThrow(
      /maxPool2dInt: shape \[1, 1, 4, 3\] has 12 elements but x has 16/,
    );
    expect(() => maxPool2dInt(x, [16], { kernel: 2 })).toThrow(/shape must be \[N, C, H, W\]/);
    expect(() => avgPool2dInt(x, shape, { kernel: 2, padding: 2 })).toThrow(
      /avgPool2dInt: padding \[2, 2\] must be smaller than the kernel/,
    );
    expect(() => avgPool2dInt(x, shape, { kernel: 5 })).toThrow(
      /kernel \[5, 5\] is larger than the padded input/,
    );
    expect(() => avgPool2dInt(x, shape, { kernel: 0 })).toThrow(/kernel must be integers ≥ 1/);
    expect(() => avgPool2dInt(x, shape, { kernel: 2, stride: [1, 0] })).toThrow(
      /stride must be integers ≥ 1/,
    );
    expect(() => avgPool2dInt(x, shape, { kernel: [2, 2, 2] as unknown as [number, number] })).toThrow(
      /kernel must be a number or a pair/,
    );
    expect(() => avgPool2dInt(x, shape, { kernel: 2, dilation: 2 } as PoolIntOptions)).toThrow(
      /unknown option 'dilation'/,
    );
    expect(() => avgPool2dInt(x, shape, {} as PoolIntOptions)).toThrow(/options.kernel is required/);
    expect(() => avgPool2dInt(x, shape, { kernel: 2, clamp: { qmin: -200, qmax: 0 } })).toThrow(
      /clamp must be integers qmin ≤ qmax inside the container range \[-128, 127\]/,
    );
    expect(() => maxPool2dInt(new Float32Array(16) as unknown as Int8Array, shape, { kernel: 2 })).toThrow(
      /maxPool2dInt: x must be an Int8Array/,
    );
  });
});
