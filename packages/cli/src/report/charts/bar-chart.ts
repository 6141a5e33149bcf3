import { FONT, type Frame, legend, SMALL_FONT, yAxis } from "./frame.js";
import { linearScale, niceDomain, niceTicks } from "./scale.js";
import { element, svgRoot, svgText, textWidth, tooltip } from "./svg.js";

export interface BarSeries {
  readonly name: string;
  readonly color: string;
  /** One value per group; null draws nothing (the figure does not exist). */
  readonly values: readonly (number | null)[];
  /** Half-length of each error bar (a std); null or absent: no bar. */
  readonly errors?: readonly (number | null)[];
}

export interface GroupedBarChartOptions {
  /** What the chart shows, for screen readers. */
  readonly label: string;
  readonly groups: readonly string[];
  readonly series: readonly BarSeries[];
  readonly yTitle: string;
  /** Tick labels. */
  readonly format: (v: number) => string;
  /** Hover text of one bar. */
  readonly describe: (series: string, group: string, value: number, error: number | null) => string;
  readonly width?: number;
  readonly height?: number;
  /**
   * Let the value axis start above 0 when every value sits far from it (accuracies of 95–99 %), so that
   * differences stay visible; the chart then says so under the plot.
   */
  readonly zoom?: boolean;
  /** Named runs of consecutive groups (INT8 profiles, INT4 profiles): separated by a line, labelled above. */
  readonly bands?: readonly { readonly from: number; readonly label: string }[];
}

const LABEL_ANGLE = 35;

/**
 * Grouped vertical bars with error bars: one group per category (a profile), one bar per series (a
 * recipe). Long group names are turned by 35° and the margins grow to fit them.
 */
export function groupedBarChart(o: GroupedBarChartOptions): string {
  const width = o.width ?? 1100;
  const plotHeight = o.height ?? 300;
  const nSeries = Math.max(1, o.series.length);
  const maxLabel = Math.max(0, ...o.groups.map((g) => textWidth(g, SMALL_FONT)));
  const leg = legend(
    o.series.map((s) => ({ name: s.name, color: s.color })),
    70,
    16,
    width - 90,
  );
  const right = 16;
  const bandFor = (left: number) => (width - left - right) / Math.max(1, o.groups.length);
  const rotate = maxLabel > bandFor(70) - 6;
  const rad = (LABEL_ANGLE * Math.PI) / 180;
  // A turned label reaches left of its group: the first one must not leave the picture.
  const firstReach = rotate
    ? textWidth(o.groups[0] ?? "", SMALL_FONT) * Math.cos(rad) - bandFor(70) / 2 + 8
    : 0;
  const left = Math.max(70, Math.ceil(firstReach));
  const band = bandFor(left);
  const labelDrop = rotate ? maxLabel * Math.sin(rad) + 14 : 18;
  const bandRoom = o.bands && o.bands.length > 0 ? 16 : 0;
  const frame: Frame = {
    left,
    top: 16 + leg.height + 8 + bandRoom,
    width: width - left - right,
    height: plotHeight,
  };

  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of o.series)
    s.values.forEach((v, i) => {
      if (v === null) return;
      const e = s.errors?.[i] ?? 0;
      lo = Math.min(lo, v - e);
      hi = Math.max(hi, v + e);
    });
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  const zoomed = o.zoom === true && lo > 0 && hi - lo < 0.5 * hi;
  const [d0, d1] = niceDomain(zoomed ? lo - 0.1 * (hi - lo) : Math.min(0, lo), Math.max(0, hi));
  const y = linearScale([d0, d1], [frame.top + frame.height, frame.top]);
  const baseValue = d0 > 0 ? d0 : Math.min(d1, 0);

  const out: string[] = [leg.markup, ...yAxis(frame, y, niceTicks(d0, d1, 6), o.format, o.yTitle)];
  const inner = band * 0.8;
  const barWidth = inner / nSeries;
  o.groups.forEach((group, gi) => {
    const gx = frame.left + gi * band + (band - inner) / 2;
    o.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null || v === undefined) return;
      const e = s.errors?.[gi] ?? null;
      const x = gx + si * barWidth;
      const y0 = y(baseValue);
      const y1 = y(Math.max(d0, Math.min(d1, v)));
      out.push(
        element(
          "rect",
          {
            x: x + 0.5,
            y: Math.min(y0, y1),
            width: Math.max(1, barWidth - 1),
            height: Math.max(0.5, Math.abs(y1 - y0)),
            fill: s.color,
          },
          tooltip(o.describe(s.name, group, v, e)),
        ),
      );
      if (e !== null && e > 0) {
        const cx = x + barWidth / 2;
        const cap = Math.min(6, barWidth * 0.6) / 2;
        const top = y(Math.min(d1, v + e));
        const bottom = y(Math.max(d0, v - e));
        out.push(
          element("path", {
            d: `M${cx - cap} ${top}H${cx + cap}M${cx} ${top}V${bottom}M${cx - cap} ${bottom}H${cx + cap}`,
            class: "error",
          }),
        );
      }
    });
    const lx = frame.left + gi * band + band / 2;
    const ly = frame.top + frame.height + 14;
    out.push(
      rotate
        ? svgText(lx + 4, ly, group, {
            "text-anchor": "end",
            transform: `rotate(-${LABEL_ANGLE} ${lx + 4} ${ly})`,
            class: "tick",
          })
        : svgText(lx, ly, group, { "text-anchor": "middle", class: "tick" }),
    );
  });
  out.push(
    element("line", {
      x1: frame.left,
      x2: frame.left + frame.width,
      y1: y(baseValue),
      y2: y(baseValue),
      class: "axis",
    }),
  );
  for (const b of o.bands ?? []) {
    const bx = frame.left + b.from * band;
    if (b.from > 0)
      out.push(
        element("line", {
          x1: bx,
          x2: bx,
          y1: frame.top - bandRoom,
          y2: frame.top + frame.height,
          class: "band",
        }),
      );
    out.push(svgText(bx + 6, frame.top - 5, b.label, { class: "band-label" }));
  }
  let height = frame.top + frame.height + labelDrop + 6;
  if (zoomed) {
    out.push(
      svgText(
        frame.left,
        height + FONT,
        `The axis starts at ${o.format(d0)}, not at 0, so that small differences show.`,
        {
          class: "note",
        },
      ),
    );
    height += FONT + 8;
  }
  return svgRoot(width, height, o.label, out);
}
