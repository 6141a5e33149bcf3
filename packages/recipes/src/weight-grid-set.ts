import { type GridSpec, gridSpec, onnxCompat, tfliteCompat } from "@quant-trim/quant";

/**
 * Named weight-grid layouts for multi-grid PFQ [ours]. Each one is the weight grid of a family of integer
 * backends, at whatever bit width the recipe trains for; together ("profiles") they span the weight grids
 * of every npu-sim profile: TFLite-style per-channel (TFLite, Ethos-U, Edge TPU, w4a8), onnxruntime /
 * TensorRT per-channel (half-to-even), per-tensor at either rounding (w4a4, onnxruntime dynamic), the
 * fixed-point DPUs' power-of-two grids (per tensor; per channel for their depthwise convolutions) and the
 * legacy unsigned asymmetric one. The recipes
 * package sits above npu-sim, so the set is written out here and a test holds it to the profiles.
 */
const LAYOUTS = {
  "symmetric-per-channel": (bits: number) =>
    tfliteCompat.spec({
      bits,
      signed: true,
      symmetric: true,
      narrowRange: true,
      granularity: "per-channel",
      axis: 0,
    }),
  "symmetric-per-channel-half-even": (bits: number) =>
    onnxCompat.spec({
      bits,
      signed: true,
      symmetric: true,
      narrowRange: true,
      granularity: "per-channel",
      axis: 0,
    }),
  "symmetric-per-tensor": (bits: number) =>
    tfliteCompat.spec({
      bits,
      signed: true,
      symmetric: true,
      narrowRange: true,
      granularity: "per-tensor",
      axis: 0,
    }),
  "symmetric-per-tensor-half-even": (bits: number) =>
    onnxCompat.spec({
      bits,
      signed: true,
      symmetric: true,
      narrowRange: true,
      granularity: "per-tensor",
      axis: 0,
    }),
  "power-of-two-per-tensor": (bits: number) =>
    gridSpec({
      bits,
      signed: true,
      symmetric: true,
      narrowRange: false,
      granularity: "per-tensor",
      axis: 0,
      rounding: "half-up",
      scaleConstraint: "power-of-two",
      symmetricDivisor: "positive-range",
    }),
  "power-of-two-per-channel": (bits: number) =>
    gridSpec({
      bits,
      signed: true,
      symmetric: true,
      narrowRange: false,
      granularity: "per-channel",
      axis: 0,
      rounding: "half-up",
      scaleConstraint: "power-of-two",
      symmetricDivisor: "positive-range",
    }),
  "asymmetric-per-tensor": (bits: number) =>
    tfliteCompat.spec({
      bits,
      signed: false,
      symmetric: false,
      narrowRange: false,
      granularity: "per-tensor",
      axis: 0,
    }),
} as const;

export type WeightGridName = keyof typeof LAYOUTS;

/** Every named layout, in the order "profiles" lists them. */
export const weightGridNames: readonly WeightGridName[] = Object.freeze(
  Object.keys(LAYOUTS) as WeightGridName[],
);

/**
 * What the `grids` option accepts: "profiles" (every named layout), a list of names from
 * `weightGridNames`, or a list of your own GridSpecs (their bits are used as they are).
 */
export type WeightGridSetChoice = "profiles" | readonly (WeightGridName | GridSpec)[];

function isWeightGridName(s: unknown): s is WeightGridName {
  return typeof s === "string" && Object.hasOwn(LAYOUTS, s);
}

/**
 * The weight grids a multi-grid run samples from, at `bits` for named layouts. Throws (naming `fn` and
 * the argument) on an unknown name, an empty or repeated list, or a GridSpec whose bits differ from the
 * recipe's.
 */
export function weightGridSet(choice: WeightGridSetChoice, bits: number, fn = "weightGridSet"): GridSpec[] {
  const valid = `"profiles" or a list of ${weightGridNames.join(", ")}`;
  if (choice === "profiles") return weightGridNames.map((n) => LAYOUTS[n](bits));
  if (!Array.isArray(choice)) throw new Error(`${fn}: grids must be ${valid}, got ${JSON.stringify(choice)}`);
  if (choice.length === 0) throw new Error(`${fn}: grids must list at least one grid`);
  const names = choice.filter((c) => typeof c === "string");
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) throw new Error(`${fn}: grids lists '${repeated}' twice`);
  return choice.map((c, i) => {
    if (typeof c === "string") {
      if (!isWeightGridName(c)) throw new Error(`${fn}: grids[${i}] is '${c}'; expected ${valid}`);
      return LAYOUTS[c](bits);
    }
    if (typeof c !== "object" || c === null)
      throw new Error(`${fn}: grids[${i}] must be a grid name or a GridSpec, got ${String(c)}`);
    const spec = gridSpec(c as GridSpec);
    if (spec.bits !== bits)
      throw new Error(`${fn}: grids[${i}] has ${spec.bits} bits, but the recipe trains at ${bits}`);
    return spec;
  });
}

/**
 * Parse a command line's grid list: "profiles", or comma-separated layout names. Throws naming the
 * unknown name on anything else.
 */
export function parseWeightGridSet(text: string): WeightGridSetChoice {
  const t = text.trim();
  if (t === "profiles") return "profiles";
  const names = t.split(",").map((s) => s.trim());
  for (const n of names)
    if (!isWeightGridName(n))
      throw new Error(
        `parseWeightGridSet: unknown grid '${n}'; expected profiles or a comma-separated list of ${weightGridNames.join(", ")}`,
      );
  return names as WeightGridName[];
}
