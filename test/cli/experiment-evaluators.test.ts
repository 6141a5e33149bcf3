import { encodeCheckpoint } from "@quant-trim/autograd";
import { compareWithFloat, compile, getProfile } from "@quant-trim/npu-sim";
import { buildModel, dataset, head } from "@quant-trim/recipes";
import { fromData, Rng } from "@quant-trim/tensor";
import { type CheckpointEvaluation, inlineEvaluator, workerEvaluator } from "quant-trim/internal";
import { afterAll, describe, expect, it } from "vitest";

/*
 * The two ways `experiment` evaluates a checkpoint — on the main thread, and on a pool of worker threads
 * that share out the profiles — must give the same figures, and those of npu-sim called directly.
 */

const rng = new Rng(7);
const shape = [1, 8, 8];
const n = 48;
const inputs = new Float32Array(n * 64).map(() => rng.normal());
const labels = new Uint8Array(n).map((_, i) => i % 3);
const data = dataset(inputs, shape, labels);
const calibration = head(data, 16);
const spec = { arch: "cnn-bn", sampleShape: shape, classes: 3 };
const model = buildModel("cnn-bn", { inputShape: shape, classes: 3, seed: 3 });
const bytes = encodeCheckpoint(model, { architecture: "cnn-bn" });
const profiles = ["tflite-int8", "pow2-int8", "w4a8", "w4a4-per-tensor", "ort-cpu-dynamic-u8s8"];

/** Everything but the wall-clock seconds, which differ from run to run. */
function figures(e: CheckpointEvaluation) {
  return {
    ...e,
    profiles: Object.fromEntries(Object.entries(e.profiles).map(([k, v]) => [k, { ...v, seconds: 0 }])),
  };
}

const pool = workerEvaluator(spec, calibration, data, 2);
afterAll(() => pool.close());

describe("checkpoint evaluators", () => {
  it("the worker pool gives the inline evaluator's figures, reporting every profile once", async () => {
    const seenInline: string[] = [];
    const inline = await inlineEvaluator(spec, calibration, data).evaluate(bytes, profiles, (p) =>
      seenInline.push(p),
    );
    const seenPool: string[] = [];
    const pooled = await pool.evaluate(bytes, profiles, (p) => seenPool.push(p));
    expect(seenInline).toEqual(profiles);
    expect([...seenPool].sort()).toEqual([...profiles].sort());
    // Results are listed in the order asked for, whichever thread finished first.
    expect(Object.keys(pooled.profiles)).toEqual(profiles);
    expect(figures(pooled)).toEqual(figures(inline));
    // A second checkpoint on the same pool: the workers take the new weights.
    const other = encodeCheckpoint(buildModel("cnn-bn", { inputShape: shape, classes: 3, seed: 4 }), {
      architecture: "cnn-bn",
    });
    const again = await pool.evaluate(other, profiles.slice(0, 2), () => {});
    const inlineAgain = await inlineEvaluator(spec, calibration, data).evaluate(
      other,
      profiles.slice(0, 2),
      () => {},
    );
    expect(figures(again)).toEqual(figures(inlineAgain));
  }, 60_000);

  it("reports npu-sim's own accuracy and agreement for each profile", async () => {
    const inline = await inlineEvaluator(spec, calibration, data).evaluate(
      bytes,
      profiles.slice(0, 3),
      () => {},
    );
    const x = fromData(inputs, [n, ...shape]);
    const calib = fromData(calibration.inputs, [calibration.count, ...shape]);
    model.eval();
    for (const p of profiles.slice(0, 3)) {
      const c = compareWithFloat(model, compile(model, getProfile(p), calib), x, { labels });
      expect(inline.profiles[p]!.accuracy, p).toBe(c.accuracy);
      expect(inline.profiles[p]!.top1Agreement, p).toBe(c.top1Agreement);
    }
    expect(inline.fpAccuracy).toBe(
      compareWithFloat(model, compile(model, getProfile("w4a8"), calib), x, { labels }).fpAccuracy,
    );
  });

  it("a failure in a worker rejects the evaluation, naming the cause", async () => {
    await expect(pool.evaluate(bytes, ["tflite-int8", "no-such-profile"], () => {})).rejects.toThrow(
      /unknown profile 'no-such-profile'/,
    );
  }, 60_000);
});
