import { horizontalBarChart } from "../charts/horizontal-bar-chart.js";
import { bytes, siNumber } from "../format-numbers.js";
import type { ExperimentResults } from "../results-schema.js";
import { absent, chartRow, paragraph, section, table } from "./html-parts.js";

/** The cost model's estimates per profile: latency, energy and bytes, then every figure in a table. */
export function costSection(r: ExperimentResults): string {
  const cm = r.costModel;
  if (cm === null)
    return section("cost", "Cost model", absent("The cost model was not run for this experiment."));
  const names = r.config.profiles.filter((p) => cm[p]);
  const chart = (title: string, values: number[], format: (v: number) => string, color: string) =>
    horizontalBarChart({
      label: `${title} per profile (cost-model estimate)`,
      title,
      labels: names,
      values,
      format,
      color,
      width: 340,
    });
  const c = names.map((p) => cm[p]!);
  return section(
    "cost",
    "Cost model",
    paragraph(
      `Estimates for one inference of ${r.config.arch} from each profile's device constants (throughput, energy per MAC and per byte): a model for comparing profiles, not a measurement of any device.`,
      "note",
    ) +
      chartRow([
        chart(
          "latency",
          c.map((x) => x.latencySeconds),
          (v) => siNumber(v, "s"),
          "#0072b2",
        ),
        chart(
          "energy",
          c.map((x) => x.energyJoules),
          (v) => siNumber(v, "J"),
          "#009e73",
        ),
        chart(
          "weight storage",
          c.map((x) => x.weightBytes),
          bytes,
          "#cc79a7",
        ),
      ]) +
      table(
        [
          "profile",
          "MACs INT8 / INT4 / float",
          "weights",
          "activations moved",
          "latency",
          "energy",
          "CPU ops",
          "partitions",
        ],
        names.map((p, i) => [
          p,
          [c[i]!.macs.int8, c[i]!.macs.int4, c[i]!.macs.float].map((m) => siNumber(m)).join(" / "),
          bytes(c[i]!.weightBytes),
          bytes(c[i]!.activationBytes),
          siNumber(c[i]!.latencySeconds, "s"),
          siNumber(c[i]!.energyJoules, "J"),
          String(c[i]!.fallbackOps),
          String(c[i]!.partitions),
        ]),
        "CPU ops: ops that fall back to the CPU in float32. Partitions: accelerator and CPU segments of the program.",
      ),
  );
}
