import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// Tests live in test/<package>; each folder is a vitest project. isolate:false because the code under
// test is pure and the per-file re-import of fast-check and the packages costs seconds on 2 cores.
const suites = ["tensor", "autograd", "quant", "prune", "npu-sim", "onnx", "recipes", "cli", "e2e"].filter(
  (name) => {
    const dir = fileURLToPath(new URL(`./test/${name}`, import.meta.url));
    return (
      existsSync(dir) && readdirSync(dir, { recursive: true }).some((f) => String(f).endsWith(".test.ts"))
    );
  },
);

// Workspace packages export "source" (their src/*.ts) ahead of dist/: tests run against the sources, no
// build needed. Vite replaces its default conditions with the list given, so the defaults are kept.
const conditions = ["source", ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    isolate: false,
    // A few end-to-end tests train small models for seconds; leave room on a loaded 2-core machine.
    testTimeout: 30_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    passWithNoTests: false,
    // Property tests use a fixed fast-check seed unless QT_FC_SEED says otherwise (see the file).
    // The wasm backend as the CLI runs it (relaxed SIMD's multiply-add in the fp32 GEMM; see the file).
    setupFiles: [
      fileURLToPath(new URL("./test/fast-check-seed.ts", import.meta.url)),
      fileURLToPath(new URL("./test/wasm-relaxed-simd.ts", import.meta.url)),
    ],
    projects: suites.map((name) => ({
      extends: true as const,
      test: { name, root: `test/${name}`, include: ["**/*.test.ts"] },
    })),
  },
});
