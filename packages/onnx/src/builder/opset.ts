/*
 * Which IR version a model needs for the ONNX opset it imports: the lowest IR version released together
 * with that opset (onnx/helper.py's VERSION_TABLE). Runtimes refuse a model whose IR version is older
 * than its opset, and older runtimes refuse IR versions they do not know, so the lowest is the safest.
 */

/** Opset of the default domain when none is given (the project's float export default). */
export const DEFAULT_OPSET = 13;

/** [last opset of the row, IR version], ascending. */
const IR_BY_OPSET: readonly (readonly [number, number])[] = [
  [8, 3],
  [9, 4],
  [10, 5],
  [11, 6],
  [14, 7],
  [18, 8],
  [20, 9],
  [22, 10],
  [23, 11],
];

/** Highest default-domain opset whose IR version this table knows. */
export const MAX_KNOWN_OPSET = IR_BY_OPSET[IR_BY_OPSET.length - 1]![0];

/** The IR version to write for a model importing default-domain opset `opset` (1 … MAX_KNOWN_OPSET). */
export function irVersionForOpset(opset: number): number {
  if (!Number.isInteger(opset) || opset < 1 || opset > MAX_KNOWN_OPSET) {
    throw new Error(
      `irVersionForOpset: opset must be an integer in [1, ${MAX_KNOWN_OPSET}], got ${String(opset)} (give irVersion explicitly for newer opsets)`,
    );
  }
  for (const [last, ir] of IR_BY_OPSET) if (opset <= last) return ir;
  throw new Error("irVersionForOpset: unreachable");
}
