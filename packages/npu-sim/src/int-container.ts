import { checkGridSpec, type GridSpec, qRange } from "@quant-trim/quant";
import type { IntArray } from "./overflow.js";

/*
 * Which typed array holds the codes of a grid. Codes are stored unpacked, one per element, in the
 * narrowest container that holds the grid's whole range (4-bit codes sit in 8-bit containers; packed
 * INT4 is a storage format handled by quant's packInt4/unpackInt4). Unsigned grids wider than 8 bits use
 * Int32Array because the kernels' container set has no Uint16Array.
 */

export type IntContainer = "int8" | "uint8" | "int16" | "int32";

/** The container of a grid's codes. */
export function containerForSpec(spec: GridSpec): IntContainer {
  checkGridSpec(spec, "containerForSpec");
  if (spec.signed) return spec.bits <= 8 ? "int8" : "int16";
  return spec.bits <= 8 ? "uint8" : "int32";
}

/** A zeroed array of `length` codes in the container of `spec`. */
export function allocateIntArray(spec: GridSpec, length: number): IntArray {
  return allocateContainer(containerForSpec(spec), length);
}

export function allocateContainer(container: IntContainer, length: number): IntArray {
  if (!Number.isInteger(length) || length < 0) {
    throw new Error(`allocateContainer: length must be a non-negative integer, got ${length}`);
  }
  switch (container) {
    case "int8":
      return new Int8Array(length);
    case "uint8":
      return new Uint8Array(length);
    case "int16":
      return new Int16Array(length);
    case "int32":
      return new Int32Array(length);
    default:
      throw new Error(`allocateContainer: unknown container ${JSON.stringify(container)}`);
  }
}

/** A zeroed array of the same container type as `like`. */
export function allocateLike(like: IntArray, length: number): IntArray {
  return allocateContainer(containerOf(like), length);
}

export function isIntArray(x: unknown): x is IntArray {
  return (
    x instanceof Int8Array || x instanceof Uint8Array || x instanceof Int16Array || x instanceof Int32Array
  );
}

/** The container type of an integer array; throws for anything else. */
export function containerOf(x: IntArray): IntContainer {
  if (x instanceof Int8Array) return "int8";
  if (x instanceof Uint8Array) return "uint8";
  if (x instanceof Int16Array) return "int16";
  if (x instanceof Int32Array) return "int32";
  throw new Error("containerOf: expected an Int8Array, Uint8Array, Int16Array or Int32Array");
}

const RANGES: Readonly<Record<IntContainer, { min: number; max: number }>> = Object.freeze({
  int8: Object.freeze({ min: -128, max: 127 }),
  uint8: Object.freeze({ min: 0, max: 255 }),
  int16: Object.freeze({ min: -32768, max: 32767 }),
  int32: Object.freeze({ min: -2147483648, max: 2147483647 }),
});

/** The integer range each container can hold. */
export function containerRange(out: IntArray): { min: number; max: number } {
  return RANGES[containerOf(out)];
}

/**
 * Throw unless every element of `q` lies in the grid's range: a code outside it means the data and
 * the spec disagree (a uint8 tensor read with an int8 spec, say), which no kernel should paper over.
 */
export function checkCodesInRange(fn: string, name: string, q: IntArray, spec: GridSpec): void {
  const { qmin, qmax } = qRange(spec);
  for (let i = 0; i < q.length; i++) {
    const v = q[i]!;
    if (v < qmin || v > qmax) {
      throw new Error(`${fn}: ${name}[${i}] = ${v} is outside the grid's range [${qmin}, ${qmax}]`);
    }
  }
}
