import type { Module } from "@quant-trim/autograd";

/** What every zoo builder needs to know about the data; nothing about a particular dataset is built in. */
export interface ZooOptions {
  /** One sample's shape without the batch axis, e.g. [channels, height, width]. */
  readonly inputShape: readonly number[];
  /** How many logits the model returns. */
  readonly classes: number;
  /** Seeds the generator the initial weights come from (default 0): same seed, same model everywhere. */
  readonly seed?: number;
}

/** Builds a freshly initialised model; the same options always give the same weights. */
export type ZooBuilder = (options: ZooOptions) => Module;

const OPTION_KEYS = new Set(["inputShape", "classes", "seed"]);

/**
 * The checked options of `builder`: a typo such as `clases` or a fractional class count would otherwise
 * surface as a shape error deep inside a layer constructor, or not at all.
 */
export function checkZooOptions(
  builder: string,
  options: ZooOptions,
  rank?: number,
): { inputShape: number[]; classes: number; seed: number } {
  if (typeof options !== "object" || options === null)
    throw new Error(`${builder}: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options))
    if (!OPTION_KEYS.has(key))
      throw new Error(`${builder}: unknown option '${key}' (expected inputShape, classes, seed)`);
  const { inputShape, classes, seed = 0 } = options;
  if (
    !Array.isArray(inputShape) ||
    inputShape.length === 0 ||
    inputShape.some((d) => !Number.isInteger(d) || d <= 0)
  )
    throw new Error(
      `${builder}: inputShape must list positive integers (one sample, no batch axis), got ${JSON.stringify(inputShape)}`,
    );
  if (rank !== undefined && inputShape.length !== rank)
    throw new Error(
      `${builder}: inputShape must have ${rank} dimensions (channels, height, width), got ${JSON.stringify(inputShape)}`,
    );
  if (!Number.isInteger(classes) || classes < 2)
    throw new Error(`${builder}: classes must be an integer ≥ 2, got ${String(classes)}`);
  // Rng takes 32-bit seeds; anything else would be truncated to another model without a word.
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new Error(`${builder}: seed must be an integer in [0, 4294967295], got ${String(seed)}`);
  return { inputShape: [...inputShape], classes, seed };
}
