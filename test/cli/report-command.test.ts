import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "quant-trim";
import { parseResults, renderReport } from "quant-trim/internal";
import { afterAll, describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDirs } from "./experiment-fixtures.js";
import { reportFixture } from "./report-fixture.js";

const dirs = tempDirs();
afterAll(() => dirs.removeAll());

const fixtureJson = `${JSON.stringify(reportFixture(), null, 2)}\n`;

/** A folder holding a results.json with `text`. */
function runFolder(text = fixtureJson): string {
  const d = join(dirs.make("qt-report-"), "runs", "x");
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "results.json"), text);
  return d;
}

async function cli(...args: string[]) {
  const c = capture();
  const code = await runCli(["report", ...args], c.io);
  return { code, out: c.out(), err: c.err() };
}

describe("quant-trim report DIR", () => {
  it("renders report.html from DIR/results.json, replacing an older one", async () => {
    const d = runFolder();
    writeFileSync(join(d, "report.html"), "an outdated report");
    const r = await cli(d);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`wrote ${join(d, "report.html")} from ${join(d, "results.json")}\n`);
    expect(readFileSync(join(d, "report.html"), "utf8")).toBe(
      renderReport(parseResults(JSON.parse(fixtureJson))),
    );
    expect(readdirSync(d).sort()).toEqual(["report.html", "results.json"]);
  });

  it("takes the path of results.json itself, and prints both paths as JSON with --json", async () => {
    const d = runFolder();
    const r = await cli("--json", join(d, "results.json"));
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ results: join(d, "results.json"), report: join(d, "report.html") });
    expect(existsSync(join(d, "report.html"))).toBe(true);
  });

  const refused = async (args: string[], message: RegExp, folder?: string) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    if (folder) expect(existsSync(join(folder, "report.html"))).toBe(false);
  };

  it("exits 2 naming the file when results.json is missing, not JSON, or not an experiment's results", async () => {
    const empty = dirs.make("qt-report-");
    await refused([empty], new RegExp(`cannot read '${join(empty, "results.json")}': no such file`), empty);
    await refused([join(empty, "nope")], /cannot read '.*nope\/results\.json': no such file/);
    const truncated = runFolder(fixtureJson.slice(0, 200));
    await refused([truncated], /results\.json' is not JSON/, truncated);
    const edited = JSON.parse(fixtureJson);
    edited.runs[1].profiles.w4a8.accuracy = 97.1;
    const bad = runFolder(JSON.stringify(edited));
    await refused([bad], /is not an experiment's results: .*runs\[1\]\.profiles\["w4a8"\]\.accuracy/, bad);
    const directory = dirs.make("qt-report-");
    mkdirSync(join(directory, "results.json"));
    await refused([directory], /results\.json': not a regular file/, directory);
  });

  it("exits 2 without a folder, with two, or with an unknown option", async () => {
    await refused([], /give the folder an experiment wrote/);
    await refused(["a", "b"], /give one folder, got 'a' and 'b'/);
    await refused([runFolder(), "--colour"], /--colour/);
  });
});
