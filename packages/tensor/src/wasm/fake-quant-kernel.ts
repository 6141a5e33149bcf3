/**
 * WebAssembly code for the half-even fake quantization of `@quant-trim/quant`'s grid (the glue is
 * `fake-quant.ts`; the rule, its validation and the choice of when to use this kernel stay in quant):
 *
 *   v = fp32(x / s)  or  fp32(x · fp32(1/s));   r = rne(v);   mask = lo ≤ r ≤ hi;
 *   r = clamp(r, lo, hi);   x̂ = fp32(r · s),     with lo = qmin − zp, hi = qmax − zp.
 *
 * Bit-exact with quant's JavaScript loop, for grids of at most 16 bits (the glue's condition):
 * - a float32 division or product is correctly rounded in both;
 * - `f32x4.nearest` is round-half-even like quant's 1.5·2^52 trick, except that it keeps the sign of a
 *   zero result (−0.3 → −0) where the trick gives +0, hence the `+ 0` after it (−0 + 0 = +0);
 * - the clamp is `pmax`/`pmin`, which are defined by the same comparisons as quant's
 *   `r < lo ? lo : r` and `r > hi ? hi : r`, so NaN passes through unclamped as it does there;
 * - |r| ≤ 2^17 and s has 24 bits, so r·s is exact in float64 and one float32 rounding in both.
 *
 * One call covers elements [start, end) of a row-major array with layout (outer, channels, inner): the
 * element at global position i belongs to channel ⌊i / inner⌋ mod channels. Each channel segment runs
 * 16 elements per step (four v128), which is also the width at which the in-range mask narrows to bytes.
 */
import type { FunctionBuilder, Local, WasmModuleBuilder } from "./assembler.js";

export const FAKE_QUANT_RNE = "fake_quant_rne";

export interface FakeQuantExports {
  /**
   * x, out (float32) and mask (bytes, or 0 for none) hold elements [start, end); scales (float32) and
   * zps (int32) one entry per channel. `divide` 1: x / s, 0: x · fp32(1/s).
   */
  [FAKE_QUANT_RNE]: (
    x: number,
    out: number,
    mask: number,
    start: number,
    end: number,
    channels: number,
    inner: number,
    scales: number,
    zps: number,
    qmin: number,
    qmax: number,
    divide: number,
  ) => void;
}

export function emitFakeQuant(m: WasmModuleBuilder): void {
  m.addFunction(
    FAKE_QUANT_RNE,
    ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    [],
    (f, x, out, mask, start, end, channels, inner, scales, zps, qmin, qmax, divide) => {
      const pos = f.local("i32");
      const seg = f.local("i32");
      const c = f.local("i32");
      const segEnd = f.local("i32");
      const i = f.local("i32");
      const vecEnd = f.local("i32");
      const zp = f.local("i32");
      const s = f.local("f32");
      const inv = f.local("f32");
      const lo = f.local("f32");
      const hi = f.local("f32");
      const sv = f.local("v128");
      const fv = f.local("v128");
      const lov = f.local("v128");
      const hiv = f.local("v128");
      const zero = f.local("v128");
      const one = f.local("v128");
      const r = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
      const ms = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
      const rs = f.local("f32");
      const xs = f.local("f32");

      f.i32x4Const([0, 0, 0, 0]).set(zero);
      f.i32x4Const([0x01010101, 0x01010101, 0x01010101, 0x01010101]).set(one);
      f.get(start).set(pos);
      f.block((done) => {
        f.loop((next) => {
          f.get(pos).get(end).i32("ge_s").brIf(done);
          f.get(pos).get(inner).i32("div_u").set(seg);
          f.get(seg).get(channels).i32("rem_u").set(c);
          f.get(seg).i32Const(1).i32("add").get(inner).i32("mul").set(segEnd);
          f.get(segEnd).get(end).get(segEnd).get(end).i32("lt_s").select().set(segEnd);
          f.get(scales).get(c).i32Const(2).i32("shl").i32("add").mem("f32_load").set(s);
          f.get(zps).get(c).i32Const(2).i32("shl").i32("add").mem("i32_load").set(zp);
          f.f32Const(1).get(s).f32("div").set(inv);
          f.get(qmin).get(zp).i32("sub").f32("convert_i32_s").set(lo);
          f.get(qmax).get(zp).i32("sub").f32("convert_i32_s").set(hi);
          f.get(divide).ifElse(
            () => f.get(s).simd("f32x4_splat").set(fv),
            () => f.get(inv).simd("f32x4_splat").set(fv),
          );
          f.get(s).simd("f32x4_splat").set(sv);
          f.get(lo).simd("f32x4_splat").set(lov);
          f.get(hi).simd("f32x4_splat").set(hiv);
          f.get(pos).set(i);
          f.get(segEnd).i32Const(15).i32("sub").set(vecEnd);
          // Four branches of one loop body (divide × mask), so that no test runs per element.
          f.get(divide).ifElse(
            () =>
              f.get(mask).ifElse(
                () => vectorLoop(f, true, true),
                () => vectorLoop(f, true, false),
              ),
            () =>
              f.get(mask).ifElse(
                () => vectorLoop(f, false, true),
                () => vectorLoop(f, false, false),
              ),
          );
          f.forUp(i, segEnd, 1, () => scalarStep(f));
          f.get(segEnd).set(pos);
          f.br(next);
        });
      });

      /** Byte address of element i's slot in a buffer of `width` bytes per element starting at `start`. */
      function addr(base: Local, width: number, offset = 0): void {
        f.get(i).get(start).i32("sub");
        if (width !== 1) f.i32Const(width === 4 ? 2 : 0).i32("shl");
        f.get(base).i32("add");
        if (offset !== 0) f.i32Const(offset).i32("add");
      }

      function vectorLoop(fb: FunctionBuilder, byDivision: boolean, withMask: boolean): void {
        fb.forUp(i, vecEnd, 16, () => {
          for (let q = 0; q < 4; q++) {
            addr(x, 4);
            fb.simdMem("v128_load", 16 * q)
              .get(fv)
              .simd(byDivision ? "f32x4_div" : "f32x4_mul")
              .simd("f32x4_nearest")
              .get(zero)
              .simd("f32x4_add")
              .set(r[q]!);
            if (withMask) {
              fb.get(r[q]!).get(lov).simd("f32x4_ge").get(r[q]!).get(hiv).simd("f32x4_le").simd("v128_and");
              fb.set(ms[q]!);
            }
            addr(out, 4);
            fb.get(r[q]!).get(lov).simd("f32x4_pmax").get(hiv).simd("f32x4_pmin").get(sv).simd("f32x4_mul");
            fb.simdMem("v128_store", 16 * q);
          }
          if (withMask) {
            // Four i32x4 masks (−1 / 0) → sixteen bytes, then 0xff → 1.
            addr(mask, 1);
            fb.get(ms[0]!).get(ms[1]!).simd("i16x8_narrow_i32x4_s");
            fb.get(ms[2]!).get(ms[3]!).simd("i16x8_narrow_i32x4_s");
            fb.simd("i8x16_narrow_i16x8_s").get(one).simd("v128_and").simdMem("v128_store");
          }
        });
      }

      function scalarStep(fb: FunctionBuilder): void {
        addr(x, 4);
        fb.mem("f32_load").set(xs);
        fb.get(divide).ifElse(
          () => fb.get(xs).get(s).f32("div"),
          () => fb.get(xs).get(inv).f32("mul"),
          "f32",
        );
        fb.f32("nearest").f32Const(0).f32("add").set(rs);
        fb.get(mask).ifElse(() => {
          addr(mask, 1);
          fb.get(rs).get(lo).f32("ge").get(rs).get(hi).f32("le").i32("and").mem("i32_store8");
        });
        // pmax / pmin by their definitions: r < lo ? lo : r, then hi < r ? hi : r.
        fb.get(lo).get(rs).get(rs).get(lo).f32("lt").select().set(rs);
        fb.get(hi).get(rs).get(hi).get(rs).f32("lt").select().set(rs);
        addr(out, 4);
        fb.get(rs).get(s).f32("mul").mem("f32_store");
      }
    },
  );
}
