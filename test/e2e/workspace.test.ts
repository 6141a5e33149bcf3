import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The workspace's wiring, checked so that a new entry or dependency cannot silently miss half of it:
 * every export has the source/types/default conditions and its source file, and every package's build
 * config references exactly the workspace packages it depends on (or `tsc -b` builds in the wrong order).
 */

const root = fileURLToPath(new URL("../..", import.meta.url));
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
const packageDirs = readdirSync(join(root, "packages")).filter((d) =>
  existsSync(join(root, "packages", d, "package.json")),
);
const nameToDir = new Map(
  packageDirs.map((d) => [readJson(join(root, "packages", d, "package.json")).name as string, d]),
);

describe("workspace packages", () => {
  it("export every entry with source, types and default conditions pointing at src/ and dist/", () => {
    for (const dir of packageDirs) {
      const pkg = readJson(join(root, "packages", dir, "package.json"));
      const exports = pkg.exports as Record<string, Record<string, string>>;
      expect(Object.keys(exports), dir).toContain(".");
      for (const [subpath, conditions] of Object.entries(exports)) {
        const entry = subpath === "." ? "index" : subpath.slice(2);
        expect(conditions, `${dir} ${subpath}`).toEqual({
          source: `./src/${entry}.ts`,
          types: `./dist/${entry}.d.ts`,
          default: `./dist/${entry}.js`,
        });
        expect(Object.keys(conditions)[0], `${dir} ${subpath}: "source" must come first`).toBe("source");
        expect(existsSync(join(root, "packages", dir, "src", `${entry}.ts`)), `${dir} ${subpath}`).toBe(true);
      }
    }
  });

  it("reference in tsconfig.build.json exactly the workspace packages they depend on", () => {
    for (const dir of packageDirs) {
      const pkg = readJson(join(root, "packages", dir, "package.json"));
      const deps = Object.keys((pkg.dependencies ?? {}) as Record<string, string>)
        .filter((d) => nameToDir.has(d))
        .map((d) => `../${nameToDir.get(d)}/tsconfig.build.json`)
        .sort();
      const build = readJson(join(root, "packages", dir, "tsconfig.build.json"));
      const refs = ((build.references ?? []) as { path: string }[]).map((r) => r.path).sort();
      expect(refs, `packages/${dir}/tsconfig.build.json references`).toEqual(deps);
    }
    const all = (readJson(join(root, "tsconfig.build.json")).references as { path: string }[]).map(
      (r) => r.path,
    );
    expect(all.sort()).toEqual(packageDirs.map((d) => `packages/${d}/tsconfig.build.json`).sort());
  });
});
