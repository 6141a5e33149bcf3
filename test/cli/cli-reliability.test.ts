import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCheckpoint, saveCheckpoint } from "@quant-trim/autograd/node";
import { NPU_OPS, profileNames } from "@quant-trim/npu-sim";
import { buildModel, recipeNames, zooNames } from "@quant-trim/recipes";
import { MNIST_CLASSES, MNIST_SAMPLE_SHAPE } from "@quant-trim/recipes/node";
import { runCli } from "quant-trim";
import { recipeSummaries } from "quant-trim/internal";
import { describe, expect, it } from "vitest";
import { capture } from "./capture.js";
import { tempDir } from "./temp-dir.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const ls = (dir: string) => readdirSync(dir).sort();

async function cli(args: string[]) {
  const c = capture();
  const code = await runCli(args, c.io);
  return { code, out: c.out(), err: c.err() };
}

/** A failure: exit `code`, nothing on stdout, exactly one line on stderr, returned. */
async function failsWith(args: string[], code: 1 | 2): Promise<string> {
  const r = await cli(args);
  expect(r.code).toBe(code);
  expect(r.out).toBe("");
  expect(r.err.endsWith("\n") && r.err.split("\n").length === 2, r.err).toBe(true);
  return r.err.trimEnd();
}

describe("--version and the helps", () => {
  it("--version prints the version in packages/cli/package.json; an extra argument exits 2", async () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "packages/cli/package.json"), "utf8"));
    expect(await cli(["--version"])).toEqual({ code: 0, out: `quant-trim ${pkg.version}\n`, err: "" });
    expect(await failsWith(["--version", "x"], 2)).toBe("quant-trim: --version takes no arguments, got 'x'");
  });

  it("the main help lists every architecture, every recipe with its one-line summary, and every profile", async () => {
    const { code, out } = await cli(["--help"]);
    expect(code).toBe(0);
    const flat = out.replace(/\s+/g, " ");
    for (const a of zooNames) expect(flat).toContain(` ${a}`);
    for (const p of profileNames) expect(flat).toContain(` ${p}`);
    const w = Math.max(...recipeNames.map((r) => r.length));
    for (const r of recipeNames) {
      expect(recipeSummaries[r]).toMatch(/^[^\n]{10,80}$/);
      expect(out).toContain(`\n  ${r.padEnd(w)}  ${recipeSummaries[r]}\n`);
    }
    expect(out).toContain("--version");
  });

  it("each command's help lists the values its options take, in lines a terminal shows whole", async () => {
    const help = async (cmd: string) => {
      const r = await cli([cmd, "--help"]);
      expect(r.code).toBe(0);
      for (const line of r.out.split("\n")) expect(line.length, line).toBeLessThanOrEqual(110);
      return r.out.replace(/\s+/g, " ");
    };
    const train = await help("train");
    for (const a of zooNames) expect(train).toContain(a);
    for (const r of recipeNames) expect(train).toContain(`${r} ${recipeSummaries[r]}`);
    expect(train).toContain("--force");
    for (const cmd of ["eval", "export", "profiles"]) {
      const text = await help(cmd);
      for (const p of profileNames) expect(text).toContain(p);
    }
    for (const op of NPU_OPS) expect(await help("profiles")).toContain(op);
  });
});

describe("blank paths", () => {
  it("a path of only whitespace is refused, naming the option, and nothing is created", async () => {
    const cases: Array<[string[], string]> = [
      [["train", "--out", "   "], "quant-trim train: --out: the path is blank; give a file path"],
      [["eval", "--checkpoint", " "], "quant-trim eval: --checkpoint: the path is blank; give a file path"],
      [["eval", "--onnx", "\t"], "quant-trim eval: --onnx: the path is blank; give a file path"],
      [
        ["export", "--checkpoint", "x.safetensors", "--onnx", "  "],
        "quant-trim export: --onnx: the path is blank; give a file path",
      ],
    ];
    for (const [args, message] of cases) expect(await failsWith(args, 2)).toBe(message);
    expect(existsSync("   ")).toBe(false);
  });
});

describe("eval refuses what is not a checkpoint, before reading it whole", () => {
  const notSafetensors = (path: string, why: string) =>
    `quant-trim eval: --checkpoint: '${path}' is not a safetensors file (${why})`;
  /** The header length a file's first 8 bytes give, read here by the format's definition. */
  const headerLength = (bytes: Uint8Array) =>
    new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);

  it("a FIFO, a device and a directory: exit 2 at once, naming what the path is", async () => {
    const dir = tempDir();
    const fifo = join(dir, "m.safetensors");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // Reading a FIFO with no writer would block this test until its timeout.
    expect(await failsWith(["eval", "--checkpoint", fifo], 2)).toBe(
      `quant-trim eval: --checkpoint: '${fifo}' is a FIFO (named pipe), not a regular file`,
    );
    expect(await failsWith(["eval", "--onnx", fifo], 2)).toBe(
      `quant-trim eval: --onnx: '${fifo}' is a FIFO (named pipe), not a regular file`,
    );
    expect(await failsWith(["export", "--checkpoint", fifo, "--onnx", join(dir, "m.onnx")], 2)).toBe(
      `quant-trim export: --checkpoint: '${fifo}' is a FIFO (named pipe), not a regular file`,
    );
    expect(await failsWith(["eval", "--checkpoint", "/dev/zero"], 2)).toBe(
      "quant-trim eval: --checkpoint: '/dev/zero' is a character device, not a regular file",
    );
    expect(await failsWith(["eval", "--checkpoint", dir], 2)).toBe(
      `quant-trim eval: --checkpoint: '${dir}' is a directory, not a regular file`,
    );
    expect(await failsWith(["eval", "--checkpoint", join(dir, "none.safetensors")], 2)).toBe(
      `quant-trim eval: --checkpoint: '${join(dir, "none.safetensors")}' does not exist`,
    );
  });

  it("random bytes, a JSON file renamed .safetensors and a truncated checkpoint: 'not a safetensors file'", async () => {
    const dir = tempDir();
    const random = join(dir, "random.safetensors");
    // A fixed pseudo-random pattern (xorshift), so the expected header length is the same every run.
    let x = 0x9e3779b9;
    const bytes = Uint8Array.from({ length: 4096 }, () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x & 0xff;
    });
    writeFileSync(random, bytes);
    expect(await failsWith(["eval", "--checkpoint", random], 2)).toBe(
      notSafetensors(
        random,
        `its first 8 bytes give a header length of ${headerLength(bytes)} bytes, but only 4088 bytes follow them`,
      ),
    );
    const json = join(dir, "config.safetensors");
    const text = JSON.stringify({ architecture: "mlp", layers: [784, 128, 10] });
    writeFileSync(json, text);
    expect(await failsWith(["eval", "--checkpoint", json], 2)).toBe(
      notSafetensors(
        json,
        `its first 8 bytes give a header length of ${headerLength(Buffer.from(text))} bytes, but only ${text.length - 8} bytes follow them`,
      ),
    );
    const whole = join(dir, "whole.safetensors");
    saveCheckpoint(whole, buildModel("mlp", { inputShape: MNIST_SAMPLE_SHAPE, classes: MNIST_CLASSES }), {
      architecture: "mlp",
    });
    const cut = join(dir, "cut.safetensors");
    const head = readFileSync(whole).subarray(0, 64);
    writeFileSync(cut, head);
    expect(await failsWith(["eval", "--checkpoint", cut], 2)).toBe(
      notSafetensors(
        cut,
        `its first 8 bytes give a header length of ${headerLength(head)} bytes, but only 56 bytes follow them`,
      ),
    );
    const tiny = join(dir, "tiny.safetensors");
    writeFileSync(tiny, "{}");
    expect(await failsWith(["eval", "--checkpoint", tiny], 2)).toBe(
      notSafetensors(tiny, "2 bytes; one holds an 8-byte header length and a JSON header"),
    );
    const array = join(dir, "array.safetensors");
    writeFileSync(array, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("[]")]));
    expect(await failsWith(["eval", "--checkpoint", array], 2)).toBe(
      notSafetensors(array, "the header after the 8-byte length does not start with '{'"),
    );
  });

  it("a 3 GiB file is judged by its first bytes (reading it whole would fail on Node's 2 GiB limit)", async () => {
    const dir = tempDir();
    const big = join(dir, "big.safetensors");
    const fd = openSync(big, "w");
    // A header length of 2e9 bytes: within the file, above the format's limit of 1e8.
    const head = Buffer.alloc(9);
    head.writeBigUInt64LE(2_000_000_000n);
    head[8] = 0x7b;
    writeSync(fd, head);
    ftruncateSync(fd, 3 * 2 ** 30); // sparse: no disk space used
    closeSync(fd);
    expect(await failsWith(["eval", "--checkpoint", big], 2)).toBe(
      notSafetensors(big, "its header length of 2000000000 bytes is above the format's limit of 100000000"),
    );
  });
});

describe("train: existing results, locks and failures after training", () => {
  it("an existing checkpoint at --out is refused without --force, before any training", async () => {
    const dir = tempDir();
    const out = join(dir, "m.safetensors");
    writeFileSync(out, "an earlier checkpoint");
    expect(await failsWith(["train", "--epochs", "1", "--out", out], 2)).toBe(
      `quant-trim train: --out: '${dir}' already holds results (m.safetensors); choose another --out or pass --force to overwrite them`,
    );
    expect(ls(dir)).toEqual(["m.safetensors"]);
    expect(readFileSync(out, "utf8")).toBe("an earlier checkpoint");
  });

  it("a checkpoint another live run is writing is refused, naming that run", async () => {
    const dir = tempDir();
    const lock = join(dir, ".m.safetensors.lock");
    writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: hostname(), started: "earlier" }));
    expect(await failsWith(["train", "--out", join(dir, "m.safetensors")], 2)).toBe(
      `quant-trim train: --out: '${dir}' is in use by another quant-trim run (process ${process.ppid}, started earlier); wait for it to finish, or remove '${lock}' if that process is not a quant-trim run`,
    );
  });

  it("--force replaces the file with the new checkpoint; a dead run's leftover there is removed with a note", async () => {
    const dir = tempDir();
    const out = join(dir, "m.safetensors");
    writeFileSync(out, "an earlier checkpoint");
    const dead = spawnSync("true").pid;
    writeFileSync(join(dir, `other.safetensors.partial-${dead}`), "killed half-way");
    const r = await cli(["train", "--epochs", "1", "--batch-size", "256", "--out", out, "--force", "--json"]);
    expect(r.code).toBe(0);
    expect(r.err).toBe(
      `note: removed '${join(dir, `other.safetensors.partial-${dead}`)}', left unfinished by process ${dead}, which is no longer running\n`,
    );
    expect(JSON.parse(r.out).checkpoint).toBe(out);
    expect(loadCheckpoint(out).metadata.architecture).toBe("mlp");
    expect(ls(dir)).toEqual(["m.safetensors"]);
  });

  it("a checkpoint that cannot be written after training exits 1 (a failure, not bad input) and leaves nothing", async () => {
    const dir = tempDir();
    const out = join(dir, "m.safetensors");
    // Where training writes the staged checkpoint, a directory: the write fails only once training is done.
    const blocker = `${out}.partial-${process.pid}`;
    mkdirSync(blocker);
    const err = await failsWith(["train", "--epochs", "1", "--batch-size", "256", "--out", out], 1);
    expect(err).toMatch(new RegExp(`^quant-trim train: checkpoint: cannot write '${blocker}': `));
    expect(ls(dir)).toEqual([`m.safetensors.partial-${process.pid}`]);
    expect(ls(blocker)).toEqual([]);
  });
});

/** The CLI as a user starts it from a shell. */
function startCli(args: string[]) {
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "packages/cli/src/main.ts", ...args],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>(
    (resolve) => child.on("close", (code, signal) => resolve({ code, signal, out, err })),
  );
  return { child, done };
}

async function waitFor(test: () => boolean, what: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("Ctrl-C during training (the CLI spawned as a user runs it)", () => {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 130],
  ] as const) {
    it(`${signal}: stops at once mid-training, exit ${code}, no partial file, lock or created directory left`, async () => {
      const root = tempDir();
      const out = join(root, "new", "deep", "m.safetensors");
      const lock = join(root, "new", "deep", ".m.safetensors.lock");
      const { child, done } = startCli(["train", "--arch", "cnn", "--epochs", "20", "--out", out]);
      await waitFor(() => existsSync(lock) && readFileSync(lock, "utf8").endsWith("\n"), "the run's lock");
      // The lock names the process that trains: main.ts supervises it from a parent process.
      const trainer = JSON.parse(readFileSync(lock, "utf8")).pid as number;
      expect(trainer).not.toBe(child.pid);
      await new Promise((r) => setTimeout(r, 500)); // into the synchronous training loop
      const sent = Date.now();
      child.kill(signal);
      const r = await done;
      expect(Date.now() - sent).toBeLessThan(10_000); // not after 20 epochs
      expect(r.code).toBe(code);
      expect(r.err).toBe(`quant-trim: interrupted by ${signal}; removed 2 directories the run had created\n`);
      expect(ls(root)).toEqual([]);
      expect(isRunning(trainer)).toBe(false);
    });
  }
});

describe("a reader that closes early (| head -1)", () => {
  it("--help into a pipe already closed: exits quietly with 141 (as when killed by SIGPIPE), no stack trace", async () => {
    const help = startCli(["--help"]);
    help.child.stdout.destroy(); // closed before the CLI has written anything
    const r = await help.done;
    expect(r.err).toBe("");
    expect(r.code).toBe(141);
  });
});
