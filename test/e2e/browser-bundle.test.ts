import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

/**
 * The core packages promise to run in a browser: their main entries import no Node built-in. Each entry
 * is bundled by esbuild for `platform: "browser"` (from its sources, through the "source" condition),
 * every import of a Node built-in is recorded, and the bundle is then run in a fresh V8 context that has
 * a browser's globals (console, TextEncoder, performance, WebAssembly, crypto) and none of Node's
 * (process, Buffer, require, global), where a short smoke test calls into it.
 *
 * ndarray, which the tensor package builds on, compiles its view classes with `new Function`: the core
 * runs in browsers, but not under a Content-Security-Policy without 'unsafe-eval' (docs/packages.md).
 */

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Node built-ins that a dependency requires inside try/catch and does without in a browser. Anything
 * else fails the test, and so does any built-in imported by the project's own code.
 */
const GUARDED_OPTIONAL_REQUIRES = [
  // protobufjs (the onnx package's codec) probes for `fs` with require inside try/catch; null in browsers.
  { module: "fs", importer: /node_modules\/protobufjs\/src\/util\/fs\.js$/ },
];

interface Bundle {
  code: string;
  builtinImports: string[];
}

async function bundle(entry: string): Promise<Bundle> {
  const builtinImports: string[] = [];
  const result = await build({
    // The tensor package rides along as `T` (every core package depends on it) for building smoke inputs.
    stdin: {
      contents: `export * from "${entry}"; export * as T from "@quant-trim/tensor";`,
      resolveDir: repoRoot,
      loader: "ts",
    },
    bundle: true,
    write: false,
    platform: "browser",
    format: "iife",
    globalName: "lib",
    conditions: ["source"],
    logLevel: "silent",
    plugins: [
      {
        name: "record-node-builtins",
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (!builtins.has(args.path)) return undefined;
            const allowed = GUARDED_OPTIONAL_REQUIRES.some(
              (g) => args.path.replace(/^node:/, "") === g.module && g.importer.test(args.importer),
            );
            if (!allowed)
              builtinImports.push(`${args.path} imported by ${args.importer.replace(repoRoot, "")}`);
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return { code: result.outputFiles[0]!.text, builtinImports };
}

/** Runs a bundle where only browser globals exist, then `smoke` with its exports, inside that context. */
function runInBrowserLikeContext(code: string, smoke: string): unknown {
  const context = {
    console,
    TextEncoder,
    TextDecoder,
    performance,
    WebAssembly: (globalThis as Record<string, unknown>).WebAssembly,
    crypto: globalThis.crypto,
    URL,
    setTimeout,
    clearTimeout,
    queueMicrotask,
  };
  return runInNewContext(`${code}\n;(function (lib) { ${smoke} })(lib);`, context, { timeout: 20_000 });
}

/** Per entry: a smoke test that returns a value checked below (written for the browser context). */
const entries: Array<{ name: string; smoke: string; expected: unknown }> = [
  {
    name: "@quant-trim/tensor",
    smoke: `const a = lib.tensor([[1, 2], [3, 4]]); return Array.from(lib.matmul(a, a).values());`,
    expected: [7, 10, 15, 22],
  },
  {
    name: "@quant-trim/autograd",
    smoke: `const layer = new lib.nn.Linear(3, 2);
      const bytes = lib.encodeCheckpoint(new lib.nn.Sequential(layer), { architecture: "probe" });
      return Object.keys(lib.decodeCheckpoint(bytes).tensors).sort();`,
    expected: ["0.bias", "0.weight"],
  },
  {
    name: "@quant-trim/quant",
    smoke: `const qp = lib.computeQParams(-1, 1, lib.int8SymmetricPerTensor);
      return Array.from(lib.quantize(new Float32Array([-1, 0, 0.5, 1]), qp, lib.int8SymmetricPerTensor));`,
    expected: [-127, 0, 64, 127],
  },
  {
    name: "@quant-trim/prune",
    smoke: `const w = lib.T.tensor([[1, -2, 3, -100]]);
      const rp = new lib.ReversePruner([{ name: "fc.weight", param: { data: w, grad: null } }],
        { schedule: { kind: "constant", p: 0.75 }, onWarning: () => {} });
      rp.step(0);
      return Array.from(w.values());`,
    expected: [1, -2, 3, -3],
  },
  {
    name: "@quant-trim/recipes",
    smoke: `
      const inputs = new Float32Array(64 * 4);
      const labels = new Uint8Array(64);
      for (let i = 0; i < 64; i++) { labels[i] = i % 2; inputs.fill(labels[i] ? 1 : -1, i * 4, i * 4 + 4); }
      const data = lib.dataset(inputs, [4], labels);
      const model = lib.buildModel("mlp", { inputShape: [4], classes: 2 });
      const run = lib.quantTrim(model, { totalSteps: lib.trainingSteps(64, 16, 2), inputShape: [1, 4], onWarning: () => {} });
      lib.trainClassifier(model, data, { epochs: 2, batchSize: 16, hooks: run });
      return [run.qat.lambda, lib.evaluate(model, data)];`,
    expected: [1, 1],
  },
  { name: "@quant-trim/npu-sim", smoke: `return Object.keys(lib).length > 0;`, expected: true },
  { name: "@quant-trim/onnx", smoke: `return Object.keys(lib).length > 0;`, expected: true },
];

describe("the core packages bundle for a browser", () => {
  for (const { name, smoke, expected } of entries) {
    it(`${name}: no Node built-in in the bundle, and it runs without Node's globals`, async () => {
      const { code, builtinImports } = await bundle(name);
      expect(builtinImports).toEqual([]);
      expect(runInBrowserLikeContext(code, smoke)).toEqual(expected);
    });
  }

  it("the check itself: a Node built-in in an entry is found, and Node's globals are really absent", async () => {
    const { builtinImports } = await bundle("@quant-trim/autograd/node");
    expect(builtinImports.some((s) => s.startsWith("node:fs imported by"))).toBe(true);
    expect(
      runInBrowserLikeContext("var lib = {};", "return [typeof process, typeof Buffer, typeof require];"),
    ).toEqual(["undefined", "undefined", "undefined"]);
  });
});
