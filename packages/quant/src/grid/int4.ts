/*
 * Signed 4-bit packing, two values per byte, as ONNX (int4) and TFLite (kTfLiteInt4) store it: element
 * 2i in the low nibble, element 2i+1 in the high nibble, two's complement. An odd count leaves the last
 * high nibble 0. Example: [1, −2] → 0xE1.
 */

/** Pack signed int4 values (each in [−8, 7]) into ceil(n/2) bytes. */
export function packInt4(values: Int32Array | Int8Array): Uint8Array {
  if (!(values instanceof Int32Array || values instanceof Int8Array)) {
    throw new Error("packInt4: values must be an Int32Array or an Int8Array");
  }
  const n = values.length;
  const out = new Uint8Array((n + 1) >> 1);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v < -8 || v > 7) throw new Error(`packInt4: values[${i}] = ${v} is outside the int4 range [-8, 7]`);
    const nibble = v & 0x0f;
    out[i >> 1]! |= (i & 1) === 0 ? nibble : nibble << 4;
  }
  return out;
}

/** Unpack `count` signed int4 values (sign-extended) from packed bytes. */
export function unpackInt4(bytes: Uint8Array, count: number): Int8Array {
  if (!(bytes instanceof Uint8Array)) throw new Error("unpackInt4: bytes must be a Uint8Array");
  if (!Number.isInteger(count) || count < 0 || count > bytes.length * 2) {
    throw new Error(
      `unpackInt4: count ${count} must be an integer in [0, ${bytes.length * 2}] for ${bytes.length} byte(s)`,
    );
  }
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const b = bytes[i >> 1]!;
    const nibble = (i & 1) === 0 ? b & 0x0f : b >> 4;
    out[i] = (nibble << 28) >> 28; // sign-extend the 4-bit value
  }
  return out;
}
