/**
 * WebAssembly code for the 8-bit integer GEMM (the glue is `gemm-int8.ts`).
 *
 * Operands are packed as int16, two consecutive k per 32-bit slot, so that `i32x4.dot_i16x8_s` — lane l
 * gets x[2l]·y[2l] + x[2l+1]·y[2l+1], computed exactly in 32 bits — does two multiply-adds per lane:
 * - A: strips of MR = 4 rows; for each pair of k, the 4 rows' (a_k, a_k+1) pairs (16 bytes);
 * - B: strips of NR = 8 columns; for each pair of k, the 8 columns' (b_k, b_k+1) pairs (32 bytes).
 * A k past K (odd K) packs as 0. The micro-kernel broadcasts one row's pair (`v128.load32_splat`)
 * against two B vectors: an MR×NR tile of int32 sums in 8 v128 accumulators, 64 multiply-adds per k-pair.
 *
 * With `saturate` set, every pair sum is clamped to [−32768, 32767] before it is accumulated: the int16
 * saturation of x86's `vpmaddubsw`, which multiplies u8 by s8 and adds adjacent products (k = 2j and 2j+1
 * from k = 0, an odd K's last product paired with 0). Accumulation is int32 and wraps on overflow.
 * With `counts` also set (a byte address), the clamped pair sums are counted (a lane mask per compare,
 * subtracted from a vector of counters) and their number added to the int32 at `counts`: npu-sim
 * reports them as overflow events. The counting loop is a separate copy, so the others pay nothing.
 */
import type { FunctionBuilder, Local, WasmModuleBuilder } from "./assembler.js";

export const INT8_MR = 4;
export const INT8_NR = 8;

export const INT8_PACK_A = "gemm_i8_pack_a";
export const INT8_PACK_B = "gemm_i8_pack_b";
export const INT8_MACRO = "gemm_i8_macro";

export interface GemmInt8Exports {
  /**
   * Pack rows [0, m) × k [k0, k0 + kc) of A (bytes, element (i, k) at src + i·ld + k, unsigned when
   * `unsigned` is 1), minus `zp`, into int16 pair strips at dst. kc is even; k ≥ K packs 0.
   */
  [INT8_PACK_A]: (
    src: number,
    ld: number,
    unsigned: number,
    zp: number,
    m: number,
    k0: number,
    kc: number,
    K: number,
    dst: number,
  ) => void;
  /**
   * Pack columns [j0, j0 + n) × k [k0, k0 + kc) of B (signed bytes, element (k, j) at
   * src + k·kStride + j·jStride) minus zps[j] (int32 array, or 0 for none) into int16 pair strips.
   */
  [INT8_PACK_B]: (
    src: number,
    kStride: number,
    jStride: number,
    zps: number,
    j0: number,
    n: number,
    k0: number,
    kc: number,
    K: number,
    dst: number,
  ) => void;
  /**
   * C[mc×nc] (int32, byte row stride ldc) = (accumulate ? C : 0) + A·B over kc (even) values of k.
   * With `saturate` and a non-zero `counts`, adds the number of clamped pair sums to the int32 at counts.
   */
  [INT8_MACRO]: (
    ap: number,
    bp: number,
    c: number,
    mc: number,
    nc: number,
    kc: number,
    ldc: number,
    accumulate: number,
    saturate: number,
    tile: number,
    counts: number,
  ) => void;
}

export function emitGemmInt8(m: WasmModuleBuilder): void {
  emitPackA(m);
  emitPackB(m);
  emitMacro(m);
}

function minInto(f: FunctionBuilder, dst: Local, a: Local, b: number): void {
  f.get(a).i32Const(b).get(a).i32Const(b).i32("lt_s").select().set(dst);
}

function emitPackA(m: WasmModuleBuilder): void {
  m.addFunction(
    INT8_PACK_A,
    ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    [],
    (f, src, ld, unsigned, zp, mRows, k0, kc, K, dst) => {
      const i0 = f.local("i32");
      const kp = f.local("i32");
      const k = f.local("i32");
      const row = f.local("i32");
      const half = f.local("i32");
      f.forUp(i0, mRows, INT8_MR, () => {
        f.i32Const(0).set(kp);
        f.forUp(kp, kc, 2, () => {
          for (let rr = 0; rr < INT8_MR; rr++) {
            f.get(i0).i32Const(rr).i32("add").set(row);
            for (let h = 0; h < 2; h++) {
              f.get(k0).get(kp).i32("add").i32Const(h).i32("add").set(k);
              f.get(dst);
              f.get(row)
                .get(mRows)
                .i32("lt_s")
                .get(k)
                .get(K)
                .i32("lt_s")
                .i32("and")
                .ifElse(
                  () => {
                    f.get(row).get(ld).i32("mul").get(k).i32("add").get(src).i32("add").set(half);
                    f.get(unsigned).ifElse(
                      () => f.get(half).mem("i32_load8_u"),
                      () => f.get(half).mem("i32_load8_s"),
                      "i32",
                    );
                    f.get(zp).i32("sub");
                  },
                  () => f.i32Const(0),
                  "i32",
                );
              f.mem("i32_store16", (rr * 2 + h) * 2);
            }
          }
          f.addTo(dst, INT8_MR * 4);
        });
      });
    },
  );
}

function emitPackB(m: WasmModuleBuilder): void {
  m.addFunction(
    INT8_PACK_B,
    ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    [],
    (f, src, kStride, jStride, zps, j0, n, k0, kc, K, dst) => {
      const s = f.local("i32");
      const kp = f.local("i32");
      const k = f.local("i32");
      const col = f.local("i32");
      const zj = f.local("i32");
      const end = f.local("i32");
      f.get(j0).get(n).i32("add").set(end);
      f.get(j0).set(s);
      f.forUp(s, end, INT8_NR, () => {
        f.i32Const(0).set(kp);
        f.forUp(kp, kc, 2, () => {
          for (let c = 0; c < INT8_NR; c++) {
            f.get(s).i32Const(c).i32("add").set(col);
            // zj = zps ? zps[col] : 0 (read only for a column inside B)
            f.i32Const(0).set(zj);
            f.get(zps)
              .i32Const(0)
              .i32("ne")
              .get(col)
              .get(end)
              .i32("lt_s")
              .i32("and")
              .ifElse(() => {
                f.get(zps).get(col).i32Const(2).i32("shl").i32("add").mem("i32_load").set(zj);
              });
            for (let h = 0; h < 2; h++) {
              f.get(k0).get(kp).i32("add").i32Const(h).i32("add").set(k);
              f.get(dst);
              f.get(col)
                .get(end)
                .i32("lt_s")
                .get(k)
                .get(K)
                .i32("lt_s")
                .i32("and")
                .ifElse(
                  () => {
                    f.get(k)
                      .get(kStride)
                      .i32("mul")
                      .get(col)
                      .get(jStride)
                      .i32("mul")
                      .i32("add")
                      .get(src)
                      .i32("add");
                    f.mem("i32_load8_s").get(zj).i32("sub");
                  },
                  () => f.i32Const(0),
                  "i32",
                );
              f.mem("i32_store16", (c * 2 + h) * 2);
            }
          }
          f.addTo(dst, INT8_NR * 4);
        });
      });
    },
  );
}

function emitMacro(m: WasmModuleBuilder): void {
  const MR = INT8_MR;
  const NR = INT8_NR;
  const H = NR / 4;
  m.addFunction(
    INT8_MACRO,
    ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    [],
    (f, ap, bp, c, mc, nc, kc, ldc, accumulate, saturate, tile, counts) => {
      const j = f.local("i32");
      const i = f.local("i32");
      const nr = f.local("i32");
      const mr = f.local("i32");
      const rest = f.local("i32");
      const bStrip = f.local("i32");
      const aStrip = f.local("i32");
      const pa = f.local("i32");
      const pb = f.local("i32");
      const k = f.local("i32");
      const cRow = f.local("i32");
      const r = f.local("i32");
      const q = f.local("i32");
      const src = f.local("i32");
      const acc: Local[][] = [];
      for (let row = 0; row < MR; row++) acc.push(Array.from({ length: H }, () => f.local("v128")));
      const b: Local[] = Array.from({ length: H }, () => f.local("v128"));
      const a = f.local("v128");
      const lo = f.local("v128");
      const hi = f.local("v128");
      f.i32x4Const([-32768, -32768, -32768, -32768]).set(lo);
      f.i32x4Const([32767, 32767, 32767, 32767]).set(hi);
      const d = f.local("v128");
      const cnt = f.local("v128");
      f.i32x4Const([0, 0, 0, 0]).set(cnt);

      const loop = (sat: boolean, count = false) => {
        f.loop((top) => {
          for (let h = 0; h < H; h++)
            f.get(pb)
              .simdMem("v128_load", 16 * h)
              .set(b[h]!);
          for (let row = 0; row < MR; row++) {
            f.get(pa)
              .simdMem("v128_load32_splat", 4 * row)
              .set(a);
            for (let h = 0; h < H; h++) {
              const x = acc[row]![h]!;
              if (count) {
                // cnt −= (d > 32767) + (d < −32768) as lane masks (−1 where true)
                f.get(a).get(b[h]!).simd("i32x4_dot_i16x8_s").set(d);
                f.get(cnt).get(d).get(hi).simd("i32x4_gt_s").simd("i32x4_sub");
                f.get(d).get(lo).simd("i32x4_lt_s").simd("i32x4_sub").set(cnt);
                f.get(x).get(d).get(lo).simd("i32x4_max_s").get(hi).simd("i32x4_min_s");
              } else {
                f.get(x).get(a).get(b[h]!).simd("i32x4_dot_i16x8_s");
                if (sat) f.get(lo).simd("i32x4_max_s").get(hi).simd("i32x4_min_s");
              }
              f.simd("i32x4_add").set(x);
            }
          }
          f.addTo(pa, MR * 4);
          f.addTo(pb, NR * 4);
          f.get(k).i32Const(2).i32("sub").tee(k).brIf(top);
        });
      };

      f.get(bp).set(bStrip);
      f.forUp(j, nc, NR, () => {
        f.get(nc).get(j).i32("sub").set(rest);
        minInto(f, nr, rest, NR);
        f.get(ap).set(aStrip);
        f.i32Const(0).set(i);
        f.forUp(i, mc, MR, () => {
          f.get(mc).get(i).i32("sub").set(rest);
          minInto(f, mr, rest, MR);
          for (const row of acc) for (const v of row) f.i32x4Const([0, 0, 0, 0]).set(v);
          f.get(aStrip).set(pa);
          f.get(bStrip).set(pb);
          f.get(kc).set(k);
          f.get(saturate).ifElse(
            () =>
              f.get(counts).ifElse(
                () => loop(true, true),
                () => loop(true),
              ),
            () => loop(false),
          );
          f.get(i).get(ldc).i32("mul").get(c).i32("add").get(j).i32Const(2).i32("shl").i32("add").set(cRow);
          f.get(mr)
            .i32Const(MR)
            .i32("eq")
            .get(nr)
            .i32Const(NR)
            .i32("eq")
            .i32("and")
            .ifElse(
              () => {
                for (let row = 0; row < MR; row++) {
                  for (let h = 0; h < H; h++) {
                    f.get(cRow);
                    f.get(accumulate).ifElse(
                      () =>
                        f
                          .get(cRow)
                          .simdMem("v128_load", 16 * h)
                          .get(acc[row]![h]!)
                          .simd("i32x4_add"),
                      () => f.get(acc[row]![h]!),
                      "v128",
                    );
                    f.simdMem("v128_store", 16 * h);
                  }
                  f.get(cRow).get(ldc).i32("add").set(cRow);
                }
              },
              () => {
                for (let row = 0; row < MR; row++) {
                  for (let h = 0; h < H; h++) {
                    f.get(tile)
                      .get(acc[row]![h]!)
                      .simdMem("v128_store", (row * NR + 4 * h) * 4);
                  }
                }
                f.get(tile).set(src);
                f.i32Const(0).set(r);
                f.forUp(r, mr, 1, () => {
                  f.i32Const(0).set(q);
                  f.forUp(q, nr, 1, () => {
                    const cAddr = () => f.get(cRow).get(q).i32Const(2).i32("shl").i32("add");
                    const tileValue = () =>
                      f.get(src).get(q).i32Const(2).i32("shl").i32("add").mem("i32_load");
                    cAddr();
                    f.get(accumulate).ifElse(
                      () => {
                        cAddr().mem("i32_load");
                        tileValue().i32("add");
                      },
                      () => tileValue(),
                      "i32",
                    );
                    f.mem("i32_store");
                  });
                  f.addTo(src, NR * 4);
                  f.get(cRow).get(ldc).i32("add").set(cRow);
                });
              },
            );
          f.get(aStrip)
            .get(kc)
            .i32Const(MR * 2)
            .i32("mul")
            .i32("add")
            .set(aStrip);
        });
        f.get(bStrip)
          .get(kc)
          .i32Const(NR * 2)
          .i32("mul")
          .i32("add")
          .set(bStrip);
      });
      // *counts += the four lanes of cnt (each at most 8 per k-pair and tile: far below 2^31 per call)
      f.get(counts).ifElse(() => {
        f.get(counts);
        f.get(counts).mem("i32_load");
        for (let l = 0; l < 4; l++) f.get(cnt).lane("i32x4_extract_lane", l).i32("add");
        f.mem("i32_store");
      });
    },
  );
}
