/**
 * Overflow accounting shared by every integer kernel. A kernel that is handed an `OverflowCounts`
 * adds to it the events of that call; without one it counts nothing and pays nothing. The counts are
 * plain numbers so a report can show where and how often a backend's arithmetic left its range.
 */
export interface OverflowCounts {
  /** Accumulator results outside the accumulator's width (wrapped or saturated, per the kernel's option). */
  accumulator: number;
  /** Pairs of u8×s8 products whose sum left int16 under x86 pair saturation (`vpmaddubsw`). */
  int16Pairs: number;
  /** Outputs clamped by a saturating cast to the output type (or the fused activation range). */
  outputClamps: number;
  /** Elements the kernel produced, so a count can be read as a rate. */
  elements: number;
}

export function overflowCounts(): OverflowCounts {
  return { accumulator: 0, int16Pairs: 0, outputClamps: 0, elements: 0 };
}

/** The integer containers the kernels read and write. */
export type IntArray = Int8Array | Uint8Array | Int16Array | Int32Array;
