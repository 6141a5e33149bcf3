import { readFileSync } from "node:fs";
import { join } from "node:path";
import { weightGridNames } from "@quant-trim/recipes";
import { runCli } from "quant-trim";
import { parseExperimentArgs, parseResults } from "quant-trim/internal";
import { afterAll, describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDirs, writeIdxDataset } from "./experiment-fixtures.js";

/* `experiment --grids` (multi-grid PFQ) and `--trim-pow2` (pow2-aligned trimming): parsing and one tiny run. */

const dirs = tempDirs();
afterAll(() => dirs.removeAll());

const recipeOptions = (args: string[]) => parseExperimentArgs(["--out", "runs/x", ...args])!.recipeOptions;

describe("experiment --grids and --trim-pow2", () => {
  it("read 'profiles', a list of layouts, 'grid' or an integer qmax into quantTrim's options", () => {
    expect(recipeOptions(["--grids", "profiles"])).toEqual({ grids: "profiles" });
    expect(recipeOptions(["--grids", "symmetric-per-channel,power-of-two-per-tensor"])).toEqual({
      grids: ["symmetric-per-channel", "power-of-two-per-tensor"],
    });
    expect(recipeOptions(["--trim-pow2", "grid"])).toEqual({ alignPow2: true });
    expect(recipeOptions(["--trim-pow2", "127"])).toEqual({ alignPow2: 127 });
    expect(recipeOptions([])).toEqual({});
  });

  it("refuse an unknown layout, a repeated one and a qmax that is not a positive integer, naming the flag", () => {
    expect(() => recipeOptions(["--grids", "symmetric-per-tensor,bogus"])).toThrow(
      new RegExp(
        `--grids: unknown grid 'bogus'; expected profiles or a comma-separated list of ${weightGridNames[0]}`,
      ),
    );
    expect(() => recipeOptions(["--grids", "symmetric-per-tensor,symmetric-per-tensor"])).toThrow(
      /--grids lists a name twice/,
    );
    // (A leading dash is the argument parser's refusal, which names the flag too.)
    expect(() => recipeOptions(["--trim-pow2", "-7"])).toThrow(/--trim-pow2/);
    for (const bad of ["0", "1.5", "abc", "16777216"])
      expect(() => recipeOptions(["--trim-pow2", bad])).toThrow(
        /--trim-pow2 must be 'grid' or an integer qmax/,
      );
  });

  it("run every recipe with them (fp and qat ignore them) and record them in results.json", async () => {
    const data = dirs.make("qt-idx-");
    writeIdxDataset(data, { train: 48, test: 24, side: 8, classes: 3, gzip: false });
    const out = join(dirs.make(), "run");
    const c = capture();
    const code = await runCli(
      [
        "experiment",
        "--data-dir",
        data,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--profiles",
        "w4a8",
        "--grids",
        "profiles",
        "--trim-pow2",
        "grid",
        "--out",
        out,
      ],
      c.io,
    );
    expect(code, c.err()).toBe(0);
    const results = parseResults(JSON.parse(readFileSync(join(out, "results.json"), "utf8")));
    expect(results.config.grids).toEqual(["profiles"]);
    expect(results.config.pow2Thresholds).toBe(true);
  }, 60_000);
});
