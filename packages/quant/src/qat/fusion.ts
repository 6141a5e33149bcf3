/**
 * Where quantization points go, as data: the blocks integer backends execute as one kernel. A block
 * starts at an `anchor` module; a following module of type `fold` is folded into the anchor's weight
 * (Conv2d + BatchNorm2d, as deployment folds it), and a following activation of a `fuse` type is fused
 * into the block, so the block gets one output point after it. A follower joins the block only when it
 * is the sole consumer of the block's output so far. Modules of other types (pooling, flatten, dropout,
 * identity) get no point: they keep their input's quantization parameters.
 */
export interface FusionPattern {
  /** Module type (`constructor.name`, as the tracer records it) that starts the block. */
  readonly anchor: string;
  /** The anchor's weight gets a fake-quantization point (Linear, Conv2d). */
  readonly weight: boolean;
  /** A module type folded into the weight when it directly follows the anchor. */
  readonly fold?: string;
  /** Activation types fused into the block when one follows. */
  readonly fuse?: readonly string[];
}

const ACTIVATIONS = ["ReLU", "ReLU6"] as const;

export const FUSION_PATTERNS: readonly FusionPattern[] = [
  { anchor: "Conv2d", weight: true, fold: "BatchNorm2d", fuse: ACTIVATIONS },
  { anchor: "Linear", weight: true, fuse: ACTIVATIONS },
  // A residual add requantizes its sum (with a following ReLU fused).
  { anchor: "Add", weight: false, fuse: ACTIVATIONS },
  // Normalisation and activations that no block absorbed get their own output point.
  { anchor: "BatchNorm2d", weight: false },
  { anchor: "BatchNorm1d", weight: false },
  { anchor: "ReLU", weight: false },
  { anchor: "ReLU6", weight: false },
];

const BY_ANCHOR = new Map(FUSION_PATTERNS.map((p) => [p.anchor, p]));

/** The pattern a module of this type starts, if any. */
export function fusionPattern(type: string): FusionPattern | undefined {
  return BY_ANCHOR.get(type);
}

/**
 * Functional ops (called in a custom forward, outside any leaf module) that start the same blocks: a
 * residual sum written as `ops.add` requantizes like the `Add` module (the NPU compiler quantizes it
 * either way), and a ReLU written as `ops.relu` gets an output point like the module.
 */
export const FUNCTIONAL_PATTERNS: readonly FusionPattern[] = [
  { anchor: "add", weight: false, fuse: ACTIVATIONS },
  { anchor: "relu", weight: false },
  { anchor: "relu6", weight: false },
];

const BY_OP = new Map(FUNCTIONAL_PATTERNS.map((p) => [p.anchor, p]));

/** The pattern a functional op of this type starts, if any. */
export function functionalPattern(op: string): FusionPattern | undefined {
  return BY_OP.get(op);
}

/** The functional ops that stand for the activation modules a block can fuse. */
const FUNCTIONAL_ACTIVATIONS: ReadonlyMap<string, string> = new Map([
  ["relu", "ReLU"],
  ["relu6", "ReLU6"],
]);

/** The activation type of a traced node: its module type, or the module a functional op stands for. */
export function activationType(node: { kind: "module" | "op"; type: string }): string {
  return node.kind === "module" ? node.type : (FUNCTIONAL_ACTIVATIONS.get(node.type) ?? node.type);
}

/** Module types that carry a weight point (what "@first" / "@last" overrides refer to). */
export const WEIGHT_LAYER_TYPES: ReadonlySet<string> = new Set(
  FUSION_PATTERNS.filter((p) => p.weight).map((p) => p.anchor),
);
