/**
 * LEB128, the variable-length integer encoding of the WebAssembly binary format: 7 bits per byte, low
 * group first, the high bit of a byte set when more bytes follow. Signed values are two's complement and
 * the last byte's bit 6 carries the sign, so a decoder can sign-extend.
 */

/** Append the unsigned LEB128 bytes of an integer in [0, 2^32) (indices, sizes, counts, u32 immediates). */
export function pushUnsignedLeb128(out: number[], value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`pushUnsignedLeb128: value must be an integer in [0, 2^32), got ${value}`);
  }
  let v = value;
  do {
    // Division instead of >>> 7: values up to 2^32 − 1 do not fit a signed 32-bit shift.
    const group = v % 128;
    v = Math.floor(v / 128);
    out.push(v === 0 ? group : group | 0x80);
  } while (v !== 0);
}

/** Append the signed LEB128 bytes of an integer in [−2^31, 2^31) (an i32.const immediate). */
export function pushSignedLeb128(out: number[], value: number): void {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new Error(`pushSignedLeb128: value must be an integer in [-2^31, 2^31), got ${value}`);
  }
  pushSignedLeb128Big(out, BigInt(value));
}

/** Append the signed LEB128 bytes of an integer in [−2^63, 2^63) (an i64.const immediate). */
export function pushSignedLeb128Big(out: number[], value: bigint): void {
  if (value < -(1n << 63n) || value >= 1n << 63n) {
    throw new Error(`pushSignedLeb128Big: value must be in [-2^63, 2^63), got ${value}`);
  }
  let v = value;
  for (;;) {
    const group = Number(v & 0x7fn);
    v >>= 7n; // arithmetic: negative values stay negative
    // Done once the rest is pure sign and the sign bit of this group already says so.
    const done = (v === 0n && (group & 0x40) === 0) || (v === -1n && (group & 0x40) !== 0);
    out.push(done ? group : group | 0x80);
    if (done) return;
  }
}
