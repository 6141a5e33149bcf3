/*
 * Integer activations as the GEMM and convolution kernels take them: uint8 or int8 codes, row-major,
 * with one zero point for the whole tensor (real value = scale · (q − zeroPoint); the scale only
 * matters to the output stage, so it is not carried here).
 */

export interface IntActivations {
  readonly data: Uint8Array | Int8Array;
  readonly shape: readonly number[];
  /** Inside the container's range: [0, 255] for Uint8Array, [−128, 127] for Int8Array. */
  readonly zeroPoint: number;
}

const FIELDS = new Set(["data", "shape", "zeroPoint"]);

/**
 * Validate activations of the given rank and return the shape. Errors name `fn` and the argument:
 * an unknown field, a container other than Uint8Array/Int8Array, a shape of the wrong rank or that
 * does not match the data length, a zero point outside the container's range.
 */
export function checkActivations(fn: string, name: string, a: IntActivations, rank: number): number[] {
  if (a === null || typeof a !== "object") {
    throw new Error(`${fn}: ${name} must be { data, shape, zeroPoint }`);
  }
  for (const key of Object.keys(a)) {
    if (!FIELDS.has(key)) {
      throw new Error(`${fn}: ${name} has an unknown field '${key}'; known fields: data, shape, zeroPoint`);
    }
  }
  if (!(a.data instanceof Uint8Array || a.data instanceof Int8Array)) {
    throw new Error(`${fn}: ${name}.data must be a Uint8Array or an Int8Array`);
  }
  const shape = a.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== rank ||
    !shape.every((d) => typeof d === "number" && Number.isInteger(d) && d >= 0)
  ) {
    throw new Error(
      `${fn}: ${name}.shape must be ${rank} non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  const size = shape.reduce((p, d) => p * d, 1);
  if (a.data.length !== size) {
    throw new Error(
      `${fn}: ${name}.data has length ${a.data.length} but ${name}.shape [${shape.join(", ")}] needs ${size}`,
    );
  }
  const { min, max } = activationRange(a.data);
  const zp = a.zeroPoint;
  if (typeof zp !== "number" || !Number.isInteger(zp) || zp < min || zp > max) {
    throw new Error(
      `${fn}: ${name}.zeroPoint = ${String(zp)} is outside the ${a.data instanceof Uint8Array ? "uint8" : "int8"} range [${min}, ${max}]`,
    );
  }
  return [...shape];
}

export function activationRange(data: Uint8Array | Int8Array): { min: number; max: number } {
  return data instanceof Uint8Array ? { min: 0, max: 255 } : { min: -128, max: 127 };
}
