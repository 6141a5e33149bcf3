import type { Tensor } from "@quant-trim/tensor";

/**
 * The first NaN or ±Infinity in a state dict, in key order and then row-major element order, or null.
 * A checkpoint with one would still "evaluate" (NaN logits count as class 0), giving a meaningless score
 * with exit code 0; eval refuses it instead.
 */
export function firstNonFinite(
  tensors: Record<string, Tensor>,
): { name: string; index: number; value: number } | null {
  for (const [name, t] of Object.entries(tensors)) {
    const v = t.values();
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return { name, index: i, value: v[i]! };
  }
  return null;
}
