import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Variable } from "@quant-trim/autograd";
import * as T from "@quant-trim/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { build } from "esbuild";

/**
 * A second, independent engine for our ops: tfjs-core on its pure-JS CPU backend. Gradcheck proves that a
 * backward pass matches its own forward pass; it cannot notice a forward that follows the wrong
 * convention (a transposed filter, padding counted in an average, a softmax over the wrong axis). Here
 * both the forward values and the gradients are compared with tfjs's on the same inputs.
 */

let ready: Promise<void> | null = null;

/**
 * tfjs-core registers its gradient rules only through the side-effect module `register_all_gradients`,
 * shipped as unbundled ESM whose imports omit file extensions (Node cannot load it). esbuild bundles it
 * once; the rules land in tfjs's registry on the global object, which the CommonJS build we import uses.
 */
export function tfjsReady(): Promise<void> {
  ready ??= (async () => {
    const bundle = await build({
      entryPoints: ["@tensorflow/tfjs-core/dist/register_all_gradients.js"],
      bundle: true,
      write: false,
      format: "esm",
      platform: "node",
      logLevel: "silent",
    });
    const file = join(mkdtempSync(join(tmpdir(), "qt-tfjs-")), "register-gradients.mjs");
    writeFileSync(file, bundle.outputFiles[0]!.text);
    await import(pathToFileURL(file).href);
    await tf.setBackend("cpu");
  })();
  return ready;
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface ParityCase {
  /** Shapes of the inputs, in our layout; values are drawn from `rng` in [lo, hi). */
  inputs: readonly (readonly number[])[];
  ours: (xs: Variable[]) => Variable;
  /** The same op in tfjs on the same (our-layout) tensors; transposes to and from tfjs's layout belong here. */
  theirs: (xs: tf.Tensor[]) => tf.Tensor;
  rng: T.Rng;
  lo?: number;
  hi?: number;
  /** Maps each drawn value (e.g. away from a kink); default identity. */
  adjust?: (v: number) => number;
  /** Which inputs' gradients to compare (default all); [] compares the forward pass only. */
  grads?: readonly number[];
  forward?: Tolerance;
  backward?: Tolerance;
}

const FORWARD: Tolerance = { atol: 1e-5, rtol: 1e-4 };
const BACKWARD: Tolerance = { atol: 1e-4, rtol: 1e-3 };

/** The first index where |a − b| > atol + rtol·|b| (or the shapes differ), as a message; null if none. */
export function mismatch(
  what: string,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  tol: Tolerance,
): string | null {
  if (a.length !== b.length) return `${what}: ${a.length} values against tfjs's ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!(Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y)))
      return `${what}: element ${i} is ${x}, tfjs has ${y}`;
  }
  return null;
}

/**
 * Runs one case; returns the list of disagreements (empty when the op matches). The gradient compared is
 * that of Σ out·G for a random G of the output's shape (a vector–Jacobian product, seeded into both).
 */
export function compareWithTfjs(c: ParityCase): string[] {
  const lo = c.lo ?? -2;
  const hi = c.hi ?? 2;
  const adjust = c.adjust ?? ((v: number) => v);
  const values = c.inputs.map((shape) => {
    const t = T.rand(shape, c.rng, lo, hi);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = Math.fround(adjust(d[i]!));
    return t;
  });
  const vars = values.map((t) => new Variable(t, { requiresGrad: true }));
  const out = c.ours(vars);
  const problems: string[] = [];
  tf.tidy(() => {
    const theirOut = c.theirs(values.map((t) => tf.tensor(t.toFloat32Array(), [...t.shape])));
    if (theirOut.shape.join() !== out.shape.join()) {
      problems.push(`output shape [${out.shape.join(", ")}], tfjs [${theirOut.shape.join(", ")}]`);
      return;
    }
    const fwd = mismatch("forward", out.data.toFloat32Array(), theirOut.dataSync(), c.forward ?? FORWARD);
    if (fwd) problems.push(fwd);
    const which = c.grads ?? values.map((_, i) => i);
    if (which.length === 0) return;
    const g = T.rand(out.shape, c.rng, -1, 1);
    out.backward(g);
    const theirGrads = tf.grads((...xs: tf.Tensor[]) => c.theirs(xs))(
      values.map((t) => tf.tensor(t.toFloat32Array(), [...t.shape])),
      tf.tensor(g.toFloat32Array(), [...g.shape]),
    );
    for (const i of which) {
      const ours = vars[i]!.grad;
      if (!ours) {
        problems.push(`input ${i}: no gradient`);
        continue;
      }
      const m = mismatch(
        `gradient of input ${i}`,
        ours.toFloat32Array(),
        theirGrads[i]!.dataSync(),
        c.backward ?? BACKWARD,
      );
      if (m) problems.push(m);
    }
  });
  return problems;
}

/** NCHW ↔ NHWC, the two activation layouts. */
export const toNhwc = (x: tf.Tensor) => tf.transpose(x, [0, 2, 3, 1]);
export const toNchw = (x: tf.Tensor) => tf.transpose(x, [0, 3, 1, 2]);

export { tf };
