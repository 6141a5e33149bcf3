import fc from "fast-check";
import { int, num, parse, UsageError } from "quant-trim/internal";
import { describe, expect, it } from "vitest";

describe("integer options", () => {
  it("accept decimal integers (a leading minus goes to the range check)", () => {
    expect(int("seed", "0", 9, 0)).toBe(0);
    expect(int("seed", "42", 9, 0)).toBe(42);
    expect(int("seed", "007", 9, 0)).toBe(7);
    expect(int("seed", undefined, 9, 0)).toBe(9);
    expect(() => int("seed", "-1", 0, 0)).toThrow("--seed must be a decimal integer in [0, ");
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), (n) => {
        expect(int("shift", String(n), 0, -1000, 1000)).toBe(n);
      }),
    );
  });

  it("reject what Number() would read as a number: '', blanks, hex, binary, exponents, fractions", () => {
    for (const bad of [
      "",
      " ",
      " 3",
      "3 ",
      "0x3",
      "0b1",
      "0o7",
      "1e3",
      "1.0",
      "1.5",
      "+3",
      "Infinity",
      "3_0",
    ]) {
      expect(() => int("seed", bad, 0, 0)).toThrow(UsageError);
      expect(() => int("seed", bad, 0, 0)).toThrow(
        `--seed must be a decimal integer in [0, ${Number.MAX_SAFE_INTEGER}], got '${bad}'`,
      );
    }
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/^-?\d+$/.test(s)),
        (s) => {
          expect(() => int("epochs", s, 1, -1e9, 1e9)).toThrow(/--epochs must be a decimal integer/);
        },
      ),
    );
  });
});

describe("float options", () => {
  it("accept plain decimals with an optional exponent", () => {
    for (const [s, v] of [
      ["1e-3", 1e-3],
      ["0.001", 0.001],
      ["5E-4", 5e-4],
      [".5", 0.5],
      ["2.", 2],
      ["1e+2", 100],
    ] as const)
      expect(num("lr", s, 1)).toBe(v);
    // Every positive double prints in a form the option accepts, and reads back to itself.
    fc.assert(
      fc.property(fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }), (d) => {
        expect(num("lr", String(d), 1)).toBe(d);
      }),
    );
  });

  it("reject hex, blanks, Infinity, NaN, non-positive values and trailing junk, naming option and value", () => {
    for (const bad of [
      "",
      " ",
      "0x1",
      "0b1",
      "Infinity",
      "NaN",
      "1e400",
      "0",
      "-1e-3",
      "1e-3x",
      " 1e-3",
      "1e",
      "e3",
      ".",
    ]) {
      expect(() => num("lr", bad, 1)).toThrow(
        `--lr must be a positive number such as 0.001 or 1e-3, got '${bad}'`,
      );
    }
  });
});

describe("parse", () => {
  const options = { checkpoint: { type: "string" }, out: { type: "string" } } as const;

  it("rejects an option given twice, by name (also a flag, also --x=v after --x v)", () => {
    expect(() => parse(["--checkpoint", "a", "--checkpoint", "b"], options)).toThrow(
      new UsageError("--checkpoint given twice"),
    );
    expect(() => parse(["--out=a", "--out", "b"], options)).toThrow("--out given twice");
    expect(() => parse(["--json", "--json"], options)).toThrow("--json given twice");
    expect(() => parse(["-h", "--help"], options)).toThrow("--help given twice");
    expect(parse(["--checkpoint", "a", "--out", "b"], options)).toMatchObject({ checkpoint: "a", out: "b" });
  });

  it("explains in one line how to pass a value that starts with '-'", () => {
    expect(() => parse(["--seed", "-1"], options)).toThrow(
      "--seed -1: a value starting with '-' reads as an option; write --seed=-1",
    );
    expect(() => parse(["--out", "--json"], options)).toThrow(
      "--out needs a value, but '--json' follows it; if '--json' is the value, write --out=--json",
    );
    // Attached, the value reaches the option (and its own check).
    expect(parse(["--seed=-1"], options).seed).toBe("-1");
    // A value that only looks like an option name is a value, not the start of the next option.
    expect(parse(["--out", "x", "--seed=2"], options)).toMatchObject({ out: "x", seed: "2" });
  });
});
