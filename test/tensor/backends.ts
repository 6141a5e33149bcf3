/**
 * Runs a test suite once per backend (the tfjs way: one suite, every backend). A plain module, not a
 * test file. The backend is switched in beforeAll and restored in afterAll, so files sharing a worker
 * (vitest runs with isolate: false) see the default again afterwards.
 */
import { type BackendName, backendNames, getBackend, setBackend } from "@quant-trim/tensor";
import { afterAll, beforeAll, describe, expect } from "vitest";

export function describeEachBackend(title: string, body: (backend: BackendName) => void): void {
  describe.each(backendNames)(`${title} [%s backend]`, (backend) => {
    let previous: BackendName;
    beforeAll(() => {
      previous = getBackend();
      setBackend(backend);
    });
    afterAll(() => setBackend(previous));
    body(backend);
  });
}

/** Unit roundoff of float32 and float64. */
export const U32 = 2 ** -24;
export const U64 = 2 ** -53;

/** γ(n) = n·u / (1 − n·u): the relative error bound of a sum or dot product of n terms. */
export function gamma(n: number, u: number): number {
  return (n * u) / (1 - n * u);
}

/** Bitwise equality, NaN included (every NaN counts as the same value); throws naming the first difference. */
export function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)))) {
      throw new Error(`${what}[${i}] = ${g}, expected ${w}`);
    }
  }
}
