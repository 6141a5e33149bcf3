import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import {
  alignDecimals,
  type ExperimentResults,
  escapeHtml,
  niceDomain,
  niceStep,
  niceTicks,
  parseResults,
  REPORT_SECTIONS,
  renderReport,
} from "quant-trim/internal";
import { afterAll, describe, expect, it } from "vitest";
import { reportFixture } from "./report-fixture.js";

/** Parsed JSON, edited freely by the tests below to break or thin out the fixture. */
// biome-ignore lint/suspicious/noExplicitAny: the tests reach into arbitrary parts of the parsed JSON
type Json = any;

/** A deep, mutable copy, as JSON.parse of results.json would give. */
function copy(r: ExperimentResults): Json {
  return JSON.parse(JSON.stringify(r));
}

const fixture = reportFixture();
const html = renderReport(parseResults(copy(fixture)));

describe("renderReport", () => {
  it("renders every section, in order, with its heading and a navigation link", () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    let at = 0;
    for (const [id] of REPORT_SECTIONS) {
      const i = html.indexOf(`<section id="${id}"><h2>`);
      expect(i, id).toBeGreaterThan(at);
      at = i;
      expect(html).toContain(`<a href="#${id}">`);
    }
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
  });

  it("is self-contained: no script, no external resource, and a policy that forbids fetching any", () => {
    for (const banned of [
      "<script",
      "<link",
      "<img",
      "<iframe",
      "<object",
      "<embed",
      "@import",
      "url(",
      " src=",
      "http:",
      "https:",
    ])
      expect(html, banned).not.toContain(banned);
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
    expect(hrefs.length).toBe(REPORT_SECTIONS.length);
    for (const h of hrefs) expect(h.startsWith("#")).toBe(true);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  it("shows the summary figures of the results with their ± and the test-set noise", () => {
    const s = fixture.summary.find((x) => x.recipe === "quant-trim")!;
    const pm = (m: number, sd: number | null) => `${(100 * m).toFixed(2)} ± ${(100 * sd!).toFixed(2)}`;
    const row = html.slice(
      html.indexOf("<th>quant-trim</th>"),
      html.indexOf("</tr>", html.indexOf("<th>quant-trim</th>")),
    );
    expect(row).toContain(pm(s.fpAccuracy.mean, s.fpAccuracy.std));
    expect(row).toContain(pm(s.int8!.worstGap.mean, s.int8!.worstGap.std));
    expect(row).toContain(pm(s.int4!.spread.mean, s.int4!.spread.std));
    expect(html).toContain(`Test-set noise: ±${(100 * fixture.testNoise.standardError).toFixed(2)} points`);
    expect(html).toContain("on 2,000 test samples");
    // One bar per recipe per group (FP32 + 12 profiles), each with its error bar (the fixture has 3 seeds).
    const accuracy = html.slice(html.indexOf('<section id="accuracy">'), html.indexOf('<section id="gaps">'));
    // (Bars carry a tooltip; the legend's swatch of the same colour does not.)
    expect(accuracy.match(/<rect [^>]*fill="#0072b2"[^>]*><title>/g)).toHaveLength(13);
    expect(accuracy.match(/class="error"/g)).toHaveLength(3 * 13);
    expect(accuracy).toContain("INT4 profiles");
  });

  it("escapes every string that comes from the results", () => {
    const r = copy(fixture);
    const evil = `x"><svg onload=alert(1)>`;
    r.config.recipes = r.config.recipes.map((x: string) => (x === "qat" ? evil : x));
    for (const run of r.runs) if (run.recipe === "qat") run.recipe = evil;
    for (const s of r.summary) if (s.recipe === "qat") s.recipe = evil;
    r.dataset.name = "<img src=x onerror=alert(2)>";
    r.warnings = ["</li></ul><script>alert(3)</script>"];
    r.profiles[0].summary = `" onmouseover="alert(4)`;
    r.config.command = ["experiment", "--out", "<b>&amp;</b>"];
    for (const run of r.runs)
      for (const p of Object.values(run.profiles) as { layerSqnr: { layer: string }[] }[])
        p.layerSqnr[0]!.layer = "features<0>&'";
    for (const run of r.runs) if (run.trimmedLayers) run.trimmedLayers[0].layer = "<style>*{}</style>";
    const page = renderReport(parseResults(r));
    for (const raw of ["<svg onload", "<img", "<script", 'onmouseover="', "<b>", "<0>", "<style>*"])
      expect(page, raw).not.toContain(raw);
    expect(page).toContain("x&quot;&gt;&lt;svg onload=alert(1)&gt;");
    expect(page).toContain("&lt;img src=x onerror=alert(2)&gt;");
    expect(page).toContain("&lt;/li&gt;&lt;/ul&gt;&lt;script&gt;alert(3)&lt;/script&gt;");
    expect(page).toContain('title="&quot; onmouseover=&quot;alert(4)"');
    expect(page).toContain("&lt;b&gt;&amp;amp;&lt;/b&gt;");
    expect(page).toContain("features&lt;0&gt;&amp;&#39;");
  });

  it("says so where a figure does not exist, instead of drawing zeros", () => {
    const r = copy(fixture);
    // One seed, no INT4 profile, no cost model, no trimming, no SQNR, no step series.
    r.config.seeds = [0];
    r.runs = r.runs.filter((run: { seed: number }) => run.seed === 0);
    const int4 = ["w4a8", "w4a4-per-tensor"];
    r.config.profiles = r.config.profiles.filter((p: string) => !int4.includes(p));
    r.profiles = r.profiles.filter((p: { name: string }) => !int4.includes(p.name));
    for (const run of r.runs) {
      for (const p of int4) delete run.profiles[p];
      for (const p of Object.values(run.profiles) as { layerSqnr: unknown }[]) p.layerSqnr = null;
      run.int4 = null;
      run.trimmedLayers = null;
      run.steps = null;
    }
    for (const s of r.summary) {
      for (const p of int4) delete s.profiles[p];
      for (const stat of [
        s.fpAccuracy,
        s.int8.worstGap,
        s.int8.spread,
        ...Object.values(s.profiles).flatMap((e: Json) => [e.accuracy, e.top1Agreement]),
      ]) {
        stat.std = null;
        stat.n = 1;
      }
      s.int4 = null;
    }
    r.costModel = null;
    const page = renderReport(parseResults(r));
    for (const [id] of REPORT_SECTIONS) expect(page).toContain(`<section id="${id}">`);
    expect(page).toContain("One seed: no ± is shown");
    expect(page).not.toMatch(/\d ± \d/);
    expect(page).not.toContain('class="error"');
    expect(page).toContain("No INT4 profile was evaluated.");
    expect(page).toContain("The cost model was not run for this experiment.");
    expect(page).toContain("no trimmed layers to show");
    expect(page).toContain("there is no per-layer SQNR");
    // Without step series the curves fall back to epochs.
    expect(page.slice(page.indexOf('<section id="schedules">'))).toContain(">epoch</text>");
    const summaryRow = page.slice(
      page.indexOf("<th>fp</th>"),
      page.indexOf("</tr>", page.indexOf("<th>fp</th>")),
    );
    expect(summaryRow.match(/<td>–<\/td>/g)).toHaveLength(2);
  });
});

describe("parseResults", () => {
  it("accepts the fixture as JSON and returns the same values", () => {
    expect(parseResults(copy(fixture))).toEqual(copy(fixture));
  });

  it("names the first field that does not fit the schema", () => {
    const cases: [(r: Json) => void, string][] = [
      [(r) => (r.schema = "quant-trim.results/0"), 'schema must be "quant-trim.results/1"'],
      [
        (r) => (r.runs[1].profiles.w4a8.accuracy = 97.1),
        'runs[1].profiles["w4a8"].accuracy must be a fraction in [0, 1], got 97.1',
      ],
      [
        (r) => delete r.runs[0].profiles["pow2-int8"],
        "runs[0].profiles must be an entry for profile 'pow2-int8'",
      ],
      [
        (r) => (r.runs[0].profiles.extra = r.runs[0].profiles.w4a8),
        'runs[0].profiles["extra"] must be a profile of config.profiles',
      ],
      [(r) => (r.config.lr = "0.001"), 'config.lr must be a finite number, got "0.001"'],
      [(r) => delete r.config.batchSize, "config.batchSize must be an integer ≥ 0, got undefined"],
      [
        (r) => (r.summary[0].fpAccuracy = { mean: 0.9, std: 0, n: 1 }),
        "summary[0].fpAccuracy.std must be null for one seed, got 0",
      ],
      [
        (r) => (r.summary[0].fpAccuracy = { mean: 0.9, std: null, n: 3 }),
        "summary[0].fpAccuracy.std must be a number, got null",
      ],
      [
        (r) => r.runs[6].trimmedLayers[0].before.edges.pop(),
        "runs[6].trimmedLayers[0].before.edges must be one more edge than the 60 counts",
      ],
      [
        (r) => (r.runs[0].steps.lambda = [0.5]),
        'runs[0].steps.lambda must be as long as loss (75), got "1 values"',
      ],
      [(r) => r.profiles.reverse(), "profiles must be the profiles of config.profiles in order"],
      [
        (r) => (r.config.granularity = "per-row"),
        'config.granularity must be one of "per-tensor", "per-channel", got "per-row"',
      ],
      [(r) => (r.costModel.w4a8.latencySeconds = -1), 'costModel["w4a8"].latencySeconds must be ≥ 0, got -1'],
    ];
    for (const [mutate, message] of cases) {
      const r = copy(fixture);
      mutate(r);
      expect(() => parseResults(r)).toThrow(`parseResults: ${message}`);
    }
    expect(() => parseResults([])).toThrow("parseResults: results must be an object, got an array");
  });
});

describe("axis helpers", () => {
  const range = fc
    .tuple(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-6, max: 1e6, noNaN: true }))
    .map(([lo, span]) => [lo, lo + span] as const);

  it("picks round steps and ticks that cover a range without crowding it", () => {
    expect([niceStep(1, 5), niceStep(0.07, 5), niceStep(37, 5), niceStep(0.0003, 6)]).toEqual([
      0.2, 0.01, 5, 0.00005,
    ]);
    expect(niceTicks(0.9, 1, 5)).toEqual([0.9, 0.92, 0.94, 0.96, 0.98, 1]);
    expect(niceDomain(0.913, 0.987, 5)).toEqual([0.91, 0.99]);
    expect(niceDomain(0.913, 0.987, 2)).toEqual([0.9, 1]);
    fc.assert(
      fc.property(range, fc.integer({ min: 2, max: 10 }), ([lo, hi], target) => {
        const [d0, d1] = niceDomain(lo, hi, target);
        // Covers the range, up to the 1e-9-of-a-step slack that keeps float noise from adding a tick
        // (and the doubles' own resolution at the range's magnitude).
        const slack = 1e-6 * (hi - lo) + 1e-12 * Math.max(Math.abs(lo), Math.abs(hi));
        expect(d0).toBeLessThanOrEqual(lo + slack);
        expect(d1).toBeGreaterThanOrEqual(hi - slack);
        const ticks = niceTicks(d0, d1, target);
        expect(ticks.length).toBeGreaterThanOrEqual(2);
        expect(ticks.length).toBeLessThanOrEqual(2 * target + 2);
        const step = niceStep(d1 - d0, target);
        const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
        expect([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
        for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBeCloseTo(step, 6);
      }),
      { numRuns: 200 },
    );
  });

  it("gives numeric labels of one axis the same number of decimals", () => {
    expect(alignDecimals(["0.8", "1", "1.2"])).toEqual(["0.8", "1.0", "1.2"]);
    expect(alignDecimals(["90", "92.5", "-1"])).toEqual(["90.0", "92.5", "-1.0"]);
    expect(alignDecimals(["1", "2"])).toEqual(["1", "2"]);
    expect(alignDecimals(["1 µs", "2"])).toEqual(["1 µs", "2"]);
  });
});

describe("escapeHtml", () => {
  it("leaves no markup character and decodes back to the input", () => {
    const decode = (s: string) =>
      s.replace(
        /&(lt|gt|quot|#39|amp);/g,
        (_, e: string) => ({ lt: "<", gt: ">", quot: '"', "#39": "'", amp: "&" })[e]!,
      );
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const e = escapeHtml(s);
        expect(e).not.toMatch(/[<>"']/);
        expect(decode(e)).toBe(s);
      }),
      { numRuns: 200 },
    );
  });
});

// The page as a user sees it. Debian's chromium is what the project's machines install; without it this
// test cannot run, and says so in its name.
const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`report.test.ts: ${CHROMIUM} not found; the browser rendering test is skipped`);

describe("report.html in a browser", () => {
  const dir = mkdtempSync(join(tmpdir(), "qt-report-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!hasChromium)(
    `renders in headless chromium to a full, non-blank screenshot (skipped when ${CHROMIUM} is not installed)`,
    () => {
      const page = join(dir, "report.html");
      writeFileSync(page, html);
      const flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${join(dir, "profile")}`,
      ];
      const png = join(dir, "report.png");
      execFileSync(CHROMIUM, [...flags, `--screenshot=${png}`, "--window-size=1280,2400", `file://${page}`], {
        stdio: "ignore",
        timeout: 60_000,
      });
      const bytes = readFileSync(png);
      expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      // IHDR: width and height, big-endian, right after the signature and the chunk header.
      expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1280, 2400]);
      // A blank 1280×2400 page compresses to a few kB; charts and tables do not.
      expect(bytes.length).toBeGreaterThan(100_000);
      // The browser's own parse of the page keeps every chart and section.
      const dom = execFileSync(CHROMIUM, [...flags, "--dump-dom", `file://${page}`], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
        timeout: 60_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(dom.match(/<svg /g)?.length).toBe(html.match(/<svg /g)?.length);
      for (const [id] of REPORT_SECTIONS) expect(dom).toContain(`<section id="${id}">`);
    },
    120_000,
  );
});
