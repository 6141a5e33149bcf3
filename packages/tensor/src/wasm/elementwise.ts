/**
 * The `wasm` backend's elementwise fast paths: contiguous float32 tensors of at least `MIN_ELEMENTS`
 * elements, for ReLU, the four arithmetic ops (two same-shape tensors, or a tensor and a number) and the
 * comparisons with a number. Everything else — smaller tensors, float64, broadcasting, strided views —
 * is declined (null) and runs the `js` loops. Results are bit-for-bit those of the `js` backend (see
 * elementwise-kernel.ts).
 *
 * Why the size limit: the operands are copied into WebAssembly memory and the result out, which costs a
 * few microseconds of fixed overhead; the gain is in long arrays, where the SIMD loop has no branch to
 * mispredict (ReLU and comparisons on random signs are what makes the js loops slow).
 */
import type { BinaryFastPath, UnaryFastPath } from "../elementwise.js";
import { Tensor, type TypedData } from "../tensor.js";
import {
  type ArithmeticOp,
  binaryName,
  type ComparisonOp,
  compareName,
  RELU,
  scalarName,
} from "./elementwise-kernel.js";
import { type WasmRuntime, wasmRuntime } from "./runtime.js";

export const MIN_ELEMENTS = 4096;

const ARITHMETIC: Record<string, ArithmeticOp> = { add: "add", sub: "sub", mul: "mul", div: "div" };
const COMPARISON: Record<string, ComparisonOp> = {
  greater: "gt",
  greaterEqual: "ge",
  less: "lt",
  lessEqual: "le",
  equal: "eq",
  notEqual: "ne",
};
/** `s op a` as `a op' s`. */
const MIRROR: Record<ComparisonOp, ComparisonOp> = {
  gt: "lt",
  ge: "le",
  lt: "gt",
  le: "ge",
  eq: "eq",
  ne: "ne",
};

function eligible(x: Tensor | number): x is Tensor {
  return x instanceof Tensor && x.dtype === "float32" && x.size >= MIN_ELEMENTS && x.isContiguous();
}

function copyIn(rt: WasmRuntime, x: Tensor, ptr: number): void {
  rt.heap.f32().set(x.data.subarray(x.offset, x.offset + x.size), ptr >> 2);
}

function copyOut(rt: WasmRuntime, ptr: number, n: number, shape: readonly number[]): Tensor {
  const out = new Float32Array(n);
  out.set(rt.heap.f32().subarray(ptr >> 2, (ptr >> 2) + n));
  return new Tensor(out as TypedData, shape);
}

export const unaryFastWasm: UnaryFastPath = (op, x) => {
  if (op !== "relu" || !eligible(x)) return null;
  const rt = wasmRuntime();
  const n = x.size;
  const buf = rt.heap.alloc(n * 4);
  try {
    copyIn(rt, x, buf);
    (rt.exports[RELU] as (s: number, d: number, n: number) => void)(buf, buf, n);
    return copyOut(rt, buf, n, x.shape);
  } finally {
    rt.heap.release(buf);
  }
};

export const binaryFastWasm: BinaryFastPath = (op, a, b) => {
  const arithmetic = ARITHMETIC[op];
  const comparison = COMPARISON[op];
  if (arithmetic === undefined && comparison === undefined) return null;
  const ex = () => wasmRuntime().exports as unknown as Record<string, (...args: number[]) => void>;
  if (a instanceof Tensor && b instanceof Tensor) {
    if (arithmetic === undefined || !eligible(a) || !eligible(b) || !sameShape(a.shape, b.shape)) return null;
    const rt = wasmRuntime();
    const n = a.size;
    const pa = rt.heap.alloc(n * 4);
    const pb = rt.heap.alloc(n * 4);
    try {
      copyIn(rt, a, pa);
      copyIn(rt, b, pb);
      ex()[binaryName(arithmetic)]!(pa, pb, pa, n);
      return copyOut(rt, pa, n, a.shape);
    } finally {
      rt.heap.release(pb);
      rt.heap.release(pa);
    }
  }
  const swap = typeof a === "number";
  const t = swap ? b : a;
  const s = swap ? a : b;
  if (typeof s !== "number" || !eligible(t)) return null;
  const rt = wasmRuntime();
  const n = t.size;
  const buf = rt.heap.alloc(n * 4);
  try {
    copyIn(rt, t, buf);
    // A number operand is rounded to float32 first, as the js kernels do (the f32 parameter does it).
    if (arithmetic !== undefined) ex()[scalarName(arithmetic)]!(buf, s, buf, n, swap ? 1 : 0);
    else ex()[compareName(swap ? MIRROR[comparison!] : comparison!)]!(buf, s, buf, n);
    return copyOut(rt, buf, n, t.shape);
  } finally {
    rt.heap.release(buf);
  }
};

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
