/**
 * The WebAssembly assembler behind the wasm backend: LEB128, the byte layout of small modules written
 * out by hand from the binary-format specification, validation of every module it emits, and every
 * opcode in its tables executed and compared with the instruction's definition.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FunctionBuilder, WasmModuleBuilder } from "../../packages/tensor/src/wasm/assembler.js";
import {
  pushSignedLeb128,
  pushSignedLeb128Big,
  pushUnsignedLeb128,
} from "../../packages/tensor/src/wasm/leb128.js";
import {
  F32_OPS,
  I32_OPS,
  I64_OPS,
  MEMORY_OPS,
  SIMD_LANE_OPS,
  SIMD_MEMORY_OPS,
  SIMD_OPS,
} from "../../packages/tensor/src/wasm/opcodes.js";
import { kernelModuleBytes } from "../../packages/tensor/src/wasm/runtime.js";
import { relaxedSimdSupported } from "../../packages/tensor/src/wasm/simd-support.js";
import { webAssembly } from "../../packages/tensor/src/wasm/wasm-api.js";

const wa = webAssembly()!;

const hex = (bytes: ArrayLike<number>) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");

/** Independent LEB128 decoders (BigInt arithmetic, no shortcuts shared with the encoder). */
function decodeUnsigned(bytes: number[]): bigint {
  let v = 0n;
  bytes.forEach((b, i) => {
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
  });
  return v;
}
function decodeSigned(bytes: number[]): bigint {
  const v = decodeUnsigned(bytes);
  const bits = BigInt(7 * bytes.length);
  return (bytes[bytes.length - 1]! & 0x40) !== 0 ? v - (1n << bits) : v;
}

interface Instance {
  exports: Record<string, unknown> & { memory: { buffer: ArrayBuffer } };
}
function instantiate(m: WasmModuleBuilder): Instance {
  const bytes = m.encode();
  expect(wa.validate(bytes)).toBe(true);
  return new wa.Instance(new wa.Module(bytes), {}) as unknown as Instance;
}

describe("LEB128", () => {
  it("encodes known values as the format specifies", () => {
    const u = (v: number) => {
      const out: number[] = [];
      pushUnsignedLeb128(out, v);
      return hex(out);
    };
    const s = (v: number) => {
      const out: number[] = [];
      pushSignedLeb128(out, v);
      return hex(out);
    };
    expect(u(0)).toBe("00");
    expect(u(127)).toBe("7f");
    expect(u(128)).toBe("80 01");
    expect(u(624485)).toBe("e5 8e 26");
    expect(u(0xffffffff)).toBe("ff ff ff ff 0f");
    expect(s(0)).toBe("00");
    expect(s(63)).toBe("3f");
    expect(s(64)).toBe("c0 00"); // bit 6 would read as a sign: one more byte
    expect(s(-1)).toBe("7f");
    expect(s(-64)).toBe("40");
    expect(s(-65)).toBe("bf 7f");
    expect(s(-123456)).toBe("c0 bb 78");
    expect(s(-0x80000000)).toBe("80 80 80 80 78");
  });

  it("round-trips every 32-bit and 64-bit integer through an independent decoder", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        const out: number[] = [];
        pushUnsignedLeb128(out, v);
        return decodeUnsigned(out) === BigInt(v) && out.length <= 5;
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (v) => {
        const out: number[] = [];
        pushSignedLeb128(out, v);
        return decodeSigned(out) === BigInt(v) && out.length <= 5;
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (v) => {
        const out: number[] = [];
        pushSignedLeb128Big(out, v);
        return decodeSigned(out) === v && out.length <= 10;
      }),
      { numRuns: 300 },
    );
  });

  it("rejects values outside the encodable range", () => {
    expect(() => pushUnsignedLeb128([], -1)).toThrow(/pushUnsignedLeb128: value must be an integer/);
    expect(() => pushUnsignedLeb128([], 2 ** 32)).toThrow(/pushUnsignedLeb128/);
    expect(() => pushSignedLeb128([], 2 ** 31)).toThrow(/pushSignedLeb128/);
    expect(() => pushSignedLeb128([], 0.5)).toThrow(/pushSignedLeb128/);
    expect(() => pushSignedLeb128Big([], 1n << 63n)).toThrow(/pushSignedLeb128Big/);
  });
});

describe("module encoding", () => {
  it("an empty module is the magic number and version only", () => {
    expect(hex(new WasmModuleBuilder().encode())).toBe("00 61 73 6d 01 00 00 00");
  });

  it("an exported i32 add function has the specification's byte layout and runs", () => {
    const m = new WasmModuleBuilder();
    m.addFunction("add", ["i32", "i32"], ["i32"], (f, a, b) => {
      f.get(a).get(b).i32("add");
    });
    const expected = [
      "00 61 73 6d 01 00 00 00", // magic, version 1
      "01 07 01 60 02 7f 7f 01 7f", // type section: 1 type, func (i32, i32) -> i32
      "03 02 01 00", // function section: 1 function of type 0
      "07 07 01 03 61 64 64 00 00", // export section: "add", function 0
      "0a 09 01 07 00 20 00 20 01 6a 0b", // code: no locals; local.get 0, local.get 1, i32.add, end
    ].join(" ");
    expect(hex(m.encode())).toBe(expected);
    const add = instantiate(m).exports.add as (a: number, b: number) => number;
    expect(add(2, 40)).toBe(42);
    expect(add(0x7fffffff, 1)).toBe(-0x80000000);
  });

  it("SIMD instructions carry the 0xfd prefix, an LEB128 opcode and a memarg", () => {
    const m = new WasmModuleBuilder().defineMemory(1);
    m.addFunction("addv", ["i32"], [], (f, p) => {
      f.get(p).get(p).simdMem("v128_load").get(p).simdMem("v128_load", 16).simd("f32x4_add");
      f.simdMem("v128_store");
    });
    const bytes = hex(m.encode());
    // body: local.get 0 ×2, v128.load align 4 offset 0, local.get 0, v128.load offset 16,
    // f32x4.add (opcode 0xe4 = LEB128 e4 01), v128.store, end
    expect(bytes).toContain("20 00 20 00 fd 00 04 00 20 00 fd 00 04 10 fd e4 01 fd 0b 04 00 0b");
    expect(bytes).toContain("05 03 01 00 01"); // memory section: one memory, min 1 page, no max
    const inst = instantiate(m);
    const f32 = new Float32Array(inst.exports.memory.buffer);
    f32.set([1, 2, 3, 4, 10, 20, 30, 40]);
    (inst.exports.addv as (p: number) => void)(0);
    expect(Array.from(f32.subarray(0, 4))).toEqual([11, 22, 33, 44]);
  });

  it("computes branch depths from labels and runs structured loops", () => {
    const m = new WasmModuleBuilder();
    // Sum of i for i in [0, n) skipping multiples of 3, with an early exit at 1000.
    m.addFunction("sum", ["i32"], ["i32"], (f, n) => {
      const i = f.local("i32");
      const s = f.local("i32");
      f.block((done) => {
        f.forUp(i, n, 1, () => {
          f.get(s).i32Const(1000).i32("gt_s").brIf(done);
          f.get(i)
            .i32Const(3)
            .i32("rem_s")
            .ifElse(() => {
              f.get(s).get(i).i32("add").set(s);
            });
        });
      });
      f.get(s);
    });
    const sum = instantiate(m).exports.sum as (n: number) => number;
    const model = (n: number) => {
      let s = 0;
      for (let i = 0; i < n; i++) {
        if (s > 1000) break;
        if (i % 3 !== 0) s += i;
      }
      return s;
    };
    for (const n of [0, 1, 5, 17, 60, 200]) expect(sum(n)).toBe(model(n));
  });

  it("refuses malformed construction with messages naming the problem", () => {
    const m = new WasmModuleBuilder();
    expect(() =>
      m.addFunction("bad", [], [], (f) => {
        let outer: Parameters<FunctionBuilder["br"]>[0] | undefined;
        f.block((l) => {
          outer = l;
        });
        f.br(outer!);
      }),
    ).toThrow(/bad: branch to a label whose block is not open/);
    m.addFunction("f", [], [], () => undefined);
    expect(() => m.addFunction("f", [], [], () => undefined)).toThrow(/already exported/);
    expect(() => new WasmModuleBuilder().defineMemory(-1)).toThrow(/defineMemory: minPages/);
    expect(() =>
      new WasmModuleBuilder().addFunction("s", [], [], (f) => {
        f.shuffle([0, 1, 2]);
      }),
    ).toThrow(/shuffle: expected 16 byte indices/);
    expect(() =>
      new WasmModuleBuilder().addFunction("l", [], [], (f) => {
        f.lane("i32x4_extract_lane", 4);
      }),
    ).toThrow(/lane: i32x4_extract_lane takes a lane index in \[0, 4\)/);
  });

  it("the kernel module validates and is byte-for-byte reproducible, with and without relaxed SIMD", () => {
    for (const relaxedMadd of [false, true]) {
      const a = kernelModuleBytes({ relaxedMadd });
      expect(wa.validate(a)).toBe(true);
      expect(hex(kernelModuleBytes({ relaxedMadd }))).toBe(hex(a));
    }
    // The two differ only in the GEMM micro-kernel's multiply-add: two opcodes become one.
    expect(kernelModuleBytes({ relaxedMadd: true }).length).toBeLessThan(
      kernelModuleBytes({ relaxedMadd: false }).length,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Every opcode, executed. Scalar ops run as exported functions on JavaScript numbers; SIMD ops read
// their operands from memory and store the result, compared lane by lane with a model of the spec.

const F32_SAMPLES = [
  1.5,
  -2.5,
  0.5,
  -0.5,
  2.5,
  3.75,
  -0,
  0,
  Number.NaN,
  Infinity,
  -Infinity,
  1e-40,
  3e38,
  -7,
];
const I32_SAMPLES = [0, 1, -1, 7, -7, 31, 32, 0x7fffffff, -0x80000000, 123456789, -98765, 255, 65535];

const fr = Math.fround;
/** Round half to even, as f32.nearest. */
function nearest(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  const tie = Math.abs(x % 1) === 0.5;
  const v = tie ? 2 * Math.round(x / 2) : r;
  return v === 0 ? (Object.is(x, -0) || x < 0 ? -0 : 0) : v;
}
const wasmMin = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.min(a, b));
const wasmMax = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b));
const sameF32 = (a: number, b: number) => Object.is(fr(a), fr(b)) || (Number.isNaN(a) && Number.isNaN(b));

describe("scalar opcodes", () => {
  it("every i32 op matches its definition", () => {
    const binary: Record<string, (a: number, b: number) => number> = {
      eq: (a, b) => +(a === b),
      ne: (a, b) => +(a !== b),
      lt_s: (a, b) => +(a < b),
      lt_u: (a, b) => +(a >>> 0 < b >>> 0),
      gt_s: (a, b) => +(a > b),
      gt_u: (a, b) => +(a >>> 0 > b >>> 0),
      le_s: (a, b) => +(a <= b),
      le_u: (a, b) => +(a >>> 0 <= b >>> 0),
      ge_s: (a, b) => +(a >= b),
      ge_u: (a, b) => +(a >>> 0 >= b >>> 0),
      add: (a, b) => (a + b) | 0,
      sub: (a, b) => (a - b) | 0,
      mul: (a, b) => Math.imul(a, b),
      div_s: (a, b) => (a / b) | 0,
      div_u: (a, b) => ((a >>> 0) / (b >>> 0)) | 0,
      rem_s: (a, b) => (a % b) | 0,
      rem_u: (a, b) => ((a >>> 0) % (b >>> 0)) | 0,
      and: (a, b) => a & b,
      or: (a, b) => a | b,
      xor: (a, b) => a ^ b,
      shl: (a, b) => a << b,
      shr_s: (a, b) => a >> b,
      shr_u: (a, b) => (a >>> b) | 0,
    };
    const m = new WasmModuleBuilder();
    for (const op of Object.keys(binary)) {
      m.addFunction(op, ["i32", "i32"], ["i32"], (f, a, b) => {
        f.get(a)
          .get(b)
          .i32(op as keyof typeof I32_OPS);
      });
    }
    m.addFunction("eqz", ["i32"], ["i32"], (f, a) => {
      f.get(a).i32("eqz");
    });
    m.addFunction("wrap_i64", ["i64"], ["i32"], (f, a) => {
      f.get(a).i32("wrap_i64");
    });
    m.addFunction("trunc_f32_s", ["f32"], ["i32"], (f, a) => {
      f.get(a).i32("trunc_f32_s");
    });
    m.addFunction("reinterpret_f32", ["f32"], ["i32"], (f, a) => {
      f.get(a).i32("reinterpret_f32");
    });
    const ex = instantiate(m).exports as Record<string, (...x: unknown[]) => number>;
    const covered = new Set([...Object.keys(binary), "eqz", "wrap_i64", "trunc_f32_s", "reinterpret_f32"]);
    expect(Object.keys(I32_OPS).filter((k) => !covered.has(k))).toEqual([]);
    for (const [op, model] of Object.entries(binary)) {
      for (const a of I32_SAMPLES) {
        for (const b of I32_SAMPLES) {
          const divides = op.startsWith("div") || op.startsWith("rem");
          if (divides && (b === 0 || (op === "div_s" && a === -0x80000000 && b === -1))) continue;
          expect(ex[op]!(a, b), `${op}(${a}, ${b})`).toBe(model(a, b));
        }
      }
    }
    for (const a of I32_SAMPLES) expect(ex.eqz!(a)).toBe(+(a === 0));
    expect(ex.wrap_i64!(0x123456789abcdefn)).toBe(0x89abcdef | 0);
    expect(ex.trunc_f32_s!(-7.9)).toBe(-7);
    expect(ex.reinterpret_f32!(1)).toBe(0x3f800000);
  });

  it("every i64 op matches BigInt arithmetic modulo 2^64", () => {
    const wrap = (v: bigint) => BigInt.asIntN(64, v);
    const binary: Record<string, (a: bigint, b: bigint) => bigint> = {
      add: (a, b) => wrap(a + b),
      sub: (a, b) => wrap(a - b),
      mul: (a, b) => wrap(a * b),
      and: (a, b) => a & b,
      or: (a, b) => a | b,
      shl: (a, b) => wrap(a << (b & 63n)),
      shr_s: (a, b) => a >> (b & 63n),
      shr_u: (a, b) => BigInt.asIntN(64, BigInt.asUintN(64, a) >> (b & 63n)),
    };
    const m = new WasmModuleBuilder();
    for (const op of Object.keys(binary)) {
      m.addFunction(op, ["i64", "i64"], ["i64"], (f, a, b) => {
        f.get(a)
          .get(b)
          .i64(op as keyof typeof I64_OPS);
      });
    }
    m.addFunction("eq", ["i64", "i64"], ["i32"], (f, a, b) => {
      f.get(a).get(b).i64("eq");
    });
    m.addFunction("eqz", ["i64"], ["i32"], (f, a) => {
      f.get(a).i64("eqz");
    });
    m.addFunction("extend_i32_s", ["i32"], ["i64"], (f, a) => {
      f.get(a).i64("extend_i32_s");
    });
    m.addFunction("extend_i32_u", ["i32"], ["i64"], (f, a) => {
      f.get(a).i64("extend_i32_u");
    });
    m.addFunction("const", [], ["i64"], (f) => {
      f.i64Const(-0x123456789abcdefn);
    });
    const ex = instantiate(m).exports as Record<string, (...x: unknown[]) => bigint | number>;
    const covered = new Set([...Object.keys(binary), "eq", "eqz", "extend_i32_s", "extend_i32_u"]);
    expect(Object.keys(I64_OPS).filter((k) => !covered.has(k))).toEqual([]);
    const samples = [
      0n,
      1n,
      -1n,
      63n,
      64n,
      (1n << 62n) + 5n,
      -(1n << 63n),
      0x7fffffffffffffffn,
      -12345678901n,
    ];
    for (const [op, model] of Object.entries(binary)) {
      for (const a of samples) for (const b of samples) expect(ex[op]!(a, b), op).toBe(model(a, b));
    }
    expect(ex.eq!(5n, 5n)).toBe(1);
    expect(ex.eqz!(0n)).toBe(1);
    expect(ex.extend_i32_s!(-2)).toBe(-2n);
    expect(ex.extend_i32_u!(-2)).toBe(0xfffffffen);
    expect(ex.const!()).toBe(-0x123456789abcdefn);
  });

  it("every f32 op matches float32 arithmetic", () => {
    const binary: Record<string, (a: number, b: number) => number> = {
      add: (a, b) => fr(a + b),
      sub: (a, b) => fr(a - b),
      mul: (a, b) => fr(a * b),
      div: (a, b) => fr(a / b),
      min: wasmMin,
      max: wasmMax,
    };
    const compare: Record<string, (a: number, b: number) => number> = {
      eq: (a, b) => +(a === b),
      ne: (a, b) => +(a !== b),
      lt: (a, b) => +(a < b),
      gt: (a, b) => +(a > b),
      le: (a, b) => +(a <= b),
      ge: (a, b) => +(a >= b),
    };
    const unary: Record<string, (a: number) => number> = {
      abs: Math.abs,
      neg: (a) => -a,
      floor: Math.floor,
      trunc: Math.trunc,
      nearest,
      sqrt: (a) => fr(Math.sqrt(a)),
    };
    const m = new WasmModuleBuilder();
    for (const op of Object.keys(binary)) {
      m.addFunction(op, ["f32", "f32"], ["f32"], (f, a, b) => {
        f.get(a)
          .get(b)
          .f32(op as keyof typeof F32_OPS);
      });
    }
    for (const op of Object.keys(compare)) {
      m.addFunction(op, ["f32", "f32"], ["i32"], (f, a, b) => {
        f.get(a)
          .get(b)
          .f32(op as keyof typeof F32_OPS);
      });
    }
    for (const op of Object.keys(unary)) {
      m.addFunction(op, ["f32"], ["f32"], (f, a) => {
        f.get(a).f32(op as keyof typeof F32_OPS);
      });
    }
    m.addFunction("convert_i32_s", ["i32"], ["f32"], (f, a) => {
      f.get(a).f32("convert_i32_s");
    });
    m.addFunction("reinterpret_i32", ["i32"], ["f32"], (f, a) => {
      f.get(a).f32("reinterpret_i32");
    });
    m.addFunction("const", [], ["f32"], (f) => {
      f.f32Const(0.1);
    });
    const ex = instantiate(m).exports as Record<string, (...x: number[]) => number>;
    const covered = new Set([
      ...Object.keys(binary),
      ...Object.keys(compare),
      ...Object.keys(unary),
      "convert_i32_s",
      "reinterpret_i32",
    ]);
    expect(Object.keys(F32_OPS).filter((k) => !covered.has(k))).toEqual([]);
    const xs = F32_SAMPLES.map(fr);
    for (const [op, model] of Object.entries(binary)) {
      for (const a of xs) {
        for (const b of xs) expect(sameF32(ex[op]!(a, b), model(a, b)), `${op}(${a}, ${b})`).toBe(true);
      }
    }
    for (const [op, model] of Object.entries(compare)) {
      for (const a of xs) for (const b of xs) expect(ex[op]!(a, b), `${op}(${a}, ${b})`).toBe(model(a, b));
    }
    for (const [op, model] of Object.entries(unary)) {
      for (const a of xs) expect(sameF32(ex[op]!(a), model(a)), `${op}(${a})`).toBe(true);
    }
    expect(ex.convert_i32_s!(16777217)).toBe(16777216);
    expect(ex.reinterpret_i32!(0x3f800000)).toBe(1);
    expect(ex.const!()).toBe(fr(0.1));
  });

  it("every load and store moves the bytes its width says, with sign or zero extension", () => {
    const m = new WasmModuleBuilder().defineMemory(1);
    for (const [op] of Object.entries(MEMORY_OPS)) {
      const isStore = op.includes("store");
      const type = op.startsWith("i64") ? "i64" : op.startsWith("f32") ? "f32" : "i32";
      if (isStore) {
        m.addFunction(op, ["i32", type], [], (f, p, v) => {
          f.get(p)
            .get(v)
            .mem(op as keyof typeof MEMORY_OPS, 4);
        });
      } else {
        m.addFunction(op, ["i32"], [type], (f, p) => {
          f.get(p).mem(op as keyof typeof MEMORY_OPS, 4);
        });
      }
    }
    const inst = instantiate(m);
    const ex = inst.exports as Record<string, (...x: unknown[]) => unknown>;
    const view = new DataView(inst.exports.memory.buffer);
    const fill = () => {
      for (let i = 0; i < 32; i++) view.setUint8(i, 0xf0 + (i % 16));
    };
    fill();
    // The loads read at address 8 + offset 4 = 12, little-endian.
    expect(ex.i32_load!(8)).toBe(view.getInt32(12, true));
    expect(ex.i64_load!(8)).toBe(view.getBigInt64(12, true));
    expect(ex.f32_load!(8)).toBe(view.getFloat32(12, true));
    expect(ex.i32_load8_s!(8)).toBe(view.getInt8(12));
    expect(ex.i32_load8_u!(8)).toBe(view.getUint8(12));
    expect(ex.i32_load16_s!(8)).toBe(view.getInt16(12, true));
    expect(ex.i32_load16_u!(8)).toBe(view.getUint16(12, true));
    const stores: [string, unknown, (at: number) => unknown, number][] = [
      ["i32_store", -5, (at) => view.getInt32(at, true), 4],
      ["i64_store", -5n, (at) => view.getBigInt64(at, true), 8],
      ["f32_store", 2.5, (at) => view.getFloat32(at, true), 4],
      ["i32_store8", 0x1ff, (at) => view.getUint8(at), 1],
      ["i32_store16", 0x1ffff, (at) => view.getUint16(at, true), 2],
    ];
    for (const [op, value, read, width] of stores) {
      fill();
      ex[op]!(8, value);
      const expected = op === "i32_store8" ? 0xff : op === "i32_store16" ? 0xffff : value;
      expect(read(12), op).toBe(expected);
      expect(view.getUint8(12 + width), `${op} wrote past its width`).toBe(0xf0 + ((12 + width) % 16));
    }
  });
});

describe("SIMD opcodes", () => {
  type Lanes = "f32" | "i32" | "i16" | "i8";
  const view = (buf: ArrayBuffer, at: number, t: Lanes) =>
    t === "f32"
      ? new Float32Array(buf, at, 4)
      : t === "i32"
        ? new Int32Array(buf, at, 4)
        : t === "i16"
          ? new Int16Array(buf, at, 8)
          : new Int8Array(buf, at, 16);
  const sat = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

  /** [operand lane types..., result lane type, model from operand lane arrays to result lanes]. */
  interface Case {
    args: Lanes[];
    result: Lanes;
    model: (...xs: number[][]) => number[];
  }
  const lanewise =
    (fn: (...v: number[]) => number) =>
    (...xs: number[][]): number[] =>
      xs[0]!.map((_, i) => fn(...xs.map((x) => x[i]!)));
  const mask = (p: boolean) => (p ? -1 : 0);
  const i16 = (v: number) => (v << 16) >> 16;
  const i8 = (v: number) => (v << 24) >> 24;
  const cases: Record<string, Case> = {
    i32x4_eq: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => mask(a === b)) },
    i32x4_ne: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => mask(a !== b)) },
    i32x4_lt_s: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => mask(a < b)) },
    i32x4_gt_s: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => mask(a > b)) },
    i8x16_eq: { args: ["i8", "i8"], result: "i8", model: lanewise((a, b) => mask(a === b)) },
    i16x8_eq: { args: ["i16", "i16"], result: "i16", model: lanewise((a, b) => mask(a === b)) },
    f32x4_eq: { args: ["f32", "f32"], result: "i32", model: lanewise((a, b) => mask(a === b)) },
    f32x4_ne: { args: ["f32", "f32"], result: "i32", model: lanewise((a, b) => mask(a !== b)) },
    f32x4_lt: { args: ["f32", "f32"], result: "i32", model: lanewise((a, b) => mask(a < b)) },
    f32x4_gt: { args: ["f32", "f32"], result: "i32", model: lanewise((a, b) => mask(a > b)) },
    f32x4_le: { args: ["f32", "f32"], result: "i32", model: lanewise((a, b) => mask(a <= b)) },
    f32x4_ge: { args: ["f32", "f32"], result: "i32", model: lanewise((a, b) => mask(a >= b)) },
    v128_not: { args: ["i32"], result: "i32", model: lanewise((a) => ~a) },
    v128_and: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => a & b) },
    v128_andnot: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => a & ~b) },
    v128_or: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => a | b) },
    v128_xor: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => a ^ b) },
    v128_bitselect: {
      args: ["i32", "i32", "i32"],
      result: "i32",
      model: lanewise((a, b, c) => (a & c) | (b & ~c)),
    },
    i8x16_narrow_i16x8_s: {
      args: ["i16", "i16"],
      result: "i8",
      model: (a, b) => [...a!, ...b!].map((v) => sat(v, -128, 127)),
    },
    i8x16_narrow_i16x8_u: {
      args: ["i16", "i16"],
      result: "i8",
      model: (a, b) => [...a!, ...b!].map((v) => i8(sat(v, 0, 255))),
    },
    f32x4_floor: { args: ["f32"], result: "f32", model: lanewise(Math.floor) },
    f32x4_trunc: { args: ["f32"], result: "f32", model: lanewise(Math.trunc) },
    f32x4_nearest: { args: ["f32"], result: "f32", model: lanewise(nearest) },
    i8x16_add: { args: ["i8", "i8"], result: "i8", model: lanewise((a, b) => i8(a + b)) },
    i8x16_sub: { args: ["i8", "i8"], result: "i8", model: lanewise((a, b) => i8(a - b)) },
    i16x8_extadd_pairwise_i8x16_s: {
      args: ["i8"],
      result: "i16",
      model: (a) => Array.from({ length: 8 }, (_, i) => a![2 * i]! + a![2 * i + 1]!),
    },
    i32x4_extadd_pairwise_i16x8_s: {
      args: ["i16"],
      result: "i32",
      model: (a) => Array.from({ length: 4 }, (_, i) => a![2 * i]! + a![2 * i + 1]!),
    },
    i16x8_narrow_i32x4_s: {
      args: ["i32", "i32"],
      result: "i16",
      model: (a, b) => [...a!, ...b!].map((v) => sat(v, -32768, 32767)),
    },
    i16x8_narrow_i32x4_u: {
      args: ["i32", "i32"],
      result: "i16",
      model: (a, b) => [...a!, ...b!].map((v) => i16(sat(v, 0, 65535))),
    },
    i16x8_extend_low_i8x16_s: { args: ["i8"], result: "i16", model: (a) => a!.slice(0, 8) },
    i16x8_extend_high_i8x16_s: { args: ["i8"], result: "i16", model: (a) => a!.slice(8) },
    i16x8_extend_low_i8x16_u: {
      args: ["i8"],
      result: "i16",
      model: (a) => a!.slice(0, 8).map((v) => v & 255),
    },
    i16x8_extend_high_i8x16_u: { args: ["i8"], result: "i16", model: (a) => a!.slice(8).map((v) => v & 255) },
    i16x8_add: { args: ["i16", "i16"], result: "i16", model: lanewise((a, b) => i16(a + b)) },
    i16x8_add_sat_s: {
      args: ["i16", "i16"],
      result: "i16",
      model: lanewise((a, b) => sat(a + b, -32768, 32767)),
    },
    i16x8_sub: { args: ["i16", "i16"], result: "i16", model: lanewise((a, b) => i16(a - b)) },
    i16x8_mul: { args: ["i16", "i16"], result: "i16", model: lanewise((a, b) => i16(Math.imul(a, b))) },
    i16x8_extmul_low_i8x16_s: {
      args: ["i8", "i8"],
      result: "i16",
      model: (a, b) => Array.from({ length: 8 }, (_, i) => a![i]! * b![i]!),
    },
    i16x8_extmul_high_i8x16_s: {
      args: ["i8", "i8"],
      result: "i16",
      model: (a, b) => Array.from({ length: 8 }, (_, i) => a![i + 8]! * b![i + 8]!),
    },
    i32x4_extend_low_i16x8_s: { args: ["i16"], result: "i32", model: (a) => a!.slice(0, 4) },
    i32x4_extend_high_i16x8_s: { args: ["i16"], result: "i32", model: (a) => a!.slice(4) },
    i32x4_add: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => (a + b) | 0) },
    i32x4_sub: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => (a - b) | 0) },
    i32x4_mul: { args: ["i32", "i32"], result: "i32", model: lanewise((a, b) => Math.imul(a, b)) },
    i32x4_min_s: { args: ["i32", "i32"], result: "i32", model: lanewise(Math.min) },
    i32x4_max_s: { args: ["i32", "i32"], result: "i32", model: lanewise(Math.max) },
    i32x4_dot_i16x8_s: {
      args: ["i16", "i16"],
      result: "i32",
      model: (a, b) =>
        Array.from({ length: 4 }, (_, i) => (a![2 * i]! * b![2 * i]! + a![2 * i + 1]! * b![2 * i + 1]!) | 0),
    },
    f32x4_abs: { args: ["f32"], result: "f32", model: lanewise(Math.abs) },
    f32x4_neg: { args: ["f32"], result: "f32", model: lanewise((a) => -a) },
    f32x4_sqrt: { args: ["f32"], result: "f32", model: lanewise((a) => fr(Math.sqrt(a))) },
    f32x4_add: { args: ["f32", "f32"], result: "f32", model: lanewise((a, b) => fr(a + b)) },
    f32x4_sub: { args: ["f32", "f32"], result: "f32", model: lanewise((a, b) => fr(a - b)) },
    f32x4_mul: { args: ["f32", "f32"], result: "f32", model: lanewise((a, b) => fr(a * b)) },
    f32x4_div: { args: ["f32", "f32"], result: "f32", model: lanewise((a, b) => fr(a / b)) },
    f32x4_min: { args: ["f32", "f32"], result: "f32", model: lanewise(wasmMin) },
    f32x4_max: { args: ["f32", "f32"], result: "f32", model: lanewise(wasmMax) },
    // pmin/pmax are defined by this comparison (NaN and ±0 pick an operand), not as Math.min/max.
    // biome-ignore lint/complexity/useMathMinMax: the definition is the point
    f32x4_pmin: { args: ["f32", "f32"], result: "f32", model: lanewise((a, b) => (b < a ? b : a)) },
    // biome-ignore lint/complexity/useMathMinMax: the definition is the point
    f32x4_pmax: { args: ["f32", "f32"], result: "f32", model: lanewise((a, b) => (a < b ? b : a)) },
    i32x4_trunc_sat_f32x4_s: {
      args: ["f32"],
      result: "i32",
      model: lanewise((a) => (Number.isNaN(a) ? 0 : sat(Math.trunc(a), -0x80000000, 0x7fffffff))),
    },
    f32x4_convert_i32x4_s: { args: ["i32"], result: "f32", model: lanewise(fr) },
    i8x16_swizzle: {
      args: ["i8", "i8"],
      result: "i8",
      model: (a, b) => b!.map((s) => (s >= 0 && s < 16 ? a![s]! : 0)),
    },
  };
  // Shift ops take the count from a scalar; splats take a scalar too: tested separately below.
  const shifts: Record<string, [Lanes, (v: number, s: number) => number]> = {
    i16x8_shl: ["i16", (v, s) => i16(v << (s & 15))],
    i16x8_shr_s: ["i16", (v, s) => v >> (s & 15)],
    i32x4_shl: ["i32", (v, s) => v << (s & 31)],
    i32x4_shr_s: ["i32", (v, s) => v >> (s & 31)],
    i32x4_shr_u: ["i32", (v, s) => (v >>> (s & 31)) | 0],
  };
  const splats: Record<string, [Lanes, "i32" | "f32"]> = {
    i8x16_splat: ["i8", "i32"],
    i16x8_splat: ["i16", "i32"],
    i32x4_splat: ["i32", "i32"],
    f32x4_splat: ["f32", "f32"],
  };

  it("the tables cover every SIMD opcode", () => {
    const covered = new Set([
      ...Object.keys(cases),
      ...Object.keys(shifts),
      ...Object.keys(splats),
      "v128_any_true",
      "f32x4_relaxed_madd", // implementation-defined rounding: its own test below
    ]);
    expect(Object.keys(SIMD_OPS).filter((k) => !covered.has(k))).toEqual([]);
  });

  it("f32x4.relaxed_madd validates (the test setup enables relaxed SIMD) and gives a·b + c rounded once or twice", () => {
    expect(relaxedSimdSupported()).toBe(true);
    const m = new WasmModuleBuilder().defineMemory(1);
    m.addFunction("madd", ["i32"], [], (f, p) => {
      f.get(p)
        .get(p)
        .simdMem("v128_load", 16)
        .get(p)
        .simdMem("v128_load", 32)
        .get(p)
        .simdMem("v128_load", 48)
        .simd("f32x4_relaxed_madd")
        .simdMem("v128_store");
    });
    const inst = instantiate(m);
    const v = new Float32Array(inst.exports.memory.buffer, 0, 16);
    const f32 = fc.float({ noNaN: true, min: -1e6, max: 1e6 });
    fc.assert(
      fc.property(fc.array(fc.tuple(f32, f32, f32), { minLength: 4, maxLength: 4 }), (lanes) => {
        lanes.forEach(([a, b, c], i) => {
          v[4 + i] = a;
          v[8 + i] = b;
          v[12 + i] = c;
        });
        (inst.exports.madd as (p: number) => void)(0);
        return lanes.every(([a, b, c], i) => {
          // a·b is exact in float64 (24 + 24 bits); the sum rounded once to float32 is the fused result.
          const fused = fr(a * b + c);
          const twice = fr(fr(a * b) + c);
          return sameF32(v[i]!, fused) || sameF32(v[i]!, twice);
        });
      }),
    );
    // 1 + 2⁻²³ squared is 1 + 2⁻²² + 2⁻⁴⁶: minus 1, fused keeps the 2⁻⁴⁶, rounding twice loses it.
    v.fill(0);
    v.fill(1 + 2 ** -23, 4, 12);
    v.fill(-1, 12, 16);
    (inst.exports.madd as (p: number) => void)(0);
    expect([2 ** -22, 2 ** -22 + 2 ** -46]).toContain(v[0]);
  });

  it("every lane-wise and widening op matches its definition on random and special operands", () => {
    const m = new WasmModuleBuilder().defineMemory(1);
    for (const [op, c] of Object.entries(cases)) {
      m.addFunction(op, ["i32", "i32", "i32", "i32"], [], (f, out, a, b, cc) => {
        f.get(out);
        [a, b, cc].slice(0, c.args.length).forEach((p) => {
          f.get(p!).simdMem("v128_load");
        });
        f.simd(op as keyof typeof SIMD_OPS).simdMem("v128_store");
      });
    }
    const inst = instantiate(m);
    const buf = inst.exports.memory.buffer;
    const rand = (t: Lanes, seed: number) => {
      const v = view(buf, 0, t);
      const out: number[] = [];
      for (let i = 0; i < v.length; i++) {
        const k = (seed * 7919 + i * 104729) % 1000;
        if (t === "f32") out.push(F32_SAMPLES[(seed + i * 3) % F32_SAMPLES.length]! * (k % 2 ? 1 : 0.37));
        else if (t === "i32") out.push(I32_SAMPLES[(seed + i * 5) % I32_SAMPLES.length]! ^ (k * 65537));
        else if (t === "i16") out.push(i16(k * 131 - 32768 + seed * 977));
        else out.push(i8(k + seed * 31));
      }
      return out;
    };
    for (const [op, c] of Object.entries(cases)) {
      for (let seed = 0; seed < 12; seed++) {
        const inputs = c.args.map((t, j) => {
          let vals = rand(t, seed * 3 + j);
          // Extremes that only saturating/wrapping ops distinguish.
          if (seed === 0 && t === "i16") vals = vals.map((_v, i) => (i % 2 ? 32767 : -32768));
          if (seed === 0 && t === "i8") vals = vals.map((_v, i) => (i % 2 ? 127 : -128));
          if (op === "i8x16_swizzle" && j === 1) vals = vals.map((v) => (v & 31) - (seed % 2) * 8);
          view(buf, 16 * (j + 1), t).set(vals);
          return Array.from(view(buf, 16 * (j + 1), t));
        });
        (inst.exports[op] as (...p: number[]) => void)(64, 16, 32, 48);
        const got = Array.from(view(buf, 64, c.result));
        const want = c.model(...inputs);
        const ok =
          c.result === "f32" ? got.every((g, i) => sameF32(g, want[i]!)) : got.every((g, i) => g === want[i]);
        expect(ok, `${op} on ${JSON.stringify(inputs)}: got ${got}, want ${want}`).toBe(true);
      }
    }
  });

  it("shifts, splats, lanes, shuffles, any_true and the SIMD loads", () => {
    const m = new WasmModuleBuilder().defineMemory(1);
    for (const op of Object.keys(shifts)) {
      m.addFunction(op, ["i32", "i32", "i32"], [], (f, out, a, s) => {
        f.get(out)
          .get(a)
          .simdMem("v128_load")
          .get(s)
          .simd(op as keyof typeof SIMD_OPS)
          .simdMem("v128_store");
      });
    }
    for (const [op, [, t]] of Object.entries(splats)) {
      m.addFunction(op, ["i32", t], [], (f, out, v) => {
        f.get(out)
          .get(v)
          .simd(op as keyof typeof SIMD_OPS)
          .simdMem("v128_store");
      });
    }
    for (const op of Object.keys(SIMD_LANE_OPS)) {
      const replace = op.includes("replace");
      const isF = op.startsWith("f32");
      m.addFunction(
        op,
        replace ? ["i32", "i32", isF ? "f32" : "i32"] : ["i32", "i32"],
        replace ? [] : [isF ? "f32" : "i32"],
        (f, out, a, v) => {
          if (replace) {
            f.get(out)
              .get(a)
              .simdMem("v128_load")
              .get(v!)
              .lane(op as keyof typeof SIMD_LANE_OPS, 2)
              .simdMem("v128_store");
          } else {
            f.get(a)
              .simdMem("v128_load")
              .lane(op as keyof typeof SIMD_LANE_OPS, 3);
          }
        },
      );
    }
    for (const op of Object.keys(SIMD_MEMORY_OPS)) {
      if (op === "v128_store") continue;
      m.addFunction(op, ["i32", "i32"], [], (f, out, a) => {
        f.get(out)
          .get(a)
          .simdMem(op as keyof typeof SIMD_MEMORY_OPS, 4)
          .simdMem("v128_store");
      });
    }
    m.addFunction("shuffle", ["i32", "i32", "i32"], [], (f, out, a, b) => {
      f.get(out).get(a).simdMem("v128_load").get(b).simdMem("v128_load");
      f.shuffle([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]).simdMem("v128_store");
    });
    m.addFunction("any_true", ["i32"], ["i32"], (f, a) => {
      f.get(a).simdMem("v128_load").simd("v128_any_true");
    });
    m.addFunction("consts", ["i32"], [], (f, out) => {
      f.get(out).f32x4Const([1, -2, 0.5, 8]).simdMem("v128_store");
      f.get(out).i32x4Const([7, -1, 0x7fffffff, -0x80000000]).simdMem("v128_store", 16);
    });
    const inst = instantiate(m);
    const ex = inst.exports as Record<string, (...p: number[]) => number>;
    const buf = inst.exports.memory.buffer;
    const i32 = new Int32Array(buf);
    const f32 = new Float32Array(buf);
    const i16v = new Int16Array(buf);
    const i8v = new Int8Array(buf);

    for (const [op, [t, model]] of Object.entries(shifts)) {
      for (const s of [0, 1, 5, 15, 16, 31, 33]) {
        const src = view(buf, 16, t);
        src.set(Array.from(src, (_, i) => (i % 2 ? -1 : 1) * (12345 + i * 1111)));
        const input = Array.from(src);
        ex[op]!(64, 16, s);
        expect(Array.from(view(buf, 64, t)), `${op} by ${s}`).toEqual(input.map((v) => model(v, s)));
      }
    }
    ex.i8x16_splat!(64, 0x1ff);
    expect(Array.from(i8v.subarray(64, 80))).toEqual(new Array(16).fill(-1));
    ex.i16x8_splat!(64, 0x18000);
    expect(Array.from(i16v.subarray(32, 40))).toEqual(new Array(8).fill(-32768));
    ex.i32x4_splat!(64, -9);
    expect(Array.from(i32.subarray(16, 20))).toEqual([-9, -9, -9, -9]);
    ex.f32x4_splat!(64, 0.1);
    expect(Array.from(f32.subarray(16, 20))).toEqual(new Array(4).fill(fr(0.1)));

    i32.set([10, 11, 12, 13], 4);
    expect(ex.i32x4_extract_lane!(0, 16)).toBe(13);
    ex.i32x4_replace_lane!(64, 16, 99);
    expect(Array.from(i32.subarray(16, 20))).toEqual([10, 11, 99, 13]);
    f32.set([1.5, 2.5, 3.5, 4.5], 4);
    expect(ex.f32x4_extract_lane!(0, 16)).toBe(4.5);
    ex.f32x4_replace_lane!(64, 16, -1);
    expect(Array.from(f32.subarray(16, 20))).toEqual([1.5, 2.5, -1, 4.5]);
    i8v.set([0, 1, 2, -3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], 16);
    expect(ex.i8x16_extract_lane_s!(0, 16)).toBe(-3);
    i16v.set([0, 1, 2, -30000, 4, 5, 6, 7], 8);
    expect(ex.i16x8_extract_lane_s!(0, 16)).toBe(-30000);

    // Loads read at address 16 + offset 4.
    const bytes = new Uint8Array(buf);
    for (let i = 0; i < 32; i++) bytes[16 + i] = (i * 37 + 200) & 255;
    const at = (k: number) => new DataView(buf).getInt8(20 + k);
    ex.v128_load!(64, 16);
    expect(Array.from(bytes.subarray(64, 80))).toEqual(Array.from(bytes.subarray(20, 36)));
    ex.v128_load8x8_s!(64, 16);
    expect(Array.from(i16v.subarray(32, 40))).toEqual(Array.from({ length: 8 }, (_, k) => at(k)));
    ex.v128_load8x8_u!(64, 16);
    expect(Array.from(i16v.subarray(32, 40))).toEqual(Array.from({ length: 8 }, (_, k) => at(k) & 255));
    ex.v128_load16x4_s!(64, 16);
    const dv = new DataView(buf);
    expect(Array.from(i32.subarray(16, 20))).toEqual(
      Array.from({ length: 4 }, (_, k) => dv.getInt16(20 + 2 * k, true)),
    );
    ex.v128_load32_splat!(64, 16);
    expect(Array.from(i32.subarray(16, 20))).toEqual(new Array(4).fill(dv.getInt32(20, true)));
    ex.v128_load64_splat!(64, 16);
    expect(Array.from(i32.subarray(16, 20))).toEqual([0, 1, 0, 1].map((k) => dv.getInt32(20 + 4 * k, true)));
    ex.v128_load32_zero!(64, 16);
    expect(Array.from(i32.subarray(16, 20))).toEqual([dv.getInt32(20, true), 0, 0, 0]);
    ex.v128_load64_zero!(64, 16);
    expect(Array.from(i32.subarray(16, 20))).toEqual([dv.getInt32(20, true), dv.getInt32(24, true), 0, 0]);

    i32.set([1, 2, 3, 4, 5, 6, 7, 8], 4);
    ex.shuffle!(64, 16, 32);
    expect(Array.from(i32.subarray(16, 20))).toEqual([1, 5, 2, 6]);
    i32.set([0, 0, 0, 0], 4);
    expect(ex.any_true!(16)).toBe(0);
    i32[6] = 1 << 20;
    expect(ex.any_true!(16)).toBe(1);
    ex.consts!(64);
    expect(Array.from(f32.subarray(16, 20))).toEqual([1, -2, 0.5, 8]);
    expect(Array.from(i32.subarray(20, 24))).toEqual([7, -1, 0x7fffffff, -0x80000000]);
  });

  it("memory.copy and memory.fill move and set bytes", () => {
    const m = new WasmModuleBuilder().defineMemory(1);
    m.addFunction("copy", ["i32", "i32", "i32"], [], (f, d, s, n) => {
      f.get(d).get(s).get(n).memoryCopy();
    });
    m.addFunction("fill", ["i32", "i32", "i32"], [], (f, d, v, n) => {
      f.get(d).get(v).get(n).memoryFill();
    });
    const inst = instantiate(m);
    const bytes = new Uint8Array(inst.exports.memory.buffer);
    bytes.set([1, 2, 3, 4, 5, 6, 7, 8], 0);
    (inst.exports.copy as (...p: number[]) => void)(2, 0, 6); // overlapping, as memmove
    expect(Array.from(bytes.subarray(0, 8))).toEqual([1, 2, 1, 2, 3, 4, 5, 6]);
    (inst.exports.fill as (...p: number[]) => void)(1, 0x1ab, 3);
    expect(Array.from(bytes.subarray(0, 6))).toEqual([1, 0xab, 0xab, 0xab, 3, 4]);
  });
});
