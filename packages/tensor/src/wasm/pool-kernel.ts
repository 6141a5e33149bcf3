/**
 * WebAssembly code for max pooling (the glue is `pool.ts`). The selection rule is the `js` kernel's,
 * written without branches: an element replaces the current best when it is the window's first, when it
 * is greater, or when it is NaN (so NaN wins, the last NaN in window order; ties keep the first). Values
 * and indices therefore match the `js` backend exactly, and random data costs no mispredicted branches.
 *
 * - `maxpool_generic`: any kernel, stride, padding and dilation; the window taps that fall inside the
 *   input come from tables the glue computes once per call (`rowLo/rowHi/colLo/colHi`).
 * - `maxpool_2x2`: kernel 2, stride 2, no padding or dilation (the CNN's pooling), four outputs per
 *   step: two input rows are loaded as eight floats each, split into even and odd columns by shuffles,
 *   and the four candidates of each window are compared lane-wise with their indices alongside.
 * - `relu_maxpool_generic`, `relu_maxpool_2x2`: the same, each loaded value first mapped by the `js`
 *   ReLU rule (the fused conv → ReLU → pool pools the convolution's output in place, conv-relu-pool.ts).
 *
 * The gradient stays with the `js` kernel: it is a plain scatter-add into a fresh (zeroed) array with no
 * data-dependent branch, and measured 1.3 ms in js against 1.7 ms in wasm on the CNN's [64, 8, 28, 28]
 * (the wasm version has to copy dy, the indices and dx across the boundary).
 */
import type { FunctionBuilder, Local, WasmModuleBuilder } from "./assembler.js";

export const MAXPOOL_GENERIC = "maxpool_generic";
export const MAXPOOL_2X2 = "maxpool_2x2";
/** The same two kernels pooling relu(x) (the fused conv → ReLU → pool, see conv-relu-pool.ts). */
export const RELU_MAXPOOL_GENERIC = "relu_maxpool_generic";
export const RELU_MAXPOOL_2X2 = "relu_maxpool_2x2";

type GenericPool = (
  x: number,
  out: number,
  idx: number,
  planes: number,
  H: number,
  W: number,
  Hout: number,
  Wout: number,
  sH: number,
  sW: number,
  pH: number,
  pW: number,
  dH: number,
  dW: number,
  taps: number,
) => void;
type Pool2x2 = (x: number, out: number, idx: number, planes: number, H: number, W: number) => void;

export interface PoolExports {
  [MAXPOOL_GENERIC]: GenericPool;
  [MAXPOOL_2X2]: Pool2x2;
  [RELU_MAXPOOL_GENERIC]: GenericPool;
  [RELU_MAXPOOL_2X2]: Pool2x2;
}

export function emitPool(m: WasmModuleBuilder): void {
  emitGeneric(m, MAXPOOL_GENERIC, false);
  emit2x2(m, MAXPOOL_2X2, false);
  emitGeneric(m, RELU_MAXPOOL_GENERIC, true);
  emit2x2(m, RELU_MAXPOOL_2X2, true);
}

/** v ← relu(v) with the `js` rule: v when v > 0 or NaN, else +0 (so −0 becomes +0, NaN passes). */
function reluScalar(f: FunctionBuilder, v: Local): void {
  f.get(v).f32Const(0);
  f.get(v).f32Const(0).f32("gt");
  f.get(v).get(v).f32("ne").i32("or");
  f.select().set(v);
}

/** Lane-wise reluScalar of v128 `v` (`zero` holds four +0). */
function reluLanes(f: FunctionBuilder, v: Local, zero: Local): void {
  f.get(v).get(zero);
  f.get(v).get(zero).simd("f32x4_gt");
  f.get(v).get(v).simd("f32x4_ne").simd("v128_or");
  f.simd("v128_bitselect").set(v);
}

/** best/bestAt ← v/at when bestAt < 0, v > best, or v is NaN. */
function consider(f: FunctionBuilder, v: Local, at: Local, best: Local, bestAt: Local, take: Local): void {
  f.get(bestAt).i32Const(0).i32("lt_s");
  f.get(v).get(best).f32("gt").i32("or");
  f.get(v).get(v).f32("ne").i32("or").set(take);
  f.get(v).get(best).get(take).select().set(best);
  f.get(at).get(bestAt).get(take).select().set(bestAt);
}

function emitGeneric(m: WasmModuleBuilder, name: string, relu: boolean): void {
  m.addFunction(
    name,
    new Array(15).fill("i32") as "i32"[],
    [],
    (f, x, out, idx, planes, H, W, Hout, Wout, sH, sW, pH, pW, dH, dW, taps) => {
      const nc = f.local("i32");
      const oh = f.local("i32");
      const ow = f.local("i32");
      const ki = f.local("i32");
      const kj = f.local("i32");
      const kiHi = f.local("i32");
      const kjLo = f.local("i32");
      const kjHi = f.local("i32");
      const ih0 = f.local("i32");
      const iw0 = f.local("i32");
      const row = f.local("i32");
      const at = f.local("i32");
      const base = f.local("i32");
      const k = f.local("i32");
      const take = f.local("i32");
      const best = f.local("f32");
      const v = f.local("f32");
      const bestAt = f.local("i32");
      const planeBytes = f.local("i32");
      // taps: rowLo[Hout], rowHi[Hout], colLo[Wout], colHi[Wout] as int32.
      const load = (tableOffsetInts: () => void, i: Local) => {
        f.get(taps);
        tableOffsetInts();
        f.get(i).i32("add").i32Const(2).i32("shl").i32("add").mem("i32_load");
      };
      const rowLo = (i: Local) => load(() => f.i32Const(0), i);
      const rowHi = (i: Local) => load(() => f.get(Hout), i);
      const colLo = (i: Local) => load(() => f.get(Hout).i32Const(1).i32("shl"), i);
      const colHi = (i: Local) => load(() => f.get(Hout).i32Const(1).i32("shl").get(Wout).i32("add"), i);
      f.get(H).get(W).i32("mul").i32Const(2).i32("shl").set(planeBytes);
      f.get(x).set(base);
      f.forUp(nc, planes, 1, () => {
        f.i32Const(0).set(oh);
        f.forUp(oh, Hout, 1, () => {
          f.get(oh).get(sH).i32("mul").get(pH).i32("sub").set(ih0);
          rowHi(oh);
          f.set(kiHi);
          f.i32Const(0).set(ow);
          f.forUp(ow, Wout, 1, () => {
            f.get(ow).get(sW).i32("mul").get(pW).i32("sub").set(iw0);
            colLo(ow);
            f.set(kjLo);
            colHi(ow);
            f.set(kjHi);
            f.f32Const(Number.NEGATIVE_INFINITY).set(best);
            f.i32Const(-1).set(bestAt);
            rowLo(oh);
            f.set(ki);
            f.forUp(ki, kiHi, 1, () => {
              f.get(ki).get(dH).i32("mul").get(ih0).i32("add").get(W).i32("mul").get(iw0).i32("add").set(row);
              f.get(kjLo).set(kj);
              f.forUp(kj, kjHi, 1, () => {
                f.get(kj).get(dW).i32("mul").get(row).i32("add").set(at);
                f.get(base).get(at).i32Const(2).i32("shl").i32("add").mem("f32_load").set(v);
                if (relu) reluScalar(f, v);
                consider(f, v, at, best, bestAt, take);
              });
            });
            f.get(out).get(k).i32Const(2).i32("shl").i32("add").get(best).mem("f32_store");
            f.get(idx).get(k).i32Const(2).i32("shl").i32("add").get(bestAt).mem("i32_store");
            f.addTo(k, 1);
          });
        });
        f.get(base).get(planeBytes).i32("add").set(base);
      });
    },
  );
}

function emit2x2(m: WasmModuleBuilder, name: string, relu: boolean): void {
  m.addFunction(name, ["i32", "i32", "i32", "i32", "i32", "i32"], [], (f, x, out, idx, planes, H, W) => {
    const Hout = f.local("i32");
    const Wout = f.local("i32");
    const nc = f.local("i32");
    const oh = f.local("i32");
    const ow = f.local("i32");
    const owVec = f.local("i32");
    const r0 = f.local("i32");
    const i0 = f.local("i32");
    const k = f.local("i32");
    const rowBytes = f.local("i32");
    const plane = f.local("i32");
    const take = f.local("i32");
    const at = f.local("i32");
    const bestAt = f.local("i32");
    const v = f.local("f32");
    const best = f.local("f32");
    const lo = f.local("v128");
    const hi = f.local("v128");
    const cand = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
    const bestV = f.local("v128");
    const bestI = f.local("v128");
    const baseI = f.local("v128");
    const takeV = f.local("v128");
    const ci = f.local("v128");
    const zero = f.local("v128");
    const even = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
    const odd = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31];
    f.get(H).i32Const(1).i32("shr_u").set(Hout);
    f.get(W).i32Const(1).i32("shr_u").set(Wout);
    f.get(W).i32Const(2).i32("shl").set(rowBytes);
    f.get(Wout).i32Const(3).i32("sub").set(owVec);
    f.i32x4Const([0, 0, 0, 0]).set(zero);
    f.forUp(nc, planes, 1, () => {
      f.get(nc).get(H).i32("mul").get(W).i32("mul").set(plane);
      f.i32Const(0).set(oh);
      f.forUp(oh, Hout, 1, () => {
        // i0: index within the plane of the window row's first element; r0: its address.
        f.get(oh).i32Const(1).i32("shl").get(W).i32("mul").set(i0);
        f.get(plane).get(i0).i32("add").i32Const(2).i32("shl").get(x).i32("add").set(r0);
        f.i32Const(0).set(ow);
        // Four windows ow … ow + 3 of the row, their outputs at k.
        const vectorStep = () => {
          for (let r = 0; r < 2; r++) {
            const addr = () => {
              f.get(r0).get(ow).i32Const(3).i32("shl").i32("add");
              if (r === 1) f.get(rowBytes).i32("add");
            };
            addr();
            f.simdMem("v128_load").set(lo);
            addr();
            f.simdMem("v128_load", 16).set(hi);
            f.get(lo)
              .get(hi)
              .shuffle(even)
              .set(cand[2 * r]!);
            f.get(lo)
              .get(hi)
              .shuffle(odd)
              .set(cand[2 * r + 1]!);
          }
          if (relu) for (const c of cand) reluLanes(f, c, zero);
          // Indices of the (0, 0) candidates: i0 + 2·ow + [0, 2, 4, 6].
          f.get(i0).get(ow).i32Const(1).i32("shl").i32("add").simd("i32x4_splat");
          f.i32x4Const([0, 2, 4, 6]).simd("i32x4_add").set(baseI);
          f.get(cand[0]!).set(bestV);
          f.get(baseI).set(bestI);
          for (let c = 1; c < 4; c++) {
            f.get(cand[c]!).get(bestV).simd("f32x4_gt");
            f.get(cand[c]!).get(cand[c]!).simd("f32x4_ne").simd("v128_or").set(takeV);
            f.get(cand[c]!).get(bestV).get(takeV).simd("v128_bitselect").set(bestV);
            // index offset of candidate c: (0, 1) → +1, (1, 0) → +W, (1, 1) → +W + 1
            f.get(baseI);
            if (c === 1) f.i32Const(1);
            else
              f.get(W)
                .i32Const(c === 3 ? 1 : 0)
                .i32("add");
            f.simd("i32x4_splat").simd("i32x4_add").set(ci);
            f.get(ci).get(bestI).get(takeV).simd("v128_bitselect").set(bestI);
          }
          f.get(out).get(k).i32Const(2).i32("shl").i32("add").get(bestV).simdMem("v128_store");
          f.get(idx).get(k).i32Const(2).i32("shl").i32("add").get(bestI).simdMem("v128_store");
        };
        f.forUp(ow, owVec, 4, () => {
          vectorStep();
          f.addTo(k, 4);
        });
        // A tail of 1–3 windows, when the row has at least four: one more vector step on the row's last
        // four windows, recomputing (and rewriting with the same values) up to three. On the CNN's
        // second pooling (7 outputs per row) this replaces three scalar windows per row.
        f.get(ow).get(Wout).i32("lt_s").get(Wout).i32Const(4).i32("ge_s").i32("and");
        f.ifElse(() => {
          f.get(k).get(Wout).i32Const(4).i32("sub").get(ow).i32("sub").i32("add").set(k);
          f.get(Wout).i32Const(4).i32("sub").set(ow);
          vectorStep();
          f.addTo(k, 4);
          f.get(Wout).set(ow);
        });
        // Rows of fewer than four windows, one window at a time.
        f.forUp(ow, Wout, 1, () => {
          f.i32Const(-1).set(bestAt);
          f.f32Const(Number.NEGATIVE_INFINITY).set(best);
          for (const [dr, dc] of [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
          ] as const) {
            f.get(i0).get(ow).i32Const(1).i32("shl").i32("add").i32Const(dc).i32("add");
            if (dr === 1) f.get(W).i32("add");
            f.set(at);
            f.get(plane).get(at).i32("add").i32Const(2).i32("shl").get(x).i32("add").mem("f32_load").set(v);
            if (relu) reluScalar(f, v);
            consider(f, v, at, best, bestAt, take);
          }
          f.get(out).get(k).i32Const(2).i32("shl").i32("add").get(best).mem("f32_store");
          f.get(idx).get(k).i32Const(2).i32("shl").i32("add").get(bestAt).mem("i32_store");
          f.addTo(k, 1);
        });
      });
    });
  });
}
