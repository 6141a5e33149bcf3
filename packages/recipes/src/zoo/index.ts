import type { Module } from "@quant-trim/autograd";
import { cnn } from "./cnn.js";
import { cnnBn } from "./cnn-bn.js";
import { depthwiseSeparable } from "./depthwise-separable.js";
import { mlp } from "./mlp.js";
import type { ZooBuilder, ZooOptions } from "./options.js";
import { residual } from "./residual.js";

export type { ZooBuilder, ZooOptions } from "./options.js";

/**
 * The model zoo: name → builder. A new model is one file in this folder and one line here; its name is
 * what checkpoints record as their architecture and what the CLI's --arch accepts.
 */
export const zoo: Readonly<Record<string, ZooBuilder>> = Object.freeze({
  mlp,
  cnn,
  "cnn-bn": cnnBn,
  residual,
  "depthwise-separable": depthwiseSeparable,
});

/** Every zoo model's name, in registration order. */
export const zooNames: readonly string[] = Object.freeze(Object.keys(zoo));

export function isZooModel(name: string): boolean {
  return Object.hasOwn(zoo, name);
}

/** A freshly initialised zoo model. */
export function buildModel(name: string, options: ZooOptions): Module {
  if (!isZooModel(name))
    throw new Error(`buildModel: unknown model '${name}'; the zoo has ${zooNames.join(", ")}`);
  return zoo[name]!(options);
}
