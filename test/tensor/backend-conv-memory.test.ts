/**
 * The wasm convolution keeps the columns of recent inputs for their weight gradients. Keeping them must
 * not keep the inputs themselves alive: a training loop is one synchronous job, and an object held by a
 * WeakRef survives until the job ends, so a WeakRef-keyed cache retained every convolution input of a
 * whole training run (gigabytes over an experiment). Here 60 convolutions of fresh 4 MiB inputs run in one
 * synchronous stretch with full garbage collections in between: the memory held by array buffers must
 * stay flat.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { conv2d, getBackend, Rng, randn, setBackend } from "@quant-trim/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

describe("wasm conv2d: saved columns do not keep their inputs alive", () => {
  let previous: ReturnType<typeof getBackend>;
  beforeAll(() => {
    previous = getBackend();
    setBackend("wasm");
  });
  afterAll(() => setBackend(previous));

  it("60 fresh 4 MiB inputs in one synchronous loop: array-buffer memory grows by less than 40 MiB", () => {
    const rng = new Rng(3);
    const w = randn([4, 16, 3, 3], rng);
    const step = () => {
      // [16, 16, 64, 64] float32 = 4 MiB, a new tensor each time (as every training batch is).
      const x = randn([16, 16, 64, 64], rng);
      return conv2d(x, w, null, { padding: 1 }).shape[1];
    };
    for (let i = 0; i < 5; i++) step();
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 60; i++) {
      step();
      if (i % 10 === 9) gc();
    }
    gc();
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(40 * 2 ** 20);
  });
});
