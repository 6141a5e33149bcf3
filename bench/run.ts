/**
 * `npm run bench`: run every bench/*.bench.ts, one after another, each in its own Node process (through
 * tsx), so that one suite's JIT state and garbage cannot slow the next and the suites never compete for
 * the CPU. Each suite prints one JSON line on stdout; progress goes to stderr.
 *
 * `npm run bench -- matmul conv` runs only the files whose names contain one of the words.
 * Exits non-zero if any suite fails.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const filters = process.argv.slice(2);

const files = readdirSync(benchDir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();

if (files.length === 0) {
  console.error(`bench: no bench/*.bench.ts file matches ${JSON.stringify(filters)}`);
  process.exit(1);
}

const failed: string[] = [];
for (const file of files) {
  const start = performance.now();
  console.error(`bench: running ${file} …`);
  const child = spawnSync(process.execPath, ["--conditions=source", "--import", "tsx", `bench/${file}`], {
    cwd: repoRoot,
    stdio: "inherit",
  });
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  if (child.status === 0) {
    console.error(`bench: ${file} done in ${seconds} s`);
  } else {
    failed.push(file);
    const why =
      child.error?.message ?? (child.signal ? `signal ${child.signal}` : `exit code ${child.status}`);
    console.error(`bench: ${file} FAILED after ${seconds} s (${why})`);
  }
}

if (failed.length > 0) {
  console.error(`bench: ${failed.length} of ${files.length} suites failed: ${failed.join(", ")}`);
  process.exit(1);
}
