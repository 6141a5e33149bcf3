import { packInt4, unpackInt4 } from "@quant-trim/quant";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

describe("int4 packing", () => {
  it("unpack(pack(v)) = v and the byte layout is low nibble first", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -8, max: 7 }), { maxLength: 33 }), (vs) => {
        const packed = packInt4(Int32Array.from(vs));
        expect(packed.length).toBe(Math.ceil(vs.length / 2));
        expect(Array.from(unpackInt4(packed, vs.length))).toEqual(vs);
        vs.forEach((v, i) => {
          const nibble = i % 2 === 0 ? packed[i >> 1]! & 0x0f : packed[i >> 1]! >> 4;
          expect(nibble).toBe(v & 0x0f);
        });
        if (vs.length % 2 === 1) expect(packed[packed.length - 1]! >> 4).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it("rejects values outside [-8, 7] and impossible counts", () => {
    expect(() => packInt4(Int32Array.of(3, 8))).toThrow(
      /packInt4: values\[1\] = 8 is outside the int4 range \[-8, 7\]/,
    );
    expect(() => packInt4(Int8Array.of(-9))).toThrow(/values\[0\] = -9/);
    expect(() => unpackInt4(Uint8Array.of(1), 3)).toThrow(
      /unpackInt4: count 3 must be an integer in \[0, 2\] for 1 byte/,
    );
    expect(() => packInt4([1] as unknown as Int32Array)).toThrow(
      /packInt4: values must be an Int32Array or an Int8Array/,
    );
  });
});
