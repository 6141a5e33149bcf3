/*
 * A tiny protobuf wire-format writer, written from the encoding spec, so that tests can produce ONNX
 * bytes independently of protobufjs: to decode what another producer would write, and to check the
 * encoder's bytes field by field.
 */

const utf8 = new TextEncoder();

/** Base-128 varint of a non-negative integer or of an int64 in two's complement (10 bytes if negative). */
export function varint(v: number | bigint): number[] {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) byte |= 0x80;
    out.push(byte);
  } while (x !== 0n);
  return out;
}

const tag = (id: number, wireType: number): number[] => varint((id << 3) | wireType);

/** A varint field (wire type 0). */
export const vfield = (id: number, v: number | bigint): number[] => [...tag(id, 0), ...varint(v)];

/** A length-delimited field (wire type 2) around raw payload bytes. */
export const lfield = (id: number, payload: ArrayLike<number>): number[] => [
  ...tag(id, 2),
  ...varint(payload.length),
  ...Array.from(payload),
];

/** A string field. */
export const sfield = (id: number, s: string): number[] => lfield(id, utf8.encode(s));

/** A 32-bit little-endian float as four bytes. */
export function float32Bytes(x: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return Array.from(b);
}

/** A packed repeated float field. */
export const packedFloats = (id: number, xs: readonly number[]): number[] =>
  lfield(id, xs.flatMap(float32Bytes));

/** A packed repeated varint field. */
export const packedVarints = (id: number, xs: readonly (number | bigint)[]): number[] =>
  lfield(
    id,
    xs.flatMap((x) => varint(x)),
  );

/** A fixed32 field (wire type 5), e.g. an unpacked float. */
export const f32field = (id: number, x: number): number[] => [...tag(id, 5), ...float32Bytes(x)];
