/**
 * WebAssembly code for the float32 GEMM: packing routines and the macro-kernel with its SIMD register
 * tile. The blocking loops stay in JavaScript (`gemm-f32.ts`); a call into WebAssembly per block costs
 * tens of nanoseconds against the microseconds each block computes.
 *
 * Packed layouts (as the JavaScript gemm, in float32 and with wider strips):
 * - A: strips of MR rows; strip s holds, for each k of the block, the MR values of rows MR·s … MR·s+MR−1.
 * - B: strips of NR columns; strip s holds, for each k, the NR values of columns NR·s … NR·s+NR−1.
 * Rows and columns past the edge are packed as zeros, so the micro-kernel always computes a full tile and
 * only the store is trimmed.
 *
 * The micro-kernel keeps an MR×NR tile of C in MR·NR/4 v128 locals. Each step loads NR/4 vectors of B,
 * broadcasts one A value per row (`v128.load32_splat`) and does MR·NR/4 multiply-adds: with MR = 4,
 * NR = 8 that is 8 accumulators, 2 B vectors and 1 broadcast, 11 of x64's 16 vector registers. Plain
 * WebAssembly SIMD has no fused multiply-add, so each is an `f32x4.mul` and an `f32x4.add`; where the
 * runtime has relaxed SIMD (browsers by default, Node 20 behind a V8 flag, see
 * `@quant-trim/tensor/node`) the module is built with `f32x4.relaxed_madd` instead, which V8 compiles to
 * one FMA instruction on x64 CPUs that have it: one rounding per product-sum instead of two, still
 * within the gemm's float32 error bound, and 10–30 % faster here (measured: one 128×512×256 macro-kernel
 * block 28 → 31.6 GFLOP/s, the whole 512³ gemm ≈ 17 → 22 GFLOP/s on this noisy machine).
 * The k loop is not unrolled: measured, unrolling by 2 or 4 made V8's optimising compiler hoist every
 * load of the unrolled body, run out of registers and spill the accumulators, which cost 15–30 %
 * (29 GFLOP/s for the plain loop against 25 and 20 on one macro-kernel block). Wider tiles (6×8, 4×12,
 * 8×8, with FMA) measured no faster than 4×8 on the whole gemm.
 */
import type { FunctionBuilder, Local, WasmModuleBuilder } from "./assembler.js";

/** Register tile: rows of A per strip and columns of B per strip (a multiple of 4). */
export const GEMM_MR = 4;
export const GEMM_NR = 8;

/** Export names. */
export const GEMM_PACK_A = "gemm_f32_pack_a";
export const GEMM_PACK_B = "gemm_f32_pack_b";
export const GEMM_MACRO = "gemm_f32_macro";

export interface GemmF32Exports {
  /**
   * Pack `n` lanes (rows of op(A) or columns of op(B)) × `kc` values into strips of the kernel's width,
   * scaled by `alpha`. Element (lane l, k) is read at byte address `src + l·laneStride + k·kStride`.
   */
  [GEMM_PACK_A]: (
    src: number,
    laneStride: number,
    kStride: number,
    n: number,
    kc: number,
    dst: number,
    alpha: number,
  ) => void;
  [GEMM_PACK_B]: (
    src: number,
    laneStride: number,
    kStride: number,
    n: number,
    kc: number,
    dst: number,
    alpha: number,
  ) => void;
  /**
   * C[mc×nc] (byte row stride `ldc`) = (accumulate ? C : 0) + packedA · B over one k-block of `kc`.
   * Consecutive A strips start `aStrip` bytes apart (kc·MR·4 when packed per k-block, more when a panel
   * packed over a longer K is used one k-block at a time). B is read as strips too: strip s starts at
   * bp + s·bStrip and its row k at + k·bK, NR floats each. Packed B has bK = NR·4 and bStrip = kc·NR·4;
   * a row-major B (ld floats per row) is read in place with bK = 4·ld and bStrip = NR·4, provided the
   * NR·4 bytes after the last row's final strip are readable (edge lanes read past the row; their
   * results are never stored). `tile` is MR·NR·4 bytes of scratch for the edge tiles.
   */
  [GEMM_MACRO]: (
    ap: number,
    aStrip: number,
    bp: number,
    bStrip: number,
    bK: number,
    c: number,
    mc: number,
    nc: number,
    kc: number,
    ldc: number,
    accumulate: number,
    tile: number,
  ) => void;
}

/** Tile shape; other values than the defaults exist for tuning experiments. */
export interface GemmTileOptions {
  mr: number;
  nr: number;
  /** Multiply-add with relaxed SIMD's `f32x4.relaxed_madd` (only where the runtime validates it). */
  fma?: boolean;
}

export function emitGemmF32(
  m: WasmModuleBuilder,
  tile: GemmTileOptions = { mr: GEMM_MR, nr: GEMM_NR },
): void {
  emitPack(m, GEMM_PACK_A, tile.mr);
  emitPack(m, GEMM_PACK_B, tile.nr);
  emitMacroKernel(m, tile.mr, tile.nr, tile.fma === true);
}

/** `dst ← min(a, b)` on i32 locals. */
function minInto(f: FunctionBuilder, dst: Local, a: Local, b: number | Local): void {
  f.get(a);
  if (typeof b === "number") f.i32Const(b);
  else f.get(b);
  f.get(a);
  if (typeof b === "number") f.i32Const(b);
  else f.get(b);
  f.i32("lt_s").select().set(dst);
}

function emitPack(m: WasmModuleBuilder, name: string, width: number): void {
  m.addFunction(
    name,
    ["i32", "i32", "i32", "i32", "i32", "i32", "f32"],
    [],
    (f, src, laneStride, kStride, n, kc, dst, alpha) => {
      const s0 = f.local("i32");
      const valid = f.local("i32");
      const strip = f.local("i32");
      const p = f.local("i32");
      const q = f.local("i32");
      const k = f.local("i32");
      const alphaV = f.local("v128");
      const rest = f.local("i32");
      f.get(alpha).simd("f32x4_splat").set(alphaV);
      f.get(src).set(strip);
      f.forUp(s0, n, width, () => {
        f.get(n).get(s0).i32("sub").set(rest);
        minInto(f, valid, rest, width);
        f.get(strip).set(p);
        f.get(kc).set(k);
        f.get(valid)
          .i32Const(width)
          .i32("eq")
          .get(laneStride)
          .i32Const(4)
          .i32("eq")
          .i32("and")
          .ifElse(
            () => {
              // Contiguous lanes: width/4 vector copies per k.
              f.loop((top) => {
                for (let h = 0; h < width / 4; h++) {
                  f.get(dst)
                    .get(p)
                    .simdMem("v128_load", 16 * h)
                    .get(alphaV)
                    .simd("f32x4_mul")
                    .simdMem("v128_store", 16 * h);
                }
                f.addTo(dst, width * 4);
                f.get(p).get(kStride).i32("add").set(p);
                f.get(k).i32Const(1).i32("sub").tee(k).brIf(top);
              });
            },
            () => {
              // Strided lanes (a gather), zero past the edge.
              f.loop((top) => {
                f.get(p).set(q);
                for (let l = 0; l < width; l++) {
                  f.get(dst);
                  f.get(valid)
                    .i32Const(l)
                    .i32("gt_s")
                    .ifElse(
                      () => {
                        f.get(q).mem("f32_load").get(alpha).f32("mul");
                      },
                      () => {
                        f.f32Const(0);
                      },
                      "f32",
                    );
                  f.mem("f32_store", 4 * l);
                  f.get(q).get(laneStride).i32("add").set(q);
                }
                f.addTo(dst, width * 4);
                f.get(p).get(kStride).i32("add").set(p);
                f.get(k).i32Const(1).i32("sub").tee(k).brIf(top);
              });
            },
          );
        f.get(laneStride).i32Const(width).i32("mul").get(strip).i32("add").set(strip);
      });
    },
  );
}

function emitMacroKernel(m: WasmModuleBuilder, MR: number, NR: number, fma: boolean): void {
  const H = NR / 4;
  m.addFunction(
    GEMM_MACRO,
    ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    [],
    (f, ap, aStripBytes, bp, bStripBytes, bK, c, mc, nc, kc, ldc, accumulate, tile) => {
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
      for (let row = 0; row < MR; row++) {
        acc.push(Array.from({ length: H }, () => f.local("v128")));
      }
      const b: Local[] = Array.from({ length: H }, () => f.local("v128"));
      const a = f.local("v128");

      const step = () => {
        for (let h = 0; h < H; h++)
          f.get(pb)
            .simdMem("v128_load", 16 * h)
            .set(b[h]!);
        for (let row = 0; row < MR; row++) {
          f.get(pa)
            .simdMem("v128_load32_splat", row * 4)
            .set(a);
          for (let h = 0; h < H; h++) {
            if (fma) f.get(a).get(b[h]!).get(acc[row]![h]!).simd("f32x4_relaxed_madd").set(acc[row]![h]!);
            else
              f.get(acc[row]![h]!).get(a).get(b[h]!).simd("f32x4_mul").simd("f32x4_add").set(acc[row]![h]!);
          }
        }
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
          // kc ≥ 1, so the loop tests at the bottom.
          f.loop((top) => {
            step();
            f.addTo(pa, MR * 4);
            f.get(pb).get(bK).i32("add").set(pb);
            f.get(k).i32Const(1).i32("sub").tee(k).brIf(top);
          });
          // C address of the tile: c + i·ldc + 4·j.
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
                      () => {
                        f.get(cRow)
                          .simdMem("v128_load", 16 * h)
                          .get(acc[row]![h]!)
                          .simd("f32x4_add");
                      },
                      () => {
                        f.get(acc[row]![h]!);
                      },
                      "v128",
                    );
                    f.simdMem("v128_store", 16 * h);
                  }
                  f.get(cRow).get(ldc).i32("add").set(cRow);
                }
              },
              () => {
                // Edge tile: spill it to scratch, then copy the mr×nr part that lies inside C.
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
                    // C[r, q] = tile[r·NR + q] (+ C[r, q] when accumulating)
                    const cAddr = () => f.get(cRow).get(q).i32Const(2).i32("shl").i32("add");
                    const tileValue = () =>
                      f.get(src).get(q).i32Const(2).i32("shl").i32("add").mem("f32_load");
                    f.get(accumulate).ifElse(
                      () => {
                        cAddr();
                        cAddr().mem("f32_load");
                        tileValue().f32("add").mem("f32_store");
                      },
                      () => {
                        cAddr();
                        tileValue().mem("f32_store");
                      },
                    );
                  });
                  f.addTo(src, NR * 4);
                  f.get(cRow).get(ldc).i32("add").set(cRow);
                });
              },
            );
          f.get(aStrip).get(aStripBytes).i32("add").set(aStrip);
        });
        f.get(bStrip).get(bStripBytes).i32("add").set(bStrip);
      });
    },
  );
}
