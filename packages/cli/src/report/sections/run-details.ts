import { formatCount } from "../../progress/format.js";
import { escapeHtml } from "../escape.js";
import { readableDate } from "../format-dates.js";
import { bytes } from "../format-numbers.js";
import type { ExperimentResults } from "../results-schema.js";
import { paragraph, section, table } from "./html-parts.js";

function value(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return v.length === 0 ? "(none)" : v.join(", ");
  return String(v);
}

/** Configuration, dataset identity and statistics, timings and warnings: what reproduces the run. */
export function runDetailsSection(r: ExperimentResults): string {
  const c = r.config;
  const config = table(
    ["setting", "value"],
    [
      ["command", `quant-trim ${c.command.join(" ")}`],
      ["architecture", c.arch],
      ["recipes", value(c.recipes)],
      ["epochs", String(c.epochs)],
      ["learning rate", String(c.lr)],
      ["batch size", String(c.batchSize)],
      ["seeds", value(c.seeds)],
      ["training grid", `INT${c.bits} ${c.granularity}`],
      ["profiles", value(c.profiles)],
      ["calibration samples", String(c.calibrationSamples)],
      ["multi-grid PFQ grids", c.grids === null ? "off" : value(c.grids)],
      ["power-of-two thresholds", c.pow2Thresholds ? "on" : "off"],
      ...Object.entries(c.recipeOptions).map(([k, v]) => [k, value(v)]),
      ["data folder", c.dataDir ?? "bundled MNIST digits"],
      ["output folder", c.out],
    ],
  );
  const d = r.dataset;
  const split =
    d.split.kind === "files"
      ? "the dataset's own test files"
      : d.split.kind === "held-out"
        ? `${(100 * (d.split.testFraction ?? 0)).toFixed(0)} % of the training files held out (seed ${d.split.seed})`
        : `fixed split of the bundled digits (seed ${d.split.seed})`;
  const dataset = table(
    ["dataset", "value"],
    [
      ["name", d.name],
      ["test set", split],
      [
        "samples",
        `${formatCount(d.trainCount)} train · ${formatCount(d.testCount)} test${d.validationCount === null ? "" : ` · ${formatCount(d.validationCount)} validation`}`,
      ],
      ["sample shape", `[${d.sampleShape.join(", ")}]`],
      ["classes", String(d.classes)],
      [
        "standardisation",
        `(x − ${Number(d.standardization.mean.toPrecision(6))}) / ${Number(d.standardization.std.toPrecision(6))}, ${d.standardization.measuredOn === "training images" ? "measured on the training images" : "fixed MNIST constants"}`,
      ],
      ...(d.classCounts === null
        ? []
        : [
            ["train samples per class", value(d.classCounts.train)],
            ["test samples per class", value(d.classCounts.test)],
          ]),
      ...d.files.map((f) => [f.role, `${f.path} · ${bytes(f.bytes)} · sha256 ${f.sha256}`]),
    ],
  );
  const t = r.timings;
  const timings = paragraph(
    `Started ${readableDate(t.startedAt)}, finished ${readableDate(t.finishedAt)}: ${t.totalSeconds.toFixed(0)} s in total, ${t.trainSeconds.toFixed(0)} s training, ${t.evalSeconds.toFixed(0)} s evaluating.`,
    "note",
  );
  const warnings =
    r.warnings.length === 0
      ? paragraph("No warnings.", "note")
      : `<ul class="warnings">${r.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul>`;
  return section(
    "details",
    "Configuration, dataset and timings",
    `<div class="two-col"><div>${config}</div><div>${dataset}</div></div>${timings}<h3>Warnings</h3>${warnings}`,
  );
}
