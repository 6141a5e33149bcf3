import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { saveCheckpoint } from "@quant-trim/autograd/node";
import { decodeModel, encodeModel, exportOnnx, exportOnnxModel, graph } from "@quant-trim/onnx";
import { buildModel } from "@quant-trim/recipes";
import * as T from "@quant-trim/tensor";
import { runCli } from "quant-trim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forward, ortOutputs, randomInput, relativeError } from "./export-helpers.js";

/*
 * `quant-trim export` end to end: a checkpoint file in, an .onnx file out that ONNX Runtime runs; bad
 * input exits 2 with one line naming the problem and leaves no file behind.
 */

function capture() {
  let out = "";
  let err = "";
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

async function cli(...argv: string[]) {
  const c = capture();
  const code = await runCli(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

describe("quant-trim export", () => {
  let dir: string;
  let checkpoint: string;
  const model = buildModel("cnn-bn", { inputShape: [1, 28, 28], classes: 10, seed: 7 });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "qt-export-"));
    checkpoint = join(dir, "cnn-bn.safetensors");
    saveCheckpoint(checkpoint, model, { architecture: "cnn-bn", recipe: "quant-trim", seed: "7" });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Nothing but the files a test expects: no partial output, no temporary file. */
  const files = () => readdirSync(dir).sort();

  it("writes the float model with the checkpoint's metadata; ONNX Runtime gives the model's outputs", async () => {
    const out = join(dir, "float.onnx");
    const r = await cli("export", "--checkpoint", checkpoint, "--onnx", out);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/float\.onnx: float ONNX, opset 13, \d+ nodes, \d+ bytes, input → output\n$/);
    const bytes = new Uint8Array(readFileSync(out));
    const meta = Object.fromEntries(decodeModel(bytes).metadataProps.map((e) => [e.key, e.value]));
    expect(meta).toMatchObject({
      producer: "quant-trim",
      architecture: "cnn-bn",
      recipe: "quant-trim",
      seed: "7",
    });
    const x = randomInput(new T.Rng(1), 7, [1, 28, 28]);
    const [ort] = await ortOutputs(bytes, [x]);
    expect(relativeError(ort!.data, forward(model, x))).toBeLessThanOrEqual(1e-5);
  });

  it("writes the QDQ model of a profile (--qdq, --json), and int4 weights at opset 21", async () => {
    const out = join(dir, "qdq.onnx");
    const r = await cli(
      "export",
      "--checkpoint",
      checkpoint,
      "--onnx",
      out,
      "--qdq",
      "ort-cpu-u8s8",
      "--json",
    );
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary).toMatchObject({
      format: "QDQ",
      profile: "ort-cpu-u8s8",
      opset: 13,
      input: "input",
      output: "output",
    });
    const proto = decodeModel(new Uint8Array(readFileSync(out)));
    expect(proto.graph.node.some((n) => n.opType === "QuantizeLinear")).toBe(true);
    expect(proto.graph.node.some((n) => n.opType === "BatchNormalization")).toBe(false);
    const w4 = await cli(
      "export",
      "--checkpoint",
      checkpoint,
      "--onnx",
      join(dir, "w4.onnx"),
      "--qdq",
      "w4a8",
      "--json",
    );
    expect(w4.code).toBe(0);
    expect(JSON.parse(w4.out).opset).toBe(21);
    const [ort] = await ortOutputs(new Uint8Array(readFileSync(join(dir, "w4.onnx"))), [
      randomInput(new T.Rng(2), 2, [1, 28, 28]),
    ]);
    expect(ort!.dims).toEqual([2, 10]);
  });

  it("bad input: exit 2, one line naming it, no file written", async () => {
    const before = files();
    const out = join(dir, "bad.onnx");
    const cases: [string[], RegExp][] = [
      [["--onnx", out], /--checkpoint PATH is required/],
      [["--checkpoint", checkpoint], /--onnx OUT.onnx is required/],
      [
        ["--checkpoint", checkpoint, "--onnx", out, "--qdq", "npu9000"],
        /--qdq: unknown profile 'npu9000' \(profiles: tflite-int8, /,
      ],
      [
        ["--checkpoint", checkpoint, "--onnx", out, "--opset", "12"],
        /--opset must be a decimal integer in \[13, 21\], got '12'/,
      ],
      [
        ["--checkpoint", checkpoint, "--onnx", out, "--qdq", "w4a8", "--opset", "13"],
        /exportQdqOnnx: opset 13 cannot hold the program's 4- or 16-bit tensors/,
      ],
      [
        ["--checkpoint", checkpoint, "--onnx", out, "--qdq", "ort-cpu-dynamic-u8s8"],
        /qparams chosen at run time \(dynamic scaling\)/,
      ],
      [["--checkpoint", checkpoint, "--onnx", dir], /--onnx: '.*' is a directory/],
      [["--checkpoint", join(dir, "missing.safetensors"), "--onnx", out], /missing\.safetensors/],
    ];
    for (const [args, message] of cases) {
      const r = await cli("export", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(message);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.out).toBe("");
    }
    const garbage = join(dir, "garbage.safetensors");
    writeFileSync(garbage, "not a checkpoint");
    const r = await cli("export", "--checkpoint", garbage, "--onnx", out);
    expect(r.code).toBe(2);
    rmSync(garbage);
    expect(existsSync(out)).toBe(false);
    expect(files()).toEqual(before);
  });

  it("eval --onnx refuses, with exit 2 before any evaluation, files it cannot use", async () => {
    const garbage = join(dir, "garbage.onnx");
    writeFileSync(garbage, "not an onnx file");
    const small = join(dir, "small.onnx");
    writeFileSync(small, exportOnnx(buildModel("mlp", { inputShape: [4], classes: 3 }), { inputShape: [4] }));
    const tanh = join(dir, "tanh.onnx");
    writeFileSync(
      tanh,
      encodeModel(
        graph("t")
          .input("x", "float32", ["batch", 1, 28, 28])
          .node("Tanh", ["x"], ["y"])
          .output("y", "float32")
          .model(),
      ),
    );
    const opset9 = join(dir, "opset9.onnx");
    const float = exportOnnxModel(buildModel("cnn", { inputShape: [1, 28, 28], classes: 10 }), {
      inputShape: [1, 28, 28],
    });
    writeFileSync(opset9, encodeModel({ ...float, irVersion: 4, opsetImport: [{ domain: "", version: 9 }] }));
    const cases: [string[], RegExp][] = [
      [["--onnx", tanh], /importOnnx: node 0 'Tanh_0' \(Tanh\): op Tanh has no layer to import into/],
      [["--onnx", opset9], /importOnnx: opset 9 is not supported/],
      [["--onnx", join(dir, "missing.onnx")], /--onnx: '.*missing\.onnx' does not exist/],
      [["--onnx", garbage], /--onnx '.*garbage\.onnx': importOnnx: not a readable ONNX model: decodeModel: /],
      [["--onnx", small], /the model takes samples of shape \[4\], the digits are \[1, 28, 28\]/],
      [["--onnx", small, "--checkpoint", checkpoint], /give --checkpoint or --onnx, not both/],
    ];
    for (const [args, message] of cases) {
      const r = await cli("eval", ...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(message);
      expect(r.out).toBe("");
    }
    for (const f of [garbage, small, tanh, opset9]) rmSync(f);
  });
});
