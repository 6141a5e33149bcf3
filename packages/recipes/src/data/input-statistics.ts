import { checkDataset, type Dataset } from "./dataset.js";

/** Mean and standard deviation of every input value of a dataset (all samples, all positions). */
export interface InputStatistics {
  readonly mean: number;
  /** Population standard deviation (divides by the number of values), as input normalisation uses. */
  readonly std: number;
  /** How many values the two were measured on. */
  readonly values: number;
}

/**
 * The standardisation statistics of a dataset's inputs, accumulated in float64 in two passes (the mean
 * first, then squared deviations from it: one pass of Σx² − n·mean² cancels badly when the spread is
 * small next to the mean). Measure them on the training data only and apply them to every split.
 */
export function inputStatistics(ds: Dataset): InputStatistics {
  checkDataset("inputStatistics", ds);
  const x = ds.inputs;
  if (x.length === 0) throw new Error("inputStatistics: the dataset has no input values");
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]!;
  const mean = sum / x.length;
  let squares = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - mean;
    squares += d * d;
  }
  const std = Math.sqrt(squares / x.length);
  if (!Number.isFinite(mean) || !Number.isFinite(std))
    throw new Error(`inputStatistics: the inputs hold non-finite values (mean ${mean}, std ${std})`);
  return { mean, std, values: x.length };
}
