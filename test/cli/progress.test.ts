import fc from "fast-check";
import {
  colorEnabled,
  formatBar,
  formatCount,
  formatDuration,
  formatRate,
  ProgressRenderer,
  renderPieces,
} from "quant-trim/internal";
import { describe, expect, it } from "vitest";

/** A stream that records what is written, a terminal or not. */
function fakeStream(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return {
    writes,
    text: () => writes.join(""),
    stream: { write: (s: string) => writes.push(s), isTTY, ...(columns === undefined ? {} : { columns }) },
  };
}

function fakeClock() {
  const clock = { ms: 0, now: () => clock.ms };
  return clock;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;
const strip = (s: string) => s.replace(new RegExp(`${"\x1b"}\\[\\d+m`, "g"), "");

describe("progress formatting", () => {
  it("formats durations as m:ss and h:mm:ss, unknown as ?", () => {
    expect([0, 7, 59.4, 59.6, 754, 3600, 3725].map(formatDuration)).toEqual([
      "0:00",
      "0:07",
      "0:59",
      "1:00",
      "12:34",
      "1:00:00",
      "1:02:05",
    ]);
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("?");
    expect(() => formatDuration(-1)).toThrow("formatDuration: seconds must be a number ≥ 0, got -1");
    expect(() => formatDuration(Number.NaN)).toThrow("formatDuration: seconds");
  });

  it("groups thousands without depending on the locale, and shows slow rates with a decimal", () => {
    expect([0, 999, 1000, 1234567, -4321].map(formatCount)).toEqual([
      "0",
      "999",
      "1,000",
      "1,234,567",
      "-4,321",
    ]);
    expect(formatRate(1234.4)).toBe("1,234 samples/s");
    expect(formatRate(7.5, "profiles")).toBe("7.5 profiles/s");
    expect(formatRate(null)).toBe("– samples/s");
  });

  it("draws bars of a fixed width that fill with progress", () => {
    expect(formatBar(0, 4, 8)).toBe("[>       ]");
    expect(formatBar(2, 4, 8)).toBe("[====>   ]");
    expect(formatBar(4, 4, 8)).toBe("[========]");
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 60 }), (total, width) => {
        let previous = -1;
        for (let done = 0; done <= total; done += Math.max(1, Math.floor(total / 7))) {
          const bar = formatBar(done, total, width);
          expect(bar).toHaveLength(width + 2);
          const filled = bar.split("=").length - 1;
          expect(filled).toBeGreaterThanOrEqual(previous);
          previous = filled;
        }
        expect(formatBar(total, total, width)).toBe(`[${"=".repeat(width)}]`);
      }),
      { numRuns: 40 },
    );
    expect(() => formatBar(1, 0, 8)).toThrow("formatBar: total must be > 0, got 0");
  });

  it("colours pieces only when asked, and cuts by visible width", () => {
    const pieces = [{ text: "run 1", style: "bold" as const }, { text: " · fp" }];
    expect(renderPieces(pieces, false)).toBe("run 1 · fp");
    expect(renderPieces(pieces, true)).toBe("\x1b[1mrun 1\x1b[0m · fp");
    expect(renderPieces(pieces, true, 7)).toBe("\x1b[1mrun 1\x1b[0m …");
    expect(renderPieces(pieces, false, 4)).toBe("run…");
    expect(renderPieces(pieces, false, 50)).toBe("run 1 · fp");
  });

  it("colours only a terminal, and honours NO_COLOR and TERM=dumb", () => {
    expect(colorEnabled(true, {})).toBe(true);
    expect(colorEnabled(false, {})).toBe(false);
    expect(colorEnabled(true, { NO_COLOR: "1" })).toBe(false);
    // no-color.org: an empty NO_COLOR does not count.
    expect(colorEnabled(true, { NO_COLOR: "" })).toBe(true);
    expect(colorEnabled(true, { TERM: "dumb" })).toBe(false);
  });
});

/** Two epochs of 2 steps, then an evaluation of 2 profiles, then a second run; 250 ms per step. */
function script(p: ProgressRenderer, clock: { ms: number }): void {
  p.startRun(1, 2, { arch: "cnn-bn", recipe: "quant-trim", seed: 1 });
  for (let epoch = 0; epoch < 2; epoch++) {
    p.startEpoch(epoch, 2, 2);
    for (let s = 0; s < 2; s++) {
      clock.ms += 250;
      p.step({ loss: 1 - 0.25 * (2 * epoch + s), samples: 50, lambda: 0.25 * (2 * epoch + s) });
    }
    p.endEpoch({
      trainAccuracy: 0.8 + 0.1 * epoch,
      lambda: 0.5 * (epoch + 1),
      trimQuantile: 0.9 + 0.05 * epoch,
    });
  }
  p.startEval("cnn-bn/quant-trim/seed 1", 2);
  clock.ms += 1500;
  p.evalItem("tflite-int8", "97.85%");
  clock.ms += 500;
  p.message("warning: something to say");
  p.evalItem("w4a8");
  p.endEval();
  p.endRun();
  p.startRun(2, 2, { arch: "cnn-bn", recipe: "fp", seed: 1 });
}

const RUN1 = "run 1 of 2 · cnn-bn/quant-trim/seed 1";
const EPOCH1 =
  "epoch 1/2 · loss 0.8750 · acc 80.00% · λ 0.500 · trim q 0.9000 · 200 samples/s · 0:01 elapsed · ETA 0:01";
const EPOCH2 =
  "epoch 2/2 · loss 0.3750 · acc 90.00% · λ 1.000 · trim q 0.9500 · 200 samples/s · 0:01 elapsed · ETA 0:00";
const EVAL = "eval cnn-bn/quant-trim/seed 1 · 2 profiles";
const ITEM1 = "  1/2 tflite-int8 · 97.85% · 0:02";
const WARNING = "warning: something to say";
const ITEM2 = "  2/2 w4a8 · 0:01";
const DONE = "eval done · 2 profiles in 0:02";
// Run 1 took 1 s of training and 2 s of evaluation: 3 s for the one run left.
const RUN2 = "run 2 of 2 · cnn-bn/fp/seed 1 · about 0:03 left";

describe("ProgressRenderer off a terminal", () => {
  it("prints one finished line per run, epoch and item, and no control characters", () => {
    const out = fakeStream(false);
    const clock = fakeClock();
    script(new ProgressRenderer({ stream: out.stream, env: {}, now: clock.now }), clock);
    expect(out.text()).toBe(
      `${[RUN1, EPOCH1, EPOCH2, EVAL, ITEM1, WARNING, ITEM2, DONE, RUN2].join("\n")}\n`,
    );
    expect(out.text()).not.toMatch(CONTROL);
  });
});

describe("ProgressRenderer on a terminal", () => {
  it("redraws a live bar with carriage returns and replaces it with the finished line (NO_COLOR)", () => {
    const out = fakeStream(true, 200);
    const clock = fakeClock();
    const p = new ProgressRenderer({ stream: out.stream, env: { NO_COLOR: "1" }, now: clock.now });
    expect([p.live, p.color]).toEqual([true, false]);
    script(p, clock);
    // Step 1 at 0.25 s: 250 ms per step, 3 steps left → 0.75 s; loss is the epoch's running mean.
    const bar1 = "epoch 1/2 [==========>         ] 1/2 · loss 1.0000 · λ 0.000 · 200 samples/s · ETA 0:01";
    const bar2 = "epoch 1/2 [====================] 2/2 · loss 0.8750 · λ 0.250 · 200 samples/s · ETA 0:01";
    const bar3 = "epoch 2/2 [==========>         ] 1/2 · loss 0.5000 · λ 0.500 · 200 samples/s · ETA 0:00";
    const bar4 = "epoch 2/2 [====================] 2/2 · loss 0.3750 · λ 0.750 · 200 samples/s · ETA 0:00";
    const eval0 = "eval [>                   ] 0/2 · ETA ?";
    const eval1 = "eval [==========>         ] 1/2 · ETA 0:02";
    const over = (line: string, live: string) =>
      `\r${line}${" ".repeat(Math.max(0, live.length - line.length))}\n`;
    expect(out.writes).toEqual([
      `${RUN1}\n`,
      `\r${bar1}`,
      `\r${bar2}`,
      over(EPOCH1, bar2),
      `\r${bar3}`,
      `\r${bar4}`,
      over(EPOCH2, bar4),
      `${EVAL}\n`,
      `\r${eval0}`,
      over(ITEM1, eval0),
      `\r${eval1}`,
      over(WARNING, eval1),
      `\r${eval1}`,
      over(ITEM2, eval1),
      `${DONE}\n`,
      `${RUN2}\n`,
    ]);
    expect(out.text()).not.toContain("\x1b");
  });

  it("colours the same text when NO_COLOR is not set", () => {
    const plain = fakeStream(true, 200);
    const colored = fakeStream(true, 200);
    for (const [out, env] of [
      [plain, { NO_COLOR: "yes" }],
      [colored, { TERM: "xterm-256color" }],
    ] as const) {
      const clock = fakeClock();
      script(new ProgressRenderer({ stream: out.stream, env, now: clock.now }), clock);
    }
    expect(colored.text()).toContain(`\x1b[1m${RUN1}\x1b[0m\n`);
    expect(colored.text()).toContain("\x1b[32m[====================]\x1b[0m");
    expect(strip(colored.text())).toBe(plain.text());
  });

  it("draws at most once per interval, always the last step, and cuts live lines to the terminal width", () => {
    const out = fakeStream(true, 40);
    const clock = fakeClock();
    const p = new ProgressRenderer({
      stream: out.stream,
      env: { NO_COLOR: "1" },
      now: clock.now,
      redrawIntervalMs: 100,
    });
    p.startRun(1, 1, { arch: "mlp", recipe: "fp", seed: 0 });
    p.startEpoch(0, 1, 10);
    for (let s = 0; s < 10; s++) {
      clock.ms += 30;
      p.step({ loss: 0.5, samples: 64 });
    }
    const bars = out.writes.filter((w) => w.startsWith("\r"));
    // Drawn at 30 ms (first), 150 ms, 270 ms and 300 ms (the last step).
    expect(bars).toHaveLength(4);
    for (const b of bars) expect([...b].length).toBe(1 + 39);
    expect(bars[3]).toBe("\repoch 1/1 [====================] 10/10…");
    p.close();
    expect(out.writes.at(-1)).toBe(`\r${" ".repeat(39)}\r`);
  });

  it("refuses calls out of order and bad arguments, naming the method", () => {
    const p = new ProgressRenderer({ stream: fakeStream(false).stream, env: {}, now: () => 0 });
    expect(() => p.startEpoch(0, 1, 1)).toThrow("ProgressRenderer.startEpoch: call startRun first");
    expect(() => p.startRun(3, 2, { arch: "a", recipe: "fp", seed: 0 })).toThrow(
      "ProgressRenderer.startRun: index must be an integer in [1, 2], got 3",
    );
    p.startRun(1, 1, { arch: "a", recipe: "fp", seed: 0 });
    expect(() => p.step({ loss: 1, samples: 1 })).toThrow("ProgressRenderer.step: call startEpoch first");
    expect(() => p.startEpoch(1, 1, 5)).toThrow(
      "ProgressRenderer.startEpoch: epoch must be an integer in [0, 0], got 1",
    );
    p.startEpoch(0, 1, 5);
    expect(() => p.endEpoch({ trainAccuracy: 1, lambda: null, trimQuantile: null })).toThrow(
      "ProgressRenderer.endEpoch: no step was reported, so loss must be given",
    );
    p.startEval("x", 1);
    p.evalItem("a");
    expect(() => p.evalItem("b")).toThrow(
      "ProgressRenderer.evalItem: all 1 items of this evaluation are already done",
    );
    expect(() => new ProgressRenderer({ stream: process.stderr, colour: true } as never)).toThrow(
      "ProgressRenderer: unknown option 'colour'",
    );
    expect(() => new ProgressRenderer({ stream: {} as never })).toThrow(
      "ProgressRenderer: stream must have a write(text) method",
    );
  });
});
