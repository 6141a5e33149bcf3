import {
  arange,
  expand,
  permute,
  Rng,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
} from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";

describe("views", () => {
  it("reshape of a contiguous tensor shares the buffer", () => {
    const a = arange(6);
    const b = reshape(a, [2, -1]);
    expect(b.shape).toEqual([2, 3]);
    expect(b.data).toBe(a.data);
  });
  it("transpose swaps strides and contiguous() copies", () => {
    const a = reshape(arange(6), [2, 3]);
    const t = transpose(a);
    expect(t.shape).toEqual([3, 2]);
    expect(t.isContiguous()).toBe(false);
    expect(t.toArray()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(permute(a, [1, 0]).toArray()).toEqual([0, 3, 1, 4, 2, 5]);
  });
  it("slice follows Python's rules, including negative steps", () => {
    const a = arange(10);
    expect(slice(a, [[2, 8, 3]]).toArray()).toEqual([2, 5]);
    expect(slice(a, [[-1, undefined, -2]]).toArray()).toEqual([9, 7, 5, 3, 1]);
    expect(slice(a, [[5, 2]]).size).toBe(0);
    const m = reshape(arange(12), [3, 4]);
    expect(slice(m, [null, [1, 3]]).toArray()).toEqual([1, 2, 5, 6, 9, 10]);
  });
  it("squeeze, unsqueeze and expand", () => {
    const a = reshape(arange(3), [1, 3, 1]);
    expect(squeeze(a).shape).toEqual([3]);
    expect(squeeze(a, [0]).shape).toEqual([3, 1]);
    expect(() => squeeze(a, [1])).toThrow(/squeeze: axis 1 has size 3/);
    expect(unsqueeze(arange(3), 0).shape).toEqual([1, 3]);
    expect(
      expand(reshape(arange(3), [3, 1]), [2, 3, 4])
        .toArray()
        .slice(0, 8),
    ).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(() => expand(arange(3), [4])).toThrow(/expand: cannot broadcast \[3\] to \[4\]/);
  });
});

describe("Rng", () => {
  it("gives the same sequence for the same seed and a different one for another seed", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(new Rng(43).nextUint32()).not.toBe(xs[0]);
  });
});
