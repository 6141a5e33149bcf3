/**
 * Top-1 agreement: the fraction of samples on which two models predict the same class, whatever the
 * true label. An integer backend can keep the FP model's accuracy while changing which digits it gets
 * right; agreement sees that, accuracy does not.
 */
export function top1Agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const fn = "top1Agreement";
  for (const [name, x] of [
    ["a", a],
    ["b", b],
  ] as const)
    if (x === null || typeof x !== "object" || typeof x.length !== "number")
      throw new Error(`${fn}: ${name} must be an array of predicted classes`);
  if (a.length !== b.length)
    throw new Error(`${fn}: a holds ${a.length} predictions but b holds ${b.length}`);
  if (a.length === 0) throw new Error(`${fn}: no predictions to compare`);
  let same = 0;
  for (let i = 0; i < a.length; i++) {
    for (const [name, x] of [
      ["a", a[i]!],
      ["b", b[i]!],
    ] as const)
      if (!Number.isInteger(x) || x < 0) throw new Error(`${fn}: ${name}[${i}] is ${x}, not a class index`);
    if (a[i] === b[i]) same++;
  }
  return same / a.length;
}

/** Top-1 class of each row of row-major `[rows, classes]` logits (the first maximum on a tie). */
export function predictedClasses(logits: ArrayLike<number>, classes: number): Int32Array {
  const fn = "predictedClasses";
  if (!Number.isInteger(classes) || classes < 1)
    throw new Error(`${fn}: classes must be an integer ≥ 1, got ${String(classes)}`);
  if (logits === null || typeof logits !== "object" || logits.length % classes !== 0)
    throw new Error(
      `${fn}: logits must hold rows of ${classes} values, got ${logits?.length ?? String(logits)} values`,
    );
  const rows = logits.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = logits[r * classes]!;
    for (let c = 0; c < classes; c++) {
      const v = logits[r * classes + c]!;
      if (Number.isNaN(v)) throw new Error(`${fn}: logits row ${r}, class ${c} is NaN`);
      if (v > bestValue) [best, bestValue] = [c, v];
    }
    out[r] = best;
  }
  return out;
}
