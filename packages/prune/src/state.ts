/**
 * Parse a pruner snapshot given as an object or its JSON text, checking its format tag. The caller
 * validates the fields it owns.
 */
export function parseState(fn: string, state: unknown, format: string): Record<string, unknown> {
  let s: unknown = state;
  if (typeof state === "string") {
    try {
      s = JSON.parse(state);
    } catch (e) {
      throw new Error(`${fn}: state is not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof s !== "object" || s === null || (s as { format?: unknown }).format !== format) {
    throw new Error(`${fn}: expected an object with format '${format}'`);
  }
  return s as Record<string, unknown>;
}
