/**
 * Cost of one reverse-pruning projection (`ReversePruner.step`) over all weights of the MNIST-sized
 * models: `cnn` (conv 8×1×3×3, conv 16×8×3×3, linear 10×784) and `mlp` (linear 256×784, 10×256), per
 * tensor and per output channel, quantile rule at the INT4 default p = 0.99 (the larger mlp tensor
 * goes through the histogram path, everything else selects on a copy), plus the robust kSigma rule.
 * Peer: a plain sort-based implementation (copy |w|, sort, pick the quantile, clamp) on the same tensors.
 * Target: the cnn projection well under 1 ms (< 5 % of a ~100 ms training step at batch 64).
 *
 * The pruner runs at steady state, as in training: after the first step the weights are already inside
 * [−τ, τ], so each step costs the threshold search plus a pass that moves few weights.
 *
 * Run: `npx tsx bench/prune.bench.ts`. Prints one JSON line (median milliseconds per case and ratios)
 * and saves benny's full JSON to bench/results/prune.json.
 */
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { type NamedParam, ReversePruner } from "@quant-trim/prune";
import { Rng, randn, type Tensor } from "@quant-trim/tensor";
import { add as benchCase, complete, configure, cycle, save, suite } from "benny";

function params(seed: number, shapes: Record<string, number[]>): NamedParam[] {
  const rng = new Rng(seed);
  return Object.entries(shapes).map(([name, shape]) => ({
    name,
    param: { data: randn(shape, rng, 0, 0.1), grad: null },
  }));
}

const CNN = { "conv1.weight": [8, 1, 3, 3], "conv2.weight": [16, 8, 3, 3], "fc.weight": [10, 784] };
const MLP = { "fc1.weight": [256, 784], "fc2.weight": [10, 256] };

function pruner(shapes: Record<string, number[]>, options: ConstructorParameters<typeof ReversePruner>[1]) {
  const rp = new ReversePruner(params(1, shapes), options);
  rp.step(0); // reach the steady state before timing
  let step = 1;
  return () => rp.step(step++);
}

/** The naive peer: per-tensor τ by a full sort of |w|, then a clamp. */
function sortBasedPeer(shapes: Record<string, number[]>, p: number) {
  const tensors: Tensor[] = params(1, shapes).map((x) => x.param.data);
  return () => {
    for (const t of tensors) {
      const d = t.data;
      const mags = Array.from(d, Math.abs).sort((a, b) => a - b);
      const tau = mags[Math.max(0, Math.ceil(p * mags.length) - 1)]!;
      for (let i = 0; i < d.length; i++) {
        if (d[i]! > tau) d[i] = tau;
        else if (d[i]! < -tau) d[i] = -tau;
      }
    }
  };
}

const int4 = { pFinal: 0.99 };
const CASES = {
  cnnPerTensor: "cnn quantile per-tensor",
  cnnPerChannel: "cnn quantile per-channel",
  cnnRobustKSigma: "cnn robust kSigma per-channel",
  cnnSortPeer: "cnn sort-based peer per-tensor",
  mlpPerTensor: "mlp quantile per-tensor (histogram path)",
  mlpPerChannel: "mlp quantile per-channel",
  mlpSortPeer: "mlp sort-based peer per-tensor",
} as const;

const fns = {
  [CASES.cnnPerTensor]: pruner(CNN, { ...int4, granularity: "per-tensor" }),
  [CASES.cnnPerChannel]: pruner(CNN, { ...int4, granularity: "per-channel" }),
  [CASES.cnnRobustKSigma]: pruner(CNN, {
    granularity: "per-channel",
    rule: { rule: "kSigma", k: 3, robust: true },
  }),
  [CASES.cnnSortPeer]: sortBasedPeer(CNN, 0.99),
  [CASES.mlpPerTensor]: pruner(MLP, { ...int4, granularity: "per-tensor" }),
  [CASES.mlpPerChannel]: pruner(MLP, { ...int4, granularity: "per-channel" }),
  [CASES.mlpSortPeer]: sortBasedPeer(MLP, 0.99),
};

const summary = await suite(
  "prune",
  ...Object.entries(fns).map(([name, fn]) => benchCase(name, fn)),
  configure({ cases: { minSamples: 20, maxTime: 1 } }),
  cycle(() => undefined),
  complete(() => undefined),
  save({
    file: "prune",
    folder: fileURLToPath(new URL("./results", import.meta.url)),
    format: "json",
    details: true,
  }),
);

const medianMs: Record<string, number> = {};
for (const r of summary.results) medianMs[r.name] = Number((r.details.median * 1000).toFixed(4));
const ratio = (x: string, y: string) => Number((medianMs[x]! / medianMs[y]!).toFixed(3));
console.log(
  JSON.stringify({
    suite: "prune",
    what: "ReversePruner.step over all weights (steady state), median ms",
    machine: `${cpus()[0]?.model ?? "unknown"} ×${cpus().length}`,
    node: process.version,
    medianMs,
    ratios: {
      cnnPerTensorVsSortPeer: ratio(CASES.cnnPerTensor, CASES.cnnSortPeer),
      mlpPerTensorVsSortPeer: ratio(CASES.mlpPerTensor, CASES.mlpSortPeer),
    },
    target: "cnn prune well under 1 ms (< 5 % of a ~100 ms cnn training step at batch 64)",
  }),
);
