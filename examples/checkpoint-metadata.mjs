/**
 * What a checkpoint says about itself: the recipe it was trained with, its seed, the activation ranges
 * its observers saw (turned into the scale and zero point a backend would use) and the reverse pruner's
 * last state. Plain JavaScript: it runs with `node` against the built packages, or with
 * `npx tsx --conditions=source` against their sources.
 *
 *   node examples/checkpoint-metadata.mjs runs/<id>/mlp-quant-trim-s0.safetensors
 */
import { loadCheckpoint } from "@quant-trim/autograd/node";
import { restoreObserver } from "@quant-trim/quant";
import { isRecipe, isZooModel } from "@quant-trim/recipes";

const path = process.argv[2];
if (!path) {
  console.error("usage: node examples/checkpoint-metadata.mjs CHECKPOINT.safetensors");
  process.exit(2);
}
const { tensors, metadata } = loadCheckpoint(path);
const json = (key) => (metadata[key] === undefined ? null : JSON.parse(metadata[key]));

const arch = metadata.architecture;
console.log(
  `${path}: architecture ${arch}${isZooModel(arch) ? " (a zoo model)" : ""}, seed ${metadata.seed ?? "?"}`,
);
console.log(`format ${metadata.format_version}, written by quant-trim ${metadata.package_version}`);

const recipe = json("recipe");
if (recipe) {
  const known = isRecipe(recipe.recipe) ? "" : " (not a recipe of this version)";
  console.log(
    `recipe ${recipe.recipe}${known}: INT${recipe.bits} ${recipe.granularity} weights, λ ${recipe.lambda?.kind ?? "none"}`,
  );
}

console.log("tensors:");
for (const [name, t] of Object.entries(tensors)) console.log(`  ${name} [${t.shape.join(", ")}]`);

const ranges = json("activation_ranges") ?? {};
if (Object.keys(ranges).length > 0 && recipe?.activationGrid) {
  console.log(`activations on the training grid (INT${recipe.activationGrid.bits}):`);
  for (const [point, state] of Object.entries(ranges)) {
    const observer = restoreObserver(state);
    const { min, max } = observer.range();
    const { scale, zeroPoint } = observer.qparams(recipe.activationGrid);
    console.log(`  ${point}: [${min[0]}, ${max[0]}] → scale ${scale[0]}, zero point ${zeroPoint[0]}`);
  }
}

const pruning = json("reverse_pruning");
if (pruning) {
  console.log(`reverse pruning, last step ${pruning.lastStep}:`);
  for (const [layer, s] of Object.entries(pruning.layers))
    console.log(`  ${layer}: p ${s.p}, ${s.trimmedTotal} weight moves in all`);
}
