import { nn } from "@quant-trim/autograd";
import { ClampRange, decodeModel, encodeModel, exportOnnx, importOnnx } from "@quant-trim/onnx";
import { buildModel, zooNames } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { forward, ortOutputs, randomInput, randomizeBatchNorms } from "./export-helpers.js";
import { KITCHEN_SINK_INPUT, KitchenSink } from "./export-models.js";

const MNIST_SAMPLE = [1, 28, 28];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

interface Case {
  readonly name: string;
  readonly model: () => nn.Module;
  readonly sample: readonly number[];
}

const CASES: Case[] = [
  ...zooNames.map((name) => ({
    name,
    model: () => buildModel(name, { inputShape: MNIST_SAMPLE, classes: 10, seed: 9 }),
    sample: MNIST_SAMPLE,
  })),
  {
    name: "kitchen sink (functional residual, grouped convs, BN1d/2d, pools)",
    model: () => new KitchenSink(4),
    sample: KITCHEN_SINK_INPUT,
  },
];

describe("round trip: export → import → export", () => {
  for (const c of CASES) {
    it(`${c.name}: the same bytes, the same state-dict names and the same outputs`, async () => {
      const model = c.model();
      randomizeBatchNorms(model, new T.Rng(10));
      for (const options of [{}, { opset: 21 }, { foldBatchNorm: true }] as const) {
        const first = exportOnnx(model, {
          inputShape: c.sample,
          metadata: { recipe: "rp", seed: "3" },
          ...options,
        });
        const imported = importOnnx(first);
        const second = exportOnnx(imported, "foldBatchNorm" in options ? { foldBatchNorm: true } : {});
        expect(sameBytes(second, first), JSON.stringify(options)).toBe(true);
        if (!("foldBatchNorm" in options)) {
          expect(Object.keys(imported.stateDict()).sort()).toEqual(Object.keys(model.stateDict()).sort());
        }
        const x = randomInput(new T.Rng(11), 3, c.sample);
        const ours = forward(model, x);
        const back = forward(imported, x);
        if ("foldBatchNorm" in options) {
          // Folding rounds the weights once to float32: close, not identical.
          const [ort] = await ortOutputs(first, [x]);
          for (let i = 0; i < back.length; i++)
            expect(Math.abs(back[i]! - ort!.data[i]!)).toBeLessThanOrEqual(
              1e-5 * (1 + Math.abs(ort!.data[i]!)),
            );
        } else {
          expect(back).toEqual(ours);
        }
      }
    });
  }

  it("float attributes come back as the values they were written from (property: any eps, momentum, clamp bounds)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-9, max: 0.5, noNaN: true }),
        fc.double({ min: 1e-4, max: 0.9999, noNaN: true }),
        fc.double({ min: -100, max: 0, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (eps, momentum, lo, hi) => {
          const model = new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4, eps, momentum));
          const clamp = new ClampRange(lo, hi);
          const net = new nn.Sequential(model, clamp);
          const first = exportOnnx(net, { inputShape: [3] });
          const imported = importOnnx(first);
          const bn = imported
            .namedModules()
            .find(([, m]) => m instanceof nn.BatchNorm1d)![1] as nn.BatchNorm1d;
          // ONNX stores float32: what comes back is the shortest decimal that rounds to the stored value.
          expect(Math.fround(bn.eps)).toBe(Math.fround(eps));
          expect(Math.fround(1 - bn.momentum)).toBe(Math.fround(1 - momentum));
          expect(sameBytes(exportOnnx(imported), first)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("carries the metadata and names over, and a re-export with new metadata changes only metadata_props", () => {
    const model = buildModel("mlp", { inputShape: MNIST_SAMPLE, classes: 10 });
    const first = exportOnnx(model, {
      inputShape: MNIST_SAMPLE,
      inputName: "pixels",
      outputName: "logits",
      batchDim: "n",
      graphName: "digits",
      metadata: { recipe: "qat" },
    });
    const imported = importOnnx(first);
    expect(imported.info.metadata).toEqual({
      producer: "quant-trim",
      producer_version: "0.1.0",
      recipe: "qat",
    });
    const relabelled = decodeModel(exportOnnx(imported, { metadata: { recipe: "fp", note: "x" } }));
    const original = decodeModel(first);
    expect(relabelled.metadataProps).toEqual([
      { key: "producer", value: "quant-trim" },
      { key: "producer_version", value: "0.1.0" },
      { key: "recipe", value: "fp" },
      { key: "note", value: "x" },
    ]);
    relabelled.metadataProps = original.metadataProps;
    expect(sameBytes(encodeModel(relabelled), first)).toBe(true);
  });
});
