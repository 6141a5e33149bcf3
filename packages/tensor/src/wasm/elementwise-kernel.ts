/**
 * WebAssembly code for contiguous float32 elementwise ops (the glue is `elementwise.ts`): four floats
 * per step, a scalar loop for the rest. Every result is bit-for-bit the `js` backend's: a float32
 * add, subtract, multiply or divide is correctly rounded in both (JavaScript computes in float64 and
 * rounds once on store, which for one operation on float32 operands gives the same float32), and
 * comparisons and ReLU only select.
 */
import type { FunctionBuilder, Local, WasmModuleBuilder } from "./assembler.js";
import type { SIMD_OPS } from "./opcodes.js";

export const ARITHMETIC = ["add", "sub", "mul", "div"] as const;
export type ArithmeticOp = (typeof ARITHMETIC)[number];
export const COMPARISONS = ["gt", "ge", "lt", "le", "eq", "ne"] as const;
export type ComparisonOp = (typeof COMPARISONS)[number];

/** Export names. */
export const RELU = "ew_relu";
export const binaryName = (op: ArithmeticOp) => `ew_${op}`;
/** `a op s`, or `s op a` when `swap` is 1. */
export const scalarName = (op: ArithmeticOp) => `ew_${op}_scalar`;
/** 1 where `a op s` holds, else 0. */
export const compareName = (op: ComparisonOp) => `ew_cmp_${op}`;

export type ElementwiseExports = Record<string, (...args: number[]) => void>;

const F32X4: Record<ArithmeticOp, keyof typeof SIMD_OPS> = {
  add: "f32x4_add",
  sub: "f32x4_sub",
  mul: "f32x4_mul",
  div: "f32x4_div",
};
const F32: Record<ArithmeticOp, "add" | "sub" | "mul" | "div"> = {
  add: "add",
  sub: "sub",
  mul: "mul",
  div: "div",
};

export function emitElementwise(m: WasmModuleBuilder): void {
  emitRelu(m);
  for (const op of ARITHMETIC) {
    emitBinary(m, op);
    emitScalar(m, op);
  }
  for (const op of COMPARISONS) emitCompare(m, op);
}

/**
 * `for i in [0, n): body(address offset 4i)`: vector steps of 4 while i + 4 ≤ n, then single floats.
 * `vector(o)` and `scalar(o)` emit one step with `o` the byte offset local.
 */
function loop4(f: FunctionBuilder, n: Local, vector: (o: Local) => void, scalar: (o: Local) => void): void {
  const o = f.local("i32");
  const end = f.local("i32");
  const endVec = f.local("i32");
  f.get(n).i32Const(2).i32("shl").set(end);
  f.get(end).i32Const(12).i32("sub").set(endVec);
  f.forUp(o, endVec, 16, () => vector(o));
  f.forUp(o, end, 4, () => scalar(o));
}

const at = (f: FunctionBuilder, base: Local, o: Local) => f.get(base).get(o).i32("add");

function emitRelu(m: WasmModuleBuilder): void {
  // x where x > 0 or x is NaN, else +0 (−0 becomes +0, NaN keeps its bits): as the js kernel.
  m.addFunction(RELU, ["i32", "i32", "i32"], [], (f, src, dst, n) => {
    const v = f.local("v128");
    const x = f.local("f32");
    loop4(
      f,
      n,
      (o) => {
        at(f, dst, o);
        at(f, src, o).simdMem("v128_load").set(v);
        f.get(v).i32x4Const([0, 0, 0, 0]);
        f.get(v).i32x4Const([0, 0, 0, 0]).simd("f32x4_gt");
        f.get(v).get(v).simd("f32x4_ne").simd("v128_or");
        f.simd("v128_bitselect").simdMem("v128_store");
      },
      (o) => {
        at(f, dst, o);
        at(f, src, o).mem("f32_load").set(x);
        f.get(x).f32Const(0);
        f.get(x).f32Const(0).f32("gt").get(x).get(x).f32("ne").i32("or");
        f.select().mem("f32_store");
      },
    );
  });
}

function emitBinary(m: WasmModuleBuilder, op: ArithmeticOp): void {
  m.addFunction(binaryName(op), ["i32", "i32", "i32", "i32"], [], (f, a, b, dst, n) => {
    loop4(
      f,
      n,
      (o) => {
        at(f, dst, o);
        at(f, a, o).simdMem("v128_load");
        at(f, b, o).simdMem("v128_load");
        f.simd(F32X4[op]).simdMem("v128_store");
      },
      (o) => {
        at(f, dst, o);
        at(f, a, o).mem("f32_load");
        at(f, b, o).mem("f32_load");
        f.f32(F32[op]).mem("f32_store");
      },
    );
  });
}

function emitScalar(m: WasmModuleBuilder, op: ArithmeticOp): void {
  m.addFunction(scalarName(op), ["i32", "f32", "i32", "i32", "i32"], [], (f, a, s, dst, n, swap) => {
    const sv = f.local("v128");
    f.get(s).simd("f32x4_splat").set(sv);
    const body = (swapped: boolean) =>
      loop4(
        f,
        n,
        (o) => {
          at(f, dst, o);
          if (swapped) f.get(sv);
          at(f, a, o).simdMem("v128_load");
          if (!swapped) f.get(sv);
          f.simd(F32X4[op]).simdMem("v128_store");
        },
        (o) => {
          at(f, dst, o);
          if (swapped) f.get(s);
          at(f, a, o).mem("f32_load");
          if (!swapped) f.get(s);
          f.f32(F32[op]).mem("f32_store");
        },
      );
    f.get(swap).ifElse(
      () => body(true),
      () => body(false),
    );
  });
}

const CMP_F32X4: Record<ComparisonOp, keyof typeof SIMD_OPS> = {
  gt: "f32x4_gt",
  ge: "f32x4_ge",
  lt: "f32x4_lt",
  le: "f32x4_le",
  eq: "f32x4_eq",
  ne: "f32x4_ne",
};

function emitCompare(m: WasmModuleBuilder, op: ComparisonOp): void {
  m.addFunction(compareName(op), ["i32", "f32", "i32", "i32"], [], (f, a, s, dst, n) => {
    const sv = f.local("v128");
    f.get(s).simd("f32x4_splat").set(sv);
    loop4(
      f,
      n,
      (o) => {
        // The all-ones lane mask ANDed with the bits of 1.0f gives 1.0f or +0.
        at(f, dst, o);
        at(f, a, o).simdMem("v128_load").get(sv).simd(CMP_F32X4[op]);
        f.f32x4Const([1, 1, 1, 1]).simd("v128_and").simdMem("v128_store");
      },
      (o) => {
        at(f, dst, o);
        at(f, a, o).mem("f32_load").get(s).f32(op);
        f.f32("convert_i32_s").mem("f32_store");
      },
    );
  });
}
