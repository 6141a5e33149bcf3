/**
 * A small WebAssembly assembler: enough of the binary format (types, one memory, functions, exports,
 * structured control flow, scalar and SIMD-128 instructions) to emit this package's kernels from
 * TypeScript at load time, so the repository ships the source of every byte and needs no toolchain.
 *
 * Instructions are appended with chainable methods in stack-machine order, e.g.
 * `f.get(a).get(b).i32("add").set(c)` for `c = a + b`. Branch targets are `Label` tokens handed out by
 * `block`/`loop`, so relative branch depths are computed here rather than counted by hand.
 */
import { pushSignedLeb128, pushSignedLeb128Big, pushUnsignedLeb128 } from "./leb128.js";
import {
  CONTROL,
  F32_OPS,
  I32_OPS,
  I64_OPS,
  MEMORY_OPS,
  SIMD_LANE_OPS,
  SIMD_MEMORY_OPS,
  SIMD_OPS,
  SIMD_PREFIX,
  VALTYPE,
  type ValType,
} from "./opcodes.js";

export type { ValType } from "./opcodes.js";

/** A parameter or local variable of a function being built. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/** A branch target: the block, loop or if it was created by, while that construct is open. */
export interface Label {
  readonly kind: "block" | "loop" | "if";
}

const EMPTY_BLOCK = 0x40;

/** The body of one function; obtained from `WasmModuleBuilder.addFunction`. */
export class FunctionBuilder {
  readonly params: readonly Local[];
  private readonly localTypes: ValType[] = [];
  private readonly code: number[] = [];
  private readonly open: Label[] = [];

  constructor(
    readonly name: string,
    params: readonly ValType[],
    readonly results: readonly ValType[],
  ) {
    this.params = params.map((type, index) => ({ index, type }));
  }

  /** Declare a local variable (zero-initialised by WebAssembly). */
  local(type: ValType): Local {
    const index = this.params.length + this.localTypes.length;
    this.localTypes.push(type);
    return { index, type };
  }

  get(v: Local): this {
    return this.withIndex(CONTROL.local_get, v.index);
  }
  set(v: Local): this {
    return this.withIndex(CONTROL.local_set, v.index);
  }
  tee(v: Local): this {
    return this.withIndex(CONTROL.local_tee, v.index);
  }

  i32Const(value: number): this {
    this.code.push(CONTROL.i32_const);
    // Unsigned 32-bit patterns (e.g. 0xffffffff) are accepted as their two's-complement value.
    pushSignedLeb128(this.code, value > 0x7fffffff && value <= 0xffffffff ? value - 2 ** 32 : value);
    return this;
  }
  i64Const(value: bigint): this {
    this.code.push(CONTROL.i64_const);
    pushSignedLeb128Big(this.code, value);
    return this;
  }
  f32Const(value: number): this {
    this.code.push(CONTROL.f32_const);
    const bytes = new Uint8Array(new Float32Array([value]).buffer);
    for (const b of bytes) this.code.push(b);
    return this;
  }
  /** A v128 constant from four 32-bit lanes given as float32 values. */
  f32x4Const(lanes: readonly [number, number, number, number]): this {
    return this.v128Const(new Uint8Array(new Float32Array(lanes).buffer));
  }
  /** A v128 constant from four 32-bit integer lanes. */
  i32x4Const(lanes: readonly [number, number, number, number]): this {
    return this.v128Const(new Uint8Array(new Int32Array(lanes).buffer));
  }
  v128Const(bytes: Uint8Array): this {
    if (bytes.length !== 16) throw new Error(`v128Const: expected 16 bytes, got ${bytes.length}`);
    this.code.push(SIMD_PREFIX);
    pushUnsignedLeb128(this.code, 0x0c);
    for (const b of bytes) this.code.push(b);
    return this;
  }

  i32(op: keyof typeof I32_OPS): this {
    this.code.push(I32_OPS[op]);
    return this;
  }
  i64(op: keyof typeof I64_OPS): this {
    this.code.push(I64_OPS[op]);
    return this;
  }
  f32(op: keyof typeof F32_OPS): this {
    this.code.push(F32_OPS[op]);
    return this;
  }

  /** A scalar load or store; `offset` is the constant byte offset added to the address operand. */
  mem(op: keyof typeof MEMORY_OPS, offset = 0): this {
    const [code, align] = MEMORY_OPS[op];
    this.code.push(code);
    return this.memarg(align, offset);
  }

  simd(op: keyof typeof SIMD_OPS): this {
    this.code.push(SIMD_PREFIX);
    pushUnsignedLeb128(this.code, SIMD_OPS[op]);
    return this;
  }
  simdMem(op: keyof typeof SIMD_MEMORY_OPS, offset = 0): this {
    const [code, align] = SIMD_MEMORY_OPS[op];
    this.code.push(SIMD_PREFIX);
    pushUnsignedLeb128(this.code, code);
    return this.memarg(align, offset);
  }
  lane(op: keyof typeof SIMD_LANE_OPS, lane: number): this {
    const lanes = op.startsWith("i8x16") ? 16 : op.startsWith("i16x8") ? 8 : 4;
    if (!Number.isInteger(lane) || lane < 0 || lane >= lanes) {
      throw new Error(`lane: ${op} takes a lane index in [0, ${lanes}), got ${lane}`);
    }
    this.code.push(SIMD_PREFIX);
    pushUnsignedLeb128(this.code, SIMD_LANE_OPS[op]);
    this.code.push(lane);
    return this;
  }
  /** i8x16.shuffle: result byte i is byte lanes[i] of the concatenation (first operand, second operand). */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) {
      throw new Error(`shuffle: expected 16 byte indices in [0, 32), got [${lanes.join(", ")}]`);
    }
    this.code.push(SIMD_PREFIX);
    pushUnsignedLeb128(this.code, 0x0d);
    for (const l of lanes) this.code.push(l);
    return this;
  }

  /** memory.copy (bulk memory): dst, src, length on the stack. */
  memoryCopy(): this {
    this.code.push(0xfc);
    pushUnsignedLeb128(this.code, 10);
    this.code.push(0, 0);
    return this;
  }
  /** memory.fill: dst, byte value, length on the stack. */
  memoryFill(): this {
    this.code.push(0xfc);
    pushUnsignedLeb128(this.code, 11);
    this.code.push(0);
    return this;
  }

  drop(): this {
    this.code.push(CONTROL.drop);
    return this;
  }
  select(): this {
    this.code.push(CONTROL.select);
    return this;
  }
  ret(): this {
    this.code.push(CONTROL.return);
    return this;
  }
  call(funcIndex: number): this {
    return this.withIndex(CONTROL.call, funcIndex);
  }

  /** A block; branching to its label jumps past its end. */
  block(body: (exit: Label) => void, result?: ValType): this {
    return this.structured(CONTROL.block, "block", body, result);
  }
  /** A loop; branching to its label jumps back to its start. */
  loop(body: (top: Label) => void): this {
    return this.structured(CONTROL.loop, "loop", body);
  }
  /** if/else on the i32 on the stack (non-zero: then). */
  ifElse(then: () => void, otherwise?: () => void, result?: ValType): this {
    const label: Label = { kind: "if" };
    this.code.push(CONTROL.if, result === undefined ? EMPTY_BLOCK : VALTYPE[result]);
    this.open.push(label);
    then();
    if (otherwise) {
      this.code.push(CONTROL.else);
      otherwise();
    }
    this.close(label);
    return this;
  }
  br(label: Label): this {
    return this.withIndex(CONTROL.br, this.depthOf(label));
  }
  brIf(label: Label): this {
    return this.withIndex(CONTROL.br_if, this.depthOf(label));
  }

  /**
   * `for (; i < end; i += step) body()` on i32 locals (signed compare); `i` keeps its starting value, so
   * set it first. The test sits at the top, so an empty range runs the body zero times.
   */
  forUp(i: Local, end: Local, step: number, body: () => void): this {
    return this.block((exit) => {
      this.loop((top) => {
        this.get(i).get(end).i32("ge_s").brIf(exit);
        body();
        this.get(i).i32Const(step).i32("add").set(i).br(top);
      });
    });
  }

  /** `v += delta` on an i32 local. */
  addTo(v: Local, delta: number): this {
    if (delta === 0) return this;
    return this.get(v).i32Const(delta).i32("add").set(v);
  }

  /** The encoded body (locals and code) as the code section stores it, without the size prefix. */
  encodeBody(): number[] {
    if (this.open.length !== 0) throw new Error(`${this.name}: ${this.open.length} unclosed block(s)`);
    const out: number[] = [];
    const runs: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    pushUnsignedLeb128(out, runs.length);
    for (const [count, type] of runs) {
      pushUnsignedLeb128(out, count);
      out.push(VALTYPE[type]);
    }
    for (const b of this.code) out.push(b);
    out.push(CONTROL.end);
    return out;
  }

  private structured(
    opcode: number,
    kind: Label["kind"],
    body: (label: Label) => void,
    result?: ValType,
  ): this {
    const label: Label = { kind };
    this.code.push(opcode, result === undefined ? EMPTY_BLOCK : VALTYPE[result]);
    this.open.push(label);
    body(label);
    this.close(label);
    return this;
  }

  private close(label: Label): void {
    if (this.open[this.open.length - 1] !== label) {
      throw new Error(`${this.name}: blocks closed out of order`);
    }
    this.open.pop();
    this.code.push(CONTROL.end);
  }

  private depthOf(label: Label): number {
    const at = this.open.lastIndexOf(label);
    if (at < 0) throw new Error(`${this.name}: branch to a label whose block is not open`);
    return this.open.length - 1 - at;
  }

  private withIndex(opcode: number, index: number): this {
    this.code.push(opcode);
    pushUnsignedLeb128(this.code, index);
    return this;
  }

  private memarg(align: number, offset: number): this {
    pushUnsignedLeb128(this.code, align);
    pushUnsignedLeb128(this.code, offset);
    return this;
  }
}

interface FunctionEntry {
  typeIndex: number;
  body: FunctionBuilder;
  exported: boolean;
}

/** Builds a module with one linear memory (defined and exported) and a list of functions. */
export class WasmModuleBuilder {
  private readonly types: string[] = [];
  private readonly typeBytes: number[][] = [];
  private readonly functions: FunctionEntry[] = [];
  private memory: { minPages: number; exportName: string } | null = null;

  /** Define the module's memory, `minPages` pages of 64 KiB to start, growable without limit. */
  defineMemory(minPages: number, exportName = "memory"): this {
    if (!Number.isInteger(minPages) || minPages < 0 || minPages > 65536) {
      throw new Error(`defineMemory: minPages must be an integer in [0, 65536], got ${minPages}`);
    }
    this.memory = { minPages, exportName };
    return this;
  }

  /**
   * Add a function and return its index (for `call`). `build` receives the builder and the parameters
   * as locals. Exported under its name unless `exported` is false.
   */
  addFunction(
    name: string,
    params: readonly ValType[],
    results: readonly ValType[],
    build: (f: FunctionBuilder, ...params: Local[]) => void,
    exported = true,
  ): number {
    if (exported && this.functions.some((e) => e.exported && e.body.name === name)) {
      throw new Error(`addFunction: a function named '${name}' is already exported`);
    }
    const body = new FunctionBuilder(name, params, results);
    const index = this.functions.length;
    this.functions.push({ typeIndex: this.typeIndex(params, results), body, exported });
    build(body, ...body.params);
    return index;
  }

  /** The module's bytes. */
  encode(): Uint8Array {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    section(out, 1, vector(this.typeBytes));
    section(
      out,
      3,
      vector(
        this.functions.map((f) => {
          const b: number[] = [];
          pushUnsignedLeb128(b, f.typeIndex);
          return b;
        }),
      ),
    );
    if (this.memory) {
      const limits: number[] = [0x00];
      pushUnsignedLeb128(limits, this.memory.minPages);
      section(out, 5, vector([limits]));
    }
    const exports: number[][] = [];
    this.functions.forEach((f, i) => {
      if (f.exported) exports.push(exportEntry(f.body.name, 0x00, i));
    });
    if (this.memory) exports.push(exportEntry(this.memory.exportName, 0x02, 0));
    section(out, 7, vector(exports));
    section(
      out,
      10,
      vector(
        this.functions.map((f) => {
          const body = f.body.encodeBody();
          const b: number[] = [];
          pushUnsignedLeb128(b, body.length);
          for (const x of body) b.push(x);
          return b;
        }),
      ),
    );
    return Uint8Array.from(out);
  }

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(",")}->${results.join(",")}`;
    const at = this.types.indexOf(key);
    if (at >= 0) return at;
    const b: number[] = [0x60];
    pushUnsignedLeb128(b, params.length);
    for (const p of params) b.push(VALTYPE[p]);
    pushUnsignedLeb128(b, results.length);
    for (const r of results) b.push(VALTYPE[r]);
    this.types.push(key);
    this.typeBytes.push(b);
    return this.types.length - 1;
  }
}

function vector(items: readonly number[][]): number[] {
  const out: number[] = [];
  pushUnsignedLeb128(out, items.length);
  for (const item of items) for (const b of item) out.push(b);
  return out;
}

/** Append a section; an empty vector section is left out (the format allows omitting any section). */
function section(out: number[], id: number, content: number[]): void {
  if (content.length === 1 && content[0] === 0) return;
  out.push(id);
  pushUnsignedLeb128(out, content.length);
  for (const b of content) out.push(b);
}

function exportEntry(name: string, kind: number, index: number): number[] {
  const bytes = new TextEncoder().encode(name);
  const out: number[] = [];
  pushUnsignedLeb128(out, bytes.length);
  for (const b of bytes) out.push(b);
  out.push(kind);
  pushUnsignedLeb128(out, index);
  return out;
}
