import type { WasmMemory } from "./wasm-api.js";

/**
 * Allocation of WebAssembly linear memory for the kernels' operands, packed panels and saved buffers.
 *
 * A first-fit free list with coalescing: a training step allocates and frees a handful of blocks per
 * kernel call, so a list of a few entries is searched. Memory only ever grows (WebAssembly cannot
 * shrink it). Growing detaches the old ArrayBuffer, so typed-array views must be taken from this heap
 * right before use and never kept across an allocation.
 */

const PAGE = 65536;
/** Every block starts on a 64-byte boundary: a cache line, and aligned for any v128 access. */
const ALIGN = 64;

interface FreeBlock {
  start: number;
  size: number;
}

export class WasmHeap {
  private readonly freeList: FreeBlock[] = [];
  private readonly used = new Map<number, number>();
  private viewBuffer: ArrayBuffer | null = null;
  private f32View = new Float32Array(0);
  private i32View = new Int32Array(0);
  private u8View = new Uint8Array(0);
  private i8View = new Int8Array(0);

  /** Manage memory from byte `base` (rounded up to the alignment) to the end, growing on demand. */
  constructor(
    private readonly memory: WasmMemory,
    base: number,
  ) {
    const start = roundUp(base, ALIGN);
    const end = memory.buffer.byteLength;
    if (end > start) this.freeList.push({ start, size: end - start });
  }

  /** A block of at least `bytes` bytes (64-byte aligned); contents are unspecified. */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new Error(`WasmHeap.alloc: bytes must be a non-negative integer, got ${bytes}`);
    }
    const size = Math.max(ALIGN, roundUp(bytes, ALIGN));
    for (let i = 0; i < this.freeList.length; i++) {
      const b = this.freeList[i]!;
      if (b.size >= size) return this.take(i, size);
    }
    this.grow(size);
    return this.alloc(bytes);
  }

  /** Return a block obtained from `alloc`. */
  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new Error(`WasmHeap.release: ${ptr} is not an allocated block`);
    this.used.delete(ptr);
    let i = 0;
    while (i < this.freeList.length && this.freeList[i]!.start < ptr) i++;
    this.freeList.splice(i, 0, { start: ptr, size });
    // Merge with the right neighbour, then the left one.
    const cur = this.freeList[i]!;
    const next = this.freeList[i + 1];
    if (next && cur.start + cur.size === next.start) {
      cur.size += next.size;
      this.freeList.splice(i + 1, 1);
    }
    const prev = this.freeList[i - 1];
    if (prev && prev.start + prev.size === cur.start) {
      prev.size += cur.size;
      this.freeList.splice(i, 1);
    }
  }

  /** Bytes currently handed out (for tests and diagnostics). */
  usedBytes(): number {
    let n = 0;
    for (const s of this.used.values()) n += s;
    return n;
  }

  /** Size of the linear memory in bytes. */
  totalBytes(): number {
    return this.memory.buffer.byteLength;
  }

  f32(): Float32Array {
    this.refreshViews();
    return this.f32View;
  }
  i32(): Int32Array {
    this.refreshViews();
    return this.i32View;
  }
  u8(): Uint8Array {
    this.refreshViews();
    return this.u8View;
  }
  i8(): Int8Array {
    this.refreshViews();
    return this.i8View;
  }

  private take(i: number, size: number): number {
    const b = this.freeList[i]!;
    const ptr = b.start;
    if (b.size === size) this.freeList.splice(i, 1);
    else {
      b.start += size;
      b.size -= size;
    }
    this.used.set(ptr, size);
    return ptr;
  }

  /** Grow so that a free block of `size` bytes exists at the end of memory. */
  private grow(size: number): void {
    const end = this.memory.buffer.byteLength;
    const last = this.freeList[this.freeList.length - 1];
    const tail = last && last.start + last.size === end ? last.size : 0;
    const need = size - tail;
    // Grow by at least a quarter of the current size, so a slowly growing workload reallocates rarely.
    const pages = Math.max(Math.ceil(need / PAGE), Math.ceil(end / PAGE / 4), 1);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new Error(
        `WasmHeap.alloc: cannot grow WebAssembly memory by ${pages} pages beyond ${end} bytes (${String(e)})`,
      );
    }
    const added = pages * PAGE;
    if (tail > 0) last!.size += added;
    else this.freeList.push({ start: end, size: added });
  }

  private refreshViews(): void {
    const buffer = this.memory.buffer;
    if (buffer === this.viewBuffer) return;
    this.viewBuffer = buffer;
    this.f32View = new Float32Array(buffer);
    this.i32View = new Int32Array(buffer);
    this.u8View = new Uint8Array(buffer);
    this.i8View = new Int8Array(buffer);
  }
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}
