import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkOutDir, checkOutFile, writeAtomic } from "quant-trim/internal";
import { describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir.js";

describe("writeAtomic", () => {
  it("writes the file, creating missing directories", () => {
    const dir = tempDir();
    const path = join(dir, "a", "b", "results.json");
    writeAtomic(path, "{}\n");
    expect(readFileSync(path, "utf8")).toBe("{}\n");
    expect(readdirSync(join(dir, "a", "b"))).toEqual(["results.json"]);
  });

  it("removes its temporary file and names the path when the rename fails", () => {
    const dir = tempDir();
    const path = join(dir, "results.json");
    mkdirSync(path);
    expect(() => writeAtomic(path, "{}\n")).toThrow(`cannot write '${path}': `);
    expect(readdirSync(dir)).toEqual(["results.json"]);
  });

  it("names the path when its directory cannot be created", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "f"), "");
    expect(() => writeAtomic(join(dir, "f", "results.json"), "{}\n")).toThrow(
      /cannot write '.*results\.json'/,
    );
    expect(readdirSync(dir)).toEqual(["f"]);
  });
});

describe("output paths checked before training", () => {
  it("accept new files and directories below missing parents, creating nothing", () => {
    const dir = tempDir();
    checkOutFile("--out", join(dir, "x", "y", "m.safetensors"));
    checkOutDir("--out", join(dir, "x", "y"));
    checkOutDir("--out", dir);
    writeFileSync(join(dir, "old.safetensors"), "");
    checkOutFile("--out", join(dir, "old.safetensors")); // overwritten, as before
    expect(readdirSync(dir)).toEqual(["old.safetensors"]);
  });

  it("name the real problem: empty path, a directory given as file, a file given as directory or parent", () => {
    const dir = tempDir();
    const file = join(dir, "f.safetensors");
    writeFileSync(file, "");
    expect(() => checkOutFile("--out", "")).toThrow("--out: the path is empty");
    expect(() => checkOutFile("--out", dir)).toThrow(`--out: '${dir}' is a directory; give a file path`);
    expect(() => checkOutFile("--out", `${dir}/new/`)).toThrow("give a file path, not a directory");
    expect(() => checkOutFile("--out", join(file, "x", "m.safetensors"))).toThrow(
      `'${file}' is a file, not a directory`,
    );
    expect(() => checkOutDir("--out", file)).toThrow(`--out: '${file}' is a file, not a directory`);
    expect(() => checkOutDir("--out", join(file, "sub"))).toThrow(`'${file}' is a file, not a directory`);
    expect(readdirSync(dir)).toEqual(["f.safetensors"]);
  });
});
