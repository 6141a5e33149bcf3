import {
  addInt,
  addIntMlas,
  fmaF32,
  type IntArray,
  type IntOperand,
  mulInt,
  overflowCounts,
} from "@quant-trim/npu-sim";
import {
  type GridSpec,
  gridSpec,
  int8AsymmetricPerTensor,
  qRange,
  uint8AsymmetricPerTensor,
} from "@quant-trim/quant";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  refFmaF32,
  refMbqmDouble,
  refMbqmSingle,
  refQuantizeMultiplier,
  refRequant,
  refRoundHalfEven,
} from "./reference.js";

const int16Sym = gridSpec({ bits: 16, signed: true, symmetric: true });

interface Grid {
  spec: GridSpec;
  make: (v: number[]) => IntArray;
}
const int8: Grid = { spec: int8AsymmetricPerTensor, make: (v) => Int8Array.from(v) };
const uint8: Grid = { spec: uint8AsymmetricPerTensor, make: (v) => Uint8Array.from(v) };

/** A random operand shape that broadcasts to `out`: leading axes dropped, others set to 1 at random. */
function operandShape(out: number[], drop: number, ones: boolean[]): number[] {
  return out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
}

/** Source index of output element i in an operand of shape `src` (NumPy broadcasting, by unravelling). */
function sourceIndex(out: readonly number[], src: readonly number[], i: number): number {
  const coords: number[] = [];
  let r = i;
  for (let axis = out.length - 1; axis >= 0; axis--) {
    coords[axis] = r % out[axis]!;
    r = Math.floor(r / out[axis]!);
  }
  let index = 0;
  const offset = out.length - src.length;
  for (let axis = 0; axis < src.length; axis++) {
    const c = src[axis] === 1 ? 0 : coords[axis + offset]!;
    index = index * src[axis]! + c;
  }
  return index;
}

function randomCodes(grid: Grid, n: number, seed: number): IntArray {
  const { qmin, qmax } = qRange(grid.spec);
  let s = seed >>> 0;
  const v: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v.push(qmin + (s % (qmax - qmin + 1)));
  }
  return grid.make(v);
}

const scaleArb = fc.double({ min: 1e-3, max: 1, noNaN: true }).map(Math.fround);

/** Two broadcastable operands and an output grid, all 8-bit (int8 or uint8, mixed). */
const binaryCase = fc
  .record({
    out: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
    aGrid: fc.constantFrom(int8, uint8),
    bGrid: fc.constantFrom(int8, uint8),
    oGrid: fc.constantFrom(int8, uint8),
    aDrop: fc.integer({ min: 0, max: 4 }),
    bDrop: fc.integer({ min: 0, max: 4 }),
    aOnes: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    bOnes: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    sa: scaleArb,
    sb: scaleArb,
    so: scaleArb,
    za: fc.double({ min: 0, max: 1, noNaN: true }),
    zb: fc.double({ min: 0, max: 1, noNaN: true }),
    zo: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer(),
    scalarCase: fc.constantFrom("none", "a", "b"),
  })
  .map((c) => {
    const zp = (g: Grid, f: number) => {
      const { qmin, qmax } = qRange(g.spec);
      return qmin + Math.floor(f * (qmax - qmin));
    };
    let aShape = operandShape(c.out, Math.min(c.aDrop, c.out.length), c.aOnes);
    let bShape = operandShape(c.out, Math.min(c.bDrop, c.out.length), c.bOnes);
    if (c.scalarCase === "a") aShape = [];
    if (c.scalarCase === "b") bShape = [1];
    // The output shape is what the operands broadcast to (NumPy: the longer rank, the larger size).
    const rank = Math.max(aShape.length, bShape.length);
    const outShape = Array.from({ length: rank }, (_, axis) => {
      const da = aShape[aShape.length - rank + axis] ?? 1;
      const db = bShape[bShape.length - rank + axis] ?? 1;
      return Math.max(da, db);
    });
    const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
    const a: IntOperand = {
      data: randomCodes(c.aGrid, size(aShape), c.seed),
      shape: aShape,
      scale: c.sa,
      zeroPoint: zp(c.aGrid, c.za),
    };
    const b: IntOperand = {
      data: randomCodes(c.bGrid, size(bShape), c.seed ^ 0x5bd1e995),
      shape: bShape,
      scale: c.sb,
      zeroPoint: zp(c.bGrid, c.zb),
    };
    return { a, b, out: { scale: c.so, zeroPoint: zp(c.oGrid, c.zo), spec: c.oGrid.spec }, outShape };
  });

function elementsOf(a: IntOperand, b: IntOperand, outShape: number[]): [number, number][] {
  const n = outShape.reduce((p, d) => p * d, 1);
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    pairs.push([a.data[sourceIndex(outShape, a.shape, i)]!, b.data[sourceIndex(outShape, b.shape, i)]!]);
  }
  return pairs;
}

/** TFLite ADD written from add.h / add_common.cc with the BigInt fixed-point references. */
function refAddTflite(
  x: number,
  y: number,
  a: IntOperand,
  b: IntOperand,
  out: { scale: number; zeroPoint: number },
  leftShift: number,
  single: boolean,
  qmin: number,
  qmax: number,
): { value: number; clamped: boolean } {
  const mbqm = single ? refMbqmSingle : refMbqmDouble;
  const twiceMax = 2 * Math.max(a.scale, b.scale);
  const ma = refQuantizeMultiplier(a.scale / twiceMax);
  const mb = refQuantizeMultiplier(b.scale / twiceMax);
  const mo = refQuantizeMultiplier(twiceMax / (2 ** leftShift * out.scale));
  const sa = mbqm((x - a.zeroPoint) * 2 ** leftShift, ma.multiplier, ma.shift);
  const sb = mbqm((y - b.zeroPoint) * 2 ** leftShift, mb.multiplier, mb.shift);
  const raw = mbqm(sa + sb, mo.multiplier, mo.shift) + out.zeroPoint;
  return { value: Math.min(Math.max(raw, qmin), qmax), clamped: raw < qmin || raw > qmax };
}

describe("addInt (TFLite ADD)", () => {
  it("a worked example with three roundings", () => {
    // s_a = 0.1, s_b = 0.05 (zp 1), s_out = 0.1: real b = 0.45 → 4.5 output steps, so a + 4.5 lands on
    // ties that TFLite's fixed point rounds up where a float round-half-even would go to even.
    const a: IntOperand = { data: Int8Array.from([1, 2, 3, -4]), shape: [2, 2], scale: 0.1, zeroPoint: 0 };
    const b: IntOperand = { data: Int8Array.from([10]), shape: [1], scale: 0.05, zeroPoint: 1 };
    const out = { scale: 0.1, zeroPoint: 0, spec: int8AsymmetricPerTensor };
    const r = addInt(a, b, out);
    expect(r.shape).toEqual([2, 2]);
    expect(Array.from(r.data)).toEqual([6, 7, 8, 1]);
    expect(Array.from(addIntMlas(a, b, out).data)).toEqual([6, 6, 8, 0]);
  });

  for (const rounding of ["gemmlowp", "single-rounding"] as const) {
    it(`matches the BigInt reference on random 8-bit operands with broadcasting (${rounding})`, () => {
      fc.assert(
        fc.property(binaryCase, fc.boolean(), ({ a, b, out, outShape }, clampIt) => {
          const range = qRange(out.spec);
          const clamp = clampIt ? { qmin: out.zeroPoint, qmax: range.qmax } : undefined; // a ReLU
          const counts = overflowCounts();
          const got = addInt(a, b, out, { rounding, overflow: counts, ...(clamp ? { clamp } : {}) });
          expect(got.shape).toEqual(outShape);
          const { qmin, qmax } = clamp ?? range;
          let clamps = 0;
          const want = elementsOf(a, b, outShape).map(([x, y]) => {
            const r = refAddTflite(x, y, a, b, out, 20, rounding === "single-rounding", qmin, qmax);
            if (r.clamped) clamps++;
            return r.value;
          });
          expect(Array.from(got.data)).toEqual(want);
          expect(counts.outputClamps).toBe(clamps);
          expect(counts.elements).toBe(want.length);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("16-bit outputs use left shift 15 (symmetric int16, as TFLite's 16x8 ADD)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: -32768, max: 32767 }),
        scaleArb,
        scaleArb,
        scaleArb,
        (xs, y, sa, sb, so) => {
          const a: IntOperand = { data: Int16Array.from(xs), shape: [xs.length], scale: sa, zeroPoint: 0 };
          const b: IntOperand = { data: Int16Array.from([y]), shape: [1], scale: sb, zeroPoint: 0 };
          const out = { scale: so, zeroPoint: 0, spec: int16Sym };
          const got = addInt(a, b, out);
          const { qmin, qmax } = qRange(int16Sym);
          expect(Array.from(got.data)).toEqual(
            xs.map((x) => refAddTflite(x, y, a, b, out, 15, false, qmin, qmax).value),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it("bad input names the argument", () => {
    const a: IntOperand = { data: Int8Array.from([1, 2, 3]), shape: [3], scale: 0.1, zeroPoint: 0 };
    const out = { scale: 0.1, zeroPoint: 0, spec: int8AsymmetricPerTensor };
    expect(() => addInt(a, { ...a, shape: [2] }, out)).toThrow(
      /addInt: b.shape \[2\] has 2 elements but b.data has 3/,
    );
    expect(() => addInt(a, { ...a, data: Int8Array.from([1, 2]), shape: [2] }, out)).toThrow(
      /addInt: shapes \[3\] and \[2\] do not broadcast/,
    );
    expect(() => addInt(a, { ...a, zeroPoint: 200 }, out)).toThrow(
      /addInt: b.zeroPoint 200 is outside b's container range/,
    );
    expect(() => addInt(a, { ...a, scale: 0 }, out)).toThrow(/addInt: b.scale must be a finite number > 0/);
    expect(() => addInt(a, { ...a, scale: Number.NaN }, out)).toThrow(/b.scale/);
    expect(() => addInt(a, a, { ...out, zeroPoint: 128 })).toThrow(
      /addInt: out.zeroPoint 128 is outside the grid's range/,
    );
    expect(() => addInt(a, a, { ...out, scale: -1 })).toThrow(/addInt: out.scale/);
    expect(() => addInt(a, a, out, { mode: "gemmlowp" } as never)).toThrow(/addInt: unknown option 'mode'/);
    expect(() => addInt(a, a, out, { clamp: { qmin: -200, qmax: 0 } })).toThrow(
      /addInt: clamp must be integers/,
    );
    expect(() => addInt(a, a, out, { rounding: "float32" as never })).toThrow(/addInt: rounding must be/);
    expect(() => addInt(a, a, out, { leftShift: 31 })).toThrow(
      /addInt: leftShift must be an integer in \[0, 30\]/,
    );
    const wide: IntOperand = { data: Int32Array.from([1]), shape: [1], scale: 0.1, zeroPoint: 0 };
    expect(() => addInt(wide, a, out)).toThrow(
      /addInt: a codes minus zero point 0 reach 2147483648; shifted left by 20/,
    );
    // 16-bit codes shifted by 20 (an 8-bit output's shift) leave int32.
    const asym16: IntOperand = { data: Int16Array.from([1]), shape: [1], scale: 0.1, zeroPoint: 1000 };
    expect(() => addInt(asym16, asym16, out)).toThrow(
      /a codes minus zero point 1000 reach 33768; shifted left by 20/,
    );
    expect(() => addInt(a, a, { ...out, scale: 1e-9 })).toThrow(
      /addInt: output multiplier .* must be below 1/,
    );
    expect(() => addInt({ ...a, data: [1, 2, 3] as unknown as Int8Array }, a, out)).toThrow(
      /addInt: a.data must be/,
    );
  });
});

describe("mulInt (TFLite MUL)", () => {
  for (const mode of ["gemmlowp", "single-rounding", "float32"] as const) {
    it(`matches the reference on random 8-bit operands with broadcasting (${mode})`, () => {
      fc.assert(
        fc.property(binaryCase, ({ a, b, out, outShape }) => {
          const counts = overflowCounts();
          const got = mulInt(a, b, out, { mode, overflow: counts });
          const { qmin, qmax } = qRange(out.spec);
          const real = (a.scale * b.scale) / out.scale;
          let clamps = 0;
          const want = elementsOf(a, b, outShape).map(([x, y]) => {
            const raw = refRequant(mode, (x - a.zeroPoint) * (y - b.zeroPoint), real) + out.zeroPoint;
            if (raw < qmin || raw > qmax) clamps++;
            return Math.min(Math.max(raw, qmin), qmax);
          });
          expect(got.shape).toEqual(outShape);
          expect(Array.from(got.data)).toEqual(want);
          expect(counts.outputClamps).toBe(clamps);
        }),
        { numRuns: 250 },
      );
    });
  }

  it("bad input names the argument", () => {
    const a: IntOperand = { data: Int8Array.from([1, 2]), shape: [2], scale: 0.1, zeroPoint: 0 };
    const out = { scale: 0.1, zeroPoint: 0, spec: int8AsymmetricPerTensor };
    const wide: IntOperand = { data: Int32Array.from([1]), shape: [1], scale: 0.1, zeroPoint: 0 };
    expect(() => mulInt(wide, a, out)).toThrow(
      /mulInt: products of \(a − 0\) and \(b − 0\) reach .* outside int32/,
    );
    expect(() => mulInt(a, a, out, { mode: "power-of-two" })).toThrow(/exact power of two/);
    expect(() => mulInt(a, a, out, { leftShift: 3 } as never)).toThrow(/mulInt: unknown option 'leftShift'/);
    expect(() => mulInt(a, { ...a, zeroPoint: -129 }, out)).toThrow(/mulInt: b.zeroPoint -129/);
  });
});

describe("addIntMlas (onnxruntime QLinearAdd)", () => {
  it("fmaF32 rounds once, including sums that land on a float32 midpoint in double", () => {
    // (2^24 + 1)(1 + 2^−23) − (2^−23 + 2^−46) = 2^24 + 3 − 2^−46: just below the midpoint 2^24 + 3, so
    // the float32 result is 2^24 + 2; the double sum rounds to the midpoint and fround would give 2^24 + 4.
    const x = 2 ** 24 + 1;
    const r = 1 + 2 ** -23;
    const t = -(2 ** -23 + 2 ** -46);
    expect(Math.fround(x * r + t)).toBe(2 ** 24 + 4);
    expect(fmaF32(x, r, t)).toBe(2 ** 24 + 2);
    expect(refFmaF32(x, r, t)).toBe(2 ** 24 + 2);
    expect(fmaF32(x, r, -t)).toBe(refFmaF32(x, r, -t));
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 16), max: 2 ** 16 }),
        fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true }),
        fc.float({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }),
        (xi, ri, ti) => {
          // + 0: the reference has no signed zero; the sign of a zero sum never changes a rounded code.
          expect(fmaF32(xi, ri, ti) + 0).toBe(refFmaF32(xi, ri, ti) + 0);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("the AVX2 kernel: rne(fma(x1, r1, fma(x2, r2, fixed))), a single-valued a passed second", () => {
    fc.assert(
      fc.property(binaryCase, ({ a, b, out, outShape }) => {
        const f = Math.fround;
        const inner = outShape[outShape.length - 1] ?? 1;
        const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
        const aSingle = same
          ? a.data.length === 1
          : a.data.length === 1 || ((a.shape[a.shape.length - 1] ?? 1) === 1 && inner > 1);
        const [p1, p2] = aSingle ? [b, a] : [a, b];
        const r1 = f(p1.scale / out.scale);
        const r2 = f(p2.scale / out.scale);
        const fixed = f(out.zeroPoint - refFmaF32(p1.zeroPoint, r1, f(r2 * p2.zeroPoint)));
        const { qmin, qmax } = qRange(out.spec);
        const want = elementsOf(a, b, outShape).map(([x, y]) => {
          const [x1, x2] = aSingle ? [y, x] : [x, y];
          const c = refFmaF32(x1, r1, refFmaF32(x2, r2, fixed));
          return Math.min(Math.max(refRoundHalfEven(c), qmin), qmax);
        });
        expect(Array.from(addIntMlas(a, b, out).data)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it("the scalar kernel: dequantize, add, divide, clamp, add zp, round half to even (float32)", () => {
    fc.assert(
      fc.property(binaryCase, ({ a, b, out, outShape }) => {
        const f = Math.fround;
        const { qmin, qmax } = qRange(out.spec);
        const want = elementsOf(a, b, outShape).map(([x, y]) => {
          const va = f(f(a.scale) * (x - a.zeroPoint));
          const vb = f(f(b.scale) * (y - b.zeroPoint));
          const vc = Math.min(
            Math.max(f(f(va + vb) / f(out.scale)), qmin - out.zeroPoint),
            qmax - out.zeroPoint,
          );
          return refRoundHalfEven(f(vc + out.zeroPoint));
        });
        const counts = overflowCounts();
        expect(Array.from(addIntMlas(a, b, out, { kernel: "scalar", overflow: counts }).data)).toEqual(want);
        expect(counts.elements).toBe(want.length);
      }),
      { numRuns: 300 },
    );
  });

  it("bad input names the argument", () => {
    const a: IntOperand = { data: Int8Array.from([1, 2]), shape: [2], scale: 0.1, zeroPoint: 0 };
    const out = { scale: 0.1, zeroPoint: 0, spec: int8AsymmetricPerTensor };
    const a16: IntOperand = { data: Int16Array.from([1, 2]), shape: [2], scale: 0.1, zeroPoint: 0 };
    expect(() => addIntMlas(a16, a16, { ...out, spec: int16Sym })).toThrow(
      /addIntMlas: kernel 'avx2-fma' takes 8-bit operands/,
    );
    expect(Array.from(addIntMlas(a16, a16, { ...out, spec: int16Sym }, { kernel: "scalar" }).data)).toEqual([
      2, 4,
    ]);
    expect(() => addIntMlas(a, a, out, { kernel: "neon" as never })).toThrow(/addIntMlas: kernel must be/);
    expect(() => addIntMlas(a, a, out, { clamp: { qmin: 0, qmax: 1 } } as never)).toThrow(
      /addIntMlas: unknown option 'clamp'/,
    );
    expect(() => addIntMlas(a, a, { ...out, zeroPoint: 300 })).toThrow(/addIntMlas: out.zeroPoint 300/);
  });
});
