/**
 * The slice of the WebAssembly JavaScript API the backend uses, typed here because the project compiles
 * without the DOM library (where TypeScript declares it) and the core must not depend on Node's types.
 * Reached through `globalThis`, so a runtime without WebAssembly is detected instead of crashing.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmNamespace {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
}

/** The global `WebAssembly` object, or undefined where the runtime has none. */
export function webAssembly(): WasmNamespace | undefined {
  const wa = (globalThis as { WebAssembly?: WasmNamespace }).WebAssembly;
  return typeof wa === "object" && wa !== null ? wa : undefined;
}
