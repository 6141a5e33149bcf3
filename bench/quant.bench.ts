/**
 * The integer grid on 1M float32 values (a [256, 4096] weight, per output channel), against a minimal
 * hand-written fake-quantize loop that computes the same thing for one fixed grid (round half to even,
 * divide, no mask, no validation): the cost of the grid's generality. Target: per-channel INT8
 * fakeQuantize ≥ 100 M elements/s.
 *
 * Run: `npx tsx bench/quant.bench.ts`. Prints one JSON line (median seconds per case, elements per
 * second, ratios to the hand loop) and saves benny's full JSON to bench/results/quant.json.
 */
import {
  computeQParams,
  fakeQuantize,
  fakeQuantizeInto,
  int8AsymmetricPerTensor,
  int8SymmetricPerChannel,
  minMax,
  pytorchCompat,
  quantizeInto,
  tfliteCompat,
} from "@quant-trim/quant";
import { Rng } from "@quant-trim/tensor";
import { emit, round, runSuite } from "./harness.js";

const CHANNELS = 256;
const PER_CHANNEL = 4096;
const N = CHANNELS * PER_CHANNEL;
const SHAPE = [CHANNELS, PER_CHANNEL];
const TARGET_ELEMENTS_PER_SECOND = 100e6;

const rng = new Rng(1);
const x = Float32Array.from({ length: N }, () => rng.normal());
const out = new Float32Array(N);
const codes = new Int32Array(N);
const mask = new Uint8Array(N);

const spec = int8SymmetricPerChannel;
const range = minMax(x, spec, SHAPE);
const qp = computeQParams(range.min, range.max, spec);
const tensorRange = minMax(x, int8AsymmetricPerTensor);
const qpTensor = computeQParams(tensorRange.min, tensorRange.max, int8AsymmetricPerTensor);
const qpPyTorch = computeQParams(range.min, range.max, pytorchCompat.weight);
const qpTflite = computeQParams(range.min, range.max, tfliteCompat.weight);

/** The same per-channel fake quantization written out for one grid (what a specialised kernel costs). */
function handLoop(): Float32Array {
  const magic = 6755399441055744; // 1.5·2^52: round half to even
  for (let c = 0; c < CHANNELS; c++) {
    const s = qp.scale[c]!;
    const base = c * PER_CHANNEL;
    for (let i = base; i < base + PER_CHANNEL; i++) {
      let r = Math.fround(x[i]! / s) + magic - magic;
      if (r < -128) r = -128;
      else if (r > 127) r = 127;
      out[i] = r * s;
    }
  }
  return out;
}

// Sanity: the grid and the hand loop agree exactly.
const reference = handLoop().slice();
const ours = fakeQuantize(x, qp, spec, SHAPE);
if (!ours.every((v, i) => v === reference[i]))
  throw new Error("quant.bench: fakeQuantize disagrees with the hand loop");

const medians = await runSuite("quant", [
  { name: "fakeQuantizeInto int8 per-channel", fn: () => fakeQuantizeInto(out, x, qp, spec, SHAPE) },
  { name: "fakeQuantize int8 per-channel (allocating)", fn: () => fakeQuantize(x, qp, spec, SHAPE) },
  {
    name: "fakeQuantizeInto int8 per-channel + mask",
    fn: () => fakeQuantizeInto(out, x, qp, spec, SHAPE, { mask }),
  },
  {
    name: "fakeQuantizeInto pytorchCompat weight",
    fn: () => fakeQuantizeInto(out, x, qpPyTorch, pytorchCompat.weight, SHAPE),
  },
  {
    name: "fakeQuantizeInto tfliteCompat weight",
    fn: () => fakeQuantizeInto(out, x, qpTflite, tfliteCompat.weight, SHAPE),
  },
  {
    name: "fakeQuantizeInto int8 asymmetric per-tensor",
    fn: () => fakeQuantizeInto(out, x, qpTensor, int8AsymmetricPerTensor),
  },
  { name: "quantizeInto int8 per-channel", fn: () => quantizeInto(codes, x, qp, spec, SHAPE) },
  { name: "minMax per-channel", fn: () => minMax(x, spec, SHAPE) },
  { name: "hand loop (one fixed grid)", fn: handLoop },
]);

const hand = medians["hand loop (one fixed grid)"]!;
const elementsPerSecond: Record<string, number> = {};
const ratioToHandLoop: Record<string, number> = {};
for (const [name, seconds] of Object.entries(medians)) {
  elementsPerSecond[name] = round(N / seconds);
  ratioToHandLoop[name] = round(seconds / hand);
}
const headline = N / medians["fakeQuantizeInto int8 per-channel"]!;
emit("quant", {
  elements: N,
  medianSeconds: Object.fromEntries(Object.entries(medians).map(([k, v]) => [k, round(v)])),
  elementsPerSecond,
  ratioToHandLoop,
  target: {
    "fakeQuantizeInto int8 per-channel elements/s": TARGET_ELEMENTS_PER_SECOND,
    met: headline >= TARGET_ELEMENTS_PER_SECOND,
  },
});
