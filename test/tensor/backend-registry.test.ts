import {
  backendAvailable,
  backendNames,
  gemm,
  getBackend,
  kernelsOf,
  setBackend,
  withBackend,
} from "@quant-trim/tensor";
import { describe, expect, it } from "vitest";
import {
  backendFromEnvironment,
  defineKernel,
  kernelFor,
  registerKernel,
} from "../../packages/tensor/src/backend/registry.js";

describe("kernel registry", () => {
  it("defaults to wasm where SIMD validates, and QT_BACKEND overrides it", () => {
    expect(backendNames).toEqual(["js", "wasm"]);
    // This Node has WebAssembly SIMD; a run may set QT_BACKEND=js to put every suite on the js backend.
    expect(backendAvailable("wasm")).toBe(true);
    expect(getBackend()).toBe(process.env.QT_BACKEND === "js" ? "js" : "wasm");
    expect(backendFromEnvironment(undefined, true)).toBe("wasm");
    expect(backendFromEnvironment("", true)).toBe("wasm");
    expect(backendFromEnvironment(undefined, false)).toBe("js");
    expect(backendFromEnvironment("js", true)).toBe("js");
    expect(backendFromEnvironment("wasm", true)).toBe("wasm");
    expect(() => backendFromEnvironment("gpu", true)).toThrow(/QT_BACKEND: unknown backend "gpu"/);
    expect(() => backendFromEnvironment("WASM", true)).toThrow(/QT_BACKEND: unknown backend "WASM"/);
    expect(() => backendFromEnvironment("wasm", false)).toThrow(/QT_BACKEND=wasm: .* SIMD/);
  });

  it("setBackend switches every kernel handle; withBackend restores the previous one, also on a throw", () => {
    const js = () => "js";
    const wasm = () => "wasm";
    const h = defineKernel("test.switch", js);
    registerKernel("test.switch", "wasm", wasm);
    const initial = getBackend();
    expect(h.current()).toBe(initial);
    withBackend("js", () => expect(h.current()).toBe("js"));
    withBackend("wasm", () => expect(h.current()).toBe("wasm"));
    expect(getBackend()).toBe(initial);
    expect(() =>
      withBackend(initial === "js" ? "wasm" : "js", () => {
        throw new Error("inner");
      }),
    ).toThrow("inner");
    expect(getBackend()).toBe(initial);
    expect(h.current()).toBe(initial);
    setBackend("js");
    try {
      expect(h.current()).toBe("js");
    } finally {
      setBackend(initial);
    }
  });

  it("a kernel without an implementation for the active backend runs its js one", () => {
    const h = defineKernel("test.jsOnly", () => 1);
    withBackend("wasm", () => expect(h.current()).toBe(1));
    expect(kernelFor("test.jsOnly", "wasm")).toBeUndefined();
    // Registering before the kernel is defined works too (module evaluation order does not matter).
    registerKernel("test.early", "wasm", () => 2);
    const early = defineKernel("test.early", () => 3);
    withBackend("wasm", () => expect(early.current()).toBe(2));
    withBackend("js", () => expect(early.current()).toBe(3));
  });

  it("the wasm backend implements gemm", () => {
    expect(kernelsOf("wasm")).toContain("gemm");
    expect(kernelsOf("js")).toContain("gemm");
    const A = Float32Array.of(1, 2, 3, 4);
    const C = new Float32Array(4);
    for (const b of backendNames) {
      withBackend(b, () => gemm(false, false, 2, 2, 2, 1, A, 0, 2, A, 0, 2, 0, C, 0, 2));
      expect(Array.from(C)).toEqual([7, 10, 15, 22]);
    }
  });

  it("rejects unknown backends and bad registrations, naming the function and the argument", () => {
    expect(() => setBackend("gpu" as "js")).toThrow(/setBackend: unknown backend "gpu"/);
    expect(() => withBackend("" as "js", () => 0)).toThrow(/setBackend: unknown backend ""/);
    expect(() => registerKernel("x", "cuda" as "js", () => 0)).toThrow(
      /registerKernel: unknown backend "cuda"/,
    );
    expect(() => registerKernel("x", "wasm", 5)).toThrow(/registerKernel: the implementation of 'x'/);
    expect(() => defineKernel("gemm", () => 0)).toThrow(/defineKernel: kernel 'gemm' is already defined/);
    const before = getBackend();
    expect(() => backendAvailable("webgl" as "js")).toThrow(/backendAvailable: unknown backend/);
    expect(getBackend()).toBe(before);
  });
});
