/**
 * WebAssembly code for convolution as one GEMM over the whole batch (the glue is `conv.ts`).
 *
 * Column index p = n·Hout·Wout + oh·Wout + ow runs over every output pixel of every image, so the
 * forward pass is the single product W[Cout × C·kH·kW] · cols[C·kH·kW × P]. The routines here move data
 * between the layouts that product needs:
 * - `im2col_rows`: x (NCHW) → cols, row-major [C·kH·kW × P]; each (row, image, output row) is one run of
 *   Wout values, copied with v128 moves when the stride is 1, zero where the window reads padding;
 * - `col2im_rows`: the adjoint, scatter-adding such rows back onto dx;
 * - `cp_to_nchw`: a [Cout × P] product → the NCHW output, adding the bias; `nchw_to_cp` the reverse
 *   (for dY, the B operand of the input gradient);
 * - `dw_rows`: the weight gradient dW[co, k] = Σ_p dY[co, p]·cols[k, p], a dot product of a row of dY
 *   (as [Cout × P]) with a row of the forward pass's columns, which are kept and reused rather than
 *   rebuilt. A tile of 4 channels × 2 column rows sits in 8 v128 accumulators, each holding 4 partial
 *   sums of one (co, k) pair; the glue adds the lanes.
 * - `f32_equal`: whether two float32 ranges hold the same bits (to check that cached columns still
 *   belong to the tensor they were built from).
 */
import type { FunctionBuilder, Local, WasmModuleBuilder } from "./assembler.js";

export const IM2COL_ROWS = "conv_im2col_rows";
export const COL2IM_ROWS = "conv_col2im_rows";
export const CP_TO_NCHW = "conv_cp_to_nchw";
export const NCHW_TO_CP = "conv_nchw_to_cp";
export const DW_ROWS = "conv_dw_rows";
export const F32_EQUAL = "f32_equal";

/** Tile of `dw_rows`: channels × column rows. */
export const DW_TILE_CO = 4;
export const DW_TILE_K = 2;

/** Window geometry in the order the im2col/col2im routines take it (after the two pointers). */
export type WindowArgs = [
  N: number,
  C: number,
  H: number,
  W: number,
  kH: number,
  kW: number,
  sH: number,
  sW: number,
  pH: number,
  pW: number,
  dH: number,
  dW: number,
  Hout: number,
  Wout: number,
];

export interface ConvExports {
  [IM2COL_ROWS]: (x: number, cols: number, ...g: WindowArgs) => void;
  /** dx must be zeroed (or hold what the scatter should add onto). */
  [COL2IM_ROWS]: (cols: number, dx: number, ...g: WindowArgs) => void;
  /** bias = 0: no bias. */
  [CP_TO_NCHW]: (src: number, dst: number, N: number, Cout: number, HW: number, bias: number) => void;
  [NCHW_TO_CP]: (src: number, dst: number, N: number, Cout: number, HW: number) => void;
  /**
   * For every tile (coTile, kTile) of 4 channels × 2 rows: acc[((coTile·kTiles + kTile)·4 + r)·2 + t]
   * (a v128) += Σ over p in [p0, p0 + count) of dy[row co0 + r][p] · cols[row k0 + t][p], four p per
   * lane group. Rows are `P` floats long; rows past Cout or K repeat the last one (their sums are not
   * used). Lanes past the end of a row (count not a multiple of 4) are masked to zero.
   */
  [DW_ROWS]: (
    dy: number,
    cols: number,
    Cout: number,
    K: number,
    P: number,
    p0: number,
    count: number,
    acc: number,
  ) => void;
  [F32_EQUAL]: (a: number, b: number, n: number) => number;
}

export function emitConv(m: WasmModuleBuilder): void {
  emitIm2colRows(m);
  emitCol2imRows(m);
  emitCpToNchw(m);
  emitNchwToCp(m);
  emitDwRows(m);
  emitF32Equal(m);
}

const WINDOW_PARAMS = new Array(14).fill("i32") as "i32"[];

/** Locals for the window walk shared by im2col and col2im. */
interface WindowLocals {
  c: Local;
  ki: Local;
  kj: Local;
  n: Local;
  oh: Local;
  ih0: Local;
  iw0: Local;
  lo: Local;
  hi: Local;
  row: Local;
  d: Local;
  plane: Local;
  ih: Local;
  src: Local;
  t: Local;
  i: Local;
  end: Local;
  hw4: Local;
  planeBytes: Local;
}

/**
 * Walk rows (c, ki, kj) × images × output rows; `run` emits the work for one run with `d` the column
 * address of ow = 0, `src` the input address of ow = 0 (valid only when the row is inside), and the
 * inside range [lo, hi). `outsideRow` handles an output row whose input row is in the padding.
 */
function walkWindows(
  f: FunctionBuilder,
  g: Local[],
  base: Local,
  run: (w: WindowLocals) => void,
  outsideRow: (w: WindowLocals) => void,
): void {
  const [N, C, H, W, kH, kW, sH, sW, pH, pW, dH, dW, Hout, Wout] = g as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const w: WindowLocals = {
    c: f.local("i32"),
    ki: f.local("i32"),
    kj: f.local("i32"),
    n: f.local("i32"),
    oh: f.local("i32"),
    ih0: f.local("i32"),
    iw0: f.local("i32"),
    lo: f.local("i32"),
    hi: f.local("i32"),
    row: f.local("i32"),
    d: f.local("i32"),
    plane: f.local("i32"),
    ih: f.local("i32"),
    src: f.local("i32"),
    t: f.local("i32"),
    i: f.local("i32"),
    end: f.local("i32"),
    hw4: f.local("i32"),
    planeBytes: f.local("i32"),
  };
  f.get(H).get(W).i32("mul").i32Const(4).i32("mul").set(w.planeBytes);
  f.get(Hout).get(Wout).i32("mul").i32Const(4).i32("mul").set(w.hw4);
  f.get(base).set(w.row);
  f.forUp(w.c, C, 1, () => {
    f.i32Const(0).set(w.ki);
    f.forUp(w.ki, kH, 1, () => {
      f.get(w.ki).get(dH).i32("mul").get(pH).i32("sub").set(w.ih0);
      f.i32Const(0).set(w.kj);
      f.forUp(w.kj, kW, 1, () => {
        f.get(w.kj).get(dW).i32("mul").get(pW).i32("sub").set(w.iw0);
        // lo = iw0 >= 0 ? 0 : min(Wout, ceil(−iw0 / sW))
        f.get(w.iw0)
          .i32Const(0)
          .i32("lt_s")
          .ifElse(
            () => {
              f.i32Const(0)
                .get(w.iw0)
                .i32("sub")
                .get(sW)
                .i32("add")
                .i32Const(1)
                .i32("sub")
                .get(sW)
                .i32("div_s");
              f.set(w.t);
              f.get(w.t).get(Wout).get(w.t).get(Wout).i32("lt_s").select().set(w.lo);
            },
            () => {
              f.i32Const(0).set(w.lo);
            },
          );
        // hi = W − 1 − iw0 < 0 ? lo : max(lo, min(Wout, (W − 1 − iw0) / sW + 1))
        f.get(W).i32Const(1).i32("sub").get(w.iw0).i32("sub").set(w.t);
        f.get(w.t)
          .i32Const(0)
          .i32("lt_s")
          .ifElse(
            () => {
              f.get(w.lo).set(w.hi);
            },
            () => {
              f.get(w.t).get(sW).i32("div_s").i32Const(1).i32("add").set(w.t);
              f.get(w.t).get(Wout).get(w.t).get(Wout).i32("lt_s").select().set(w.t);
              f.get(w.t).get(w.lo).get(w.t).get(w.lo).i32("gt_s").select().set(w.hi);
            },
          );
        f.get(w.row).set(w.d);
        f.i32Const(0).set(w.n);
        f.forUp(w.n, N, 1, () => {
          // plane = x + (n·C + c)·H·W·4
          f.get(w.n).get(C).i32("mul").get(w.c).i32("add").get(w.planeBytes).i32("mul").set(w.plane);
          f.i32Const(0).set(w.oh);
          f.forUp(w.oh, Hout, 1, () => {
            f.get(w.oh).get(sH).i32("mul").get(w.ih0).i32("add").set(w.ih);
            f.get(w.ih)
              .i32Const(0)
              .i32("lt_s")
              .get(w.ih)
              .get(H)
              .i32("ge_s")
              .i32("or")
              .ifElse(
                () => outsideRow(w),
                () => {
                  // src = plane + (ih·W + iw0)·4 (relative; the caller adds its base pointer)
                  f.get(w.ih).get(W).i32("mul").get(w.iw0).i32("add").i32Const(2).i32("shl");
                  f.get(w.plane).i32("add").set(w.src);
                  run(w);
                },
              );
            f.get(w.d).get(Wout).i32Const(2).i32("shl").i32("add").set(w.d);
          });
        });
        f.get(w.row).get(N).get(w.hw4).i32("mul").i32("add").set(w.row);
      });
    });
  });
}

/** Zero floats [from, to) after address `base` (bytes base + 4·i). */
function zeroRange(f: FunctionBuilder, base: Local, from: Local | number, to: Local, i: Local): void {
  if (typeof from === "number") f.i32Const(from).set(i);
  else f.get(from).set(i);
  f.forUp(i, to, 1, () => {
    f.get(base).get(i).i32Const(2).i32("shl").i32("add").f32Const(0).mem("f32_store");
  });
}

function emitIm2colRows(m: WasmModuleBuilder): void {
  m.addFunction(IM2COL_ROWS, ["i32", "i32", ...WINDOW_PARAMS], [], (f, x, cols, ...g) => {
    const sW = g[7]!;
    const Wout = g[13]!;
    walkWindows(
      f,
      g,
      cols,
      (w) => {
        f.get(w.src).get(x).i32("add").set(w.src);
        zeroRange(f, w.d, 0, w.lo, w.i);
        f.get(sW)
          .i32Const(1)
          .i32("eq")
          .ifElse(
            () => {
              // Unit stride: the run is a plain copy, four floats at a time.
              f.get(w.lo).set(w.i);
              f.get(w.hi).i32Const(3).i32("sub").set(w.end);
              f.forUp(w.i, w.end, 4, () => {
                f.get(w.d).get(w.i).i32Const(2).i32("shl").i32("add");
                f.get(w.src).get(w.i).i32Const(2).i32("shl").i32("add").simdMem("v128_load");
                f.simdMem("v128_store");
              });
              f.forUp(w.i, w.hi, 1, () => {
                f.get(w.d).get(w.i).i32Const(2).i32("shl").i32("add");
                f.get(w.src).get(w.i).i32Const(2).i32("shl").i32("add").mem("f32_load");
                f.mem("f32_store");
              });
            },
            () => {
              f.get(w.lo).set(w.i);
              f.forUp(w.i, w.hi, 1, () => {
                f.get(w.d).get(w.i).i32Const(2).i32("shl").i32("add");
                f.get(w.src).get(w.i).get(sW).i32("mul").i32Const(2).i32("shl").i32("add").mem("f32_load");
                f.mem("f32_store");
              });
            },
          );
        zeroRange(f, w.d, w.hi, Wout, w.i);
      },
      (w) => zeroRange(f, w.d, 0, Wout, w.i),
    );
  });
}

function emitCol2imRows(m: WasmModuleBuilder): void {
  m.addFunction(COL2IM_ROWS, ["i32", "i32", ...WINDOW_PARAMS], [], (f, cols, dx, ...g) => {
    const sW = g[7]!;
    walkWindows(
      f,
      g,
      cols,
      (w) => {
        f.get(w.src).get(dx).i32("add").set(w.src);
        f.get(sW)
          .i32Const(1)
          .i32("eq")
          .ifElse(
            () => {
              f.get(w.lo).set(w.i);
              f.get(w.hi).i32Const(3).i32("sub").set(w.end);
              f.forUp(w.i, w.end, 4, () => {
                f.get(w.src).get(w.i).i32Const(2).i32("shl").i32("add").set(w.t);
                f.get(w.t).get(w.t).simdMem("v128_load");
                f.get(w.d).get(w.i).i32Const(2).i32("shl").i32("add").simdMem("v128_load");
                f.simd("f32x4_add").simdMem("v128_store");
              });
              f.forUp(w.i, w.hi, 1, () => {
                f.get(w.src).get(w.i).i32Const(2).i32("shl").i32("add").set(w.t);
                f.get(w.t).get(w.t).mem("f32_load");
                f.get(w.d).get(w.i).i32Const(2).i32("shl").i32("add").mem("f32_load");
                f.f32("add").mem("f32_store");
              });
            },
            () => {
              f.get(w.lo).set(w.i);
              f.forUp(w.i, w.hi, 1, () => {
                f.get(w.src).get(w.i).get(sW).i32("mul").i32Const(2).i32("shl").i32("add").set(w.t);
                f.get(w.t).get(w.t).mem("f32_load");
                f.get(w.d).get(w.i).i32Const(2).i32("shl").i32("add").mem("f32_load");
                f.f32("add").mem("f32_store");
              });
            },
          );
      },
      () => undefined,
    );
  });
}

function emitCpToNchw(m: WasmModuleBuilder): void {
  m.addFunction(
    CP_TO_NCHW,
    ["i32", "i32", "i32", "i32", "i32", "i32"],
    [],
    (f, src, dst, N, Cout, HW, bias) => {
      const co = f.local("i32");
      const n = f.local("i32");
      const i = f.local("i32");
      const end = f.local("i32");
      const s = f.local("i32");
      const d = f.local("i32");
      const rowBytes = f.local("i32");
      const b = f.local("f32");
      const bv = f.local("v128");
      f.get(N).get(HW).i32("mul").i32Const(2).i32("shl").set(rowBytes);
      f.get(HW).i32Const(3).i32("sub").set(end);
      f.forUp(co, Cout, 1, () => {
        f.get(bias).ifElse(() => {
          f.get(bias).get(co).i32Const(2).i32("shl").i32("add").mem("f32_load").set(b);
        });
        f.get(b).simd("f32x4_splat").set(bv);
        f.i32Const(0).set(n);
        f.forUp(n, N, 1, () => {
          // s = src + co·N·HW·4 + n·HW·4; d = dst + (n·Cout + co)·HW·4
          f.get(co).get(rowBytes).i32("mul").get(src).i32("add");
          f.get(n).get(HW).i32("mul").i32Const(2).i32("shl").i32("add").set(s);
          f.get(n).get(Cout).i32("mul").get(co).i32("add").get(HW).i32("mul").i32Const(2).i32("shl");
          f.get(dst).i32("add").set(d);
          f.i32Const(0).set(i);
          // Without a bias the values are copied, not added to 0 (which would turn −0 into +0).
          f.get(bias).ifElse(
            () => {
              f.forUp(i, end, 4, () => {
                f.get(d).get(i).i32Const(2).i32("shl").i32("add");
                f.get(s).get(i).i32Const(2).i32("shl").i32("add").simdMem("v128_load");
                f.get(bv).simd("f32x4_add").simdMem("v128_store");
              });
              f.forUp(i, HW, 1, () => {
                f.get(d).get(i).i32Const(2).i32("shl").i32("add");
                f.get(s).get(i).i32Const(2).i32("shl").i32("add").mem("f32_load");
                f.get(b).f32("add").mem("f32_store");
              });
            },
            () => {
              f.forUp(i, end, 4, () => {
                f.get(d).get(i).i32Const(2).i32("shl").i32("add");
                f.get(s).get(i).i32Const(2).i32("shl").i32("add").simdMem("v128_load");
                f.simdMem("v128_store");
              });
              f.forUp(i, HW, 1, () => {
                f.get(d).get(i).i32Const(2).i32("shl").i32("add");
                f.get(s).get(i).i32Const(2).i32("shl").i32("add").mem("f32_load");
                f.mem("f32_store");
              });
            },
          );
        });
        f.f32Const(0).set(b);
      });
    },
  );
}

function emitNchwToCp(m: WasmModuleBuilder): void {
  m.addFunction(NCHW_TO_CP, ["i32", "i32", "i32", "i32", "i32"], [], (f, src, dst, N, Cout, HW) => {
    const co = f.local("i32");
    const n = f.local("i32");
    const i = f.local("i32");
    const end = f.local("i32");
    const s = f.local("i32");
    const d = f.local("i32");
    const rowBytes = f.local("i32");
    f.get(N).get(HW).i32("mul").i32Const(2).i32("shl").set(rowBytes);
    f.get(HW).i32Const(3).i32("sub").set(end);
    f.forUp(co, Cout, 1, () => {
      f.i32Const(0).set(n);
      f.forUp(n, N, 1, () => {
        // d = dst + co·N·HW·4 + n·HW·4; s = src + (n·Cout + co)·HW·4
        f.get(co).get(rowBytes).i32("mul").get(dst).i32("add");
        f.get(n).get(HW).i32("mul").i32Const(2).i32("shl").i32("add").set(d);
        f.get(n).get(Cout).i32("mul").get(co).i32("add").get(HW).i32("mul").i32Const(2).i32("shl");
        f.get(src).i32("add").set(s);
        f.i32Const(0).set(i);
        f.forUp(i, end, 4, () => {
          f.get(d).get(i).i32Const(2).i32("shl").i32("add");
          f.get(s).get(i).i32Const(2).i32("shl").i32("add").simdMem("v128_load");
          f.simdMem("v128_store");
        });
        f.forUp(i, HW, 1, () => {
          f.get(d).get(i).i32Const(2).i32("shl").i32("add");
          f.get(s).get(i).i32Const(2).i32("shl").i32("add").mem("f32_load");
          f.mem("f32_store");
        });
      });
    });
  });
}

function emitDwRows(m: WasmModuleBuilder): void {
  const R = DW_TILE_CO;
  const T = DW_TILE_K;
  m.addFunction(
    DW_ROWS,
    ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    [],
    (f, dy, cols, Cout, K, P, p0, count, acc) => {
      const coTiles = f.local("i32");
      const kTiles = f.local("i32");
      const ct = f.local("i32");
      const kt = f.local("i32");
      const o = f.local("i32");
      const end = f.local("i32");
      const rowBytes = f.local("i32");
      const pa = f.local("i32");
      const t = f.local("i32");
      const mask = f.local("v128");
      const dRow: Local[] = Array.from({ length: R }, () => f.local("i32"));
      const cRow: Local[] = Array.from({ length: T }, () => f.local("i32"));
      const a: Local[] = Array.from({ length: R * T }, () => f.local("v128"));
      const d: Local[] = Array.from({ length: R }, () => f.local("v128"));
      const c: Local[] = Array.from({ length: T }, () => f.local("v128"));
      f.get(P).i32Const(2).i32("shl").set(rowBytes);
      f.get(Cout)
        .i32Const(R - 1)
        .i32("add")
        .i32Const(R)
        .i32("div_u")
        .set(coTiles);
      f.get(K)
        .i32Const(T - 1)
        .i32("add")
        .i32Const(T)
        .i32("div_u")
        .set(kTiles);
      // Byte offsets within a row: [p0·4, (p0 + count)·4), the last group possibly partial.
      f.get(p0).get(count).i32("add").i32Const(2).i32("shl").set(end);
      // mask lanes l < count mod 4 (all lanes when it is 0; only used for a partial group)
      f.get(count)
        .i32Const(3)
        .i32("and")
        .simd("i32x4_splat")
        .i32x4Const([0, 1, 2, 3])
        .simd("i32x4_gt_s")
        .set(mask);

      /** rowPtr ← base + min(first + i, limit − 1)·rowBytes */
      const rowPointer = (dst: Local, base: Local, tileIdx: Local, size: number, i: number, limit: Local) => {
        f.get(tileIdx).i32Const(size).i32("mul").i32Const(i).i32("add").set(t);
        f.get(t)
          .get(limit)
          .i32Const(1)
          .i32("sub")
          .get(t)
          .get(limit)
          .i32Const(1)
          .i32("sub")
          .i32("lt_s")
          .select();
        f.get(rowBytes).i32("mul").get(base).i32("add").set(dst);
      };
      const body = (masked: boolean) => {
        for (let r = 0; r < R; r++) {
          f.get(dRow[r]!).get(o).i32("add").simdMem("v128_load");
          if (masked) f.get(mask).simd("v128_and");
          f.set(d[r]!);
        }
        for (let q = 0; q < T; q++) {
          f.get(cRow[q]!).get(o).i32("add").simdMem("v128_load");
          // Both operands are masked: a garbage Infinity times a zeroed lane would still give NaN.
          if (masked) f.get(mask).simd("v128_and");
          f.set(c[q]!);
        }
        for (let r = 0; r < R; r++) {
          for (let q = 0; q < T; q++) {
            const x = a[r * T + q]!;
            f.get(x).get(d[r]!).get(c[q]!).simd("f32x4_mul").simd("f32x4_add").set(x);
          }
        }
      };

      f.forUp(ct, coTiles, 1, () => {
        for (let r = 0; r < R; r++) rowPointer(dRow[r]!, dy, ct, R, r, Cout);
        f.i32Const(0).set(kt);
        f.forUp(kt, kTiles, 1, () => {
          for (let q = 0; q < T; q++) rowPointer(cRow[q]!, cols, kt, T, q, K);
          // pa = acc + (ct·kTiles + kt)·R·T·16
          f.get(ct)
            .get(kTiles)
            .i32("mul")
            .get(kt)
            .i32("add")
            .i32Const(R * T * 16)
            .i32("mul")
            .get(acc)
            .i32("add");
          f.set(pa);
          for (let x = 0; x < R * T; x++)
            f.get(pa)
              .simdMem("v128_load", 16 * x)
              .set(a[x]!);
          f.get(p0).i32Const(2).i32("shl").set(o);
          f.block((done) => {
            f.loop((top) => {
              // Full groups of 4 while o + 16 ≤ end.
              f.get(o).i32Const(16).i32("add").get(end).i32("gt_s").brIf(done);
              body(false);
              f.addTo(o, 16);
              f.br(top);
            });
          });
          f.get(o)
            .get(end)
            .i32("lt_s")
            .ifElse(() => body(true));
          for (let x = 0; x < R * T; x++)
            f.get(pa)
              .get(a[x]!)
              .simdMem("v128_store", 16 * x);
        });
      });
    },
  );
}

function emitF32Equal(m: WasmModuleBuilder): void {
  m.addFunction(F32_EQUAL, ["i32", "i32", "i32"], ["i32"], (f, a, b, n) => {
    const i = f.local("i32");
    const end = f.local("i32");
    const diff = f.local("v128");
    f.i32x4Const([0, 0, 0, 0]).set(diff);
    f.get(n).i32Const(3).i32("sub").set(end);
    f.forUp(i, end, 4, () => {
      f.get(diff);
      f.get(a).get(i).i32Const(2).i32("shl").i32("add").simdMem("v128_load");
      f.get(b).get(i).i32Const(2).i32("shl").i32("add").simdMem("v128_load");
      f.simd("v128_xor").simd("v128_or").set(diff);
    });
    f.forUp(i, n, 1, () => {
      f.get(diff);
      f.get(a).get(i).i32Const(2).i32("shl").i32("add").mem("i32_load").simd("i32x4_splat");
      f.get(b).get(i).i32Const(2).i32("shl").i32("add").mem("i32_load").simd("i32x4_splat");
      f.simd("v128_xor").simd("v128_or").set(diff);
    });
    f.get(diff).simd("v128_any_true").i32("eqz");
  });
}
