/**
 * The kernel registry, the way tfjs does it: every hot kernel has one implementation per backend, and
 * the active backend picks which one runs.
 *
 * - `js`: the plain TypeScript kernels, the readable reference; always present.
 * - `wasm`: WebAssembly SIMD-128 kernels emitted by `../wasm/`; the default wherever the runtime accepts
 *   a SIMD module.
 *
 * The choice is made once at start-up — `QT_BACKEND=js|wasm` in the environment overrides the default —
 * and can be changed at any time with `setBackend`. A kernel without an implementation for the active
 * backend runs its `js` one. Each dispatch point holds a `KernelHandle` whose `current` field is the
 * implementation to call, so dispatch costs one property load.
 */
import { simdSupported } from "../wasm/simd-support.js";

export const backendNames = ["js", "wasm"] as const;
export type BackendName = (typeof backendNames)[number];

/** The implementation of one kernel that the active backend selects. */
export interface KernelHandle<F> {
  readonly name: string;
  /** The reference implementation. */
  readonly js: F;
  /** What to call: the active backend's implementation, or `js` when it has none. */
  current: F;
}

// biome-ignore lint/suspicious/noExplicitAny: handles of different kernels have unrelated signatures
type AnyHandle = KernelHandle<any>;

const handles = new Map<string, AnyHandle>();
const implementations = new Map<string, Map<BackendName, unknown>>();
let active: BackendName = initialBackend();

/**
 * Declare a kernel and its `js` implementation (once per name); returns the handle the dispatch point
 * calls through.
 */
export function defineKernel<F>(name: string, js: F): KernelHandle<F> {
  if (handles.has(name)) throw new Error(`defineKernel: kernel '${name}' is already defined`);
  registerKernel(name, "js", js);
  const handle: KernelHandle<F> = { name, js, current: js };
  handles.set(name, handle);
  refresh(handle);
  return handle;
}

/** Register `impl` as kernel `name` of `backend` (replacing an earlier registration). */
export function registerKernel<F>(name: string, backend: BackendName, impl: F): void {
  checkBackendName("registerKernel", backend);
  if (typeof impl !== "function") {
    throw new Error(`registerKernel: the implementation of '${name}' for '${backend}' must be a function`);
  }
  let perBackend = implementations.get(name);
  if (perBackend === undefined) implementations.set(name, (perBackend = new Map()));
  perBackend.set(backend, impl);
  const handle = handles.get(name);
  if (handle !== undefined) refresh(handle);
}

/** The implementation of kernel `name` for `backend`, or undefined when that backend has none. */
export function kernelFor<F>(name: string, backend: BackendName): F | undefined {
  return implementations.get(name)?.get(backend) as F | undefined;
}

/** The names of the kernels `backend` implements. */
export function kernelsOf(backend: BackendName): string[] {
  const out: string[] = [];
  for (const [name, perBackend] of implementations) if (perBackend.has(backend)) out.push(name);
  return out.sort();
}

/** Make `name` the active backend. Throws for an unknown name or a backend this runtime cannot run. */
export function setBackend(name: BackendName): void {
  checkBackendName("setBackend", name);
  if (!backendAvailable(name)) {
    throw new Error(
      `setBackend: the '${name}' backend needs WebAssembly SIMD-128, which this runtime does not support`,
    );
  }
  active = name;
  for (const h of handles.values()) refresh(h);
}

/** The active backend. */
export function getBackend(): BackendName {
  return active;
}

/** Whether this runtime can run `name`. */
export function backendAvailable(name: BackendName): boolean {
  checkBackendName("backendAvailable", name);
  return name === "js" || simdSupported();
}

/** Run `fn` with `name` active, then restore the previous backend (also when `fn` throws). */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const previous = active;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(previous);
  }
}

function refresh(handle: AnyHandle): void {
  handle.current = implementations.get(handle.name)?.get(active) ?? handle.js;
}

function checkBackendName(fn: string, name: unknown): asserts name is BackendName {
  if (!(backendNames as readonly unknown[]).includes(name)) {
    throw new Error(`${fn}: unknown backend ${JSON.stringify(name)}; expected "js" or "wasm"`);
  }
}

/**
 * The start-up backend: `QT_BACKEND` if set (read through `globalThis.process` so that the core imports
 * no Node built-in and still runs in a browser), else `wasm` where SIMD is supported, else `js`.
 */
function initialBackend(): BackendName {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return backendFromEnvironment(env?.QT_BACKEND, simdSupported());
}

/** The backend a `QT_BACKEND` value selects; unset or empty means the default. Throws on anything else. */
export function backendFromEnvironment(requested: string | undefined, simd: boolean): BackendName {
  if (requested === undefined || requested === "") return simd ? "wasm" : "js";
  if (!(backendNames as readonly string[]).includes(requested)) {
    throw new Error(`QT_BACKEND: unknown backend ${JSON.stringify(requested)}; expected "js" or "wasm"`);
  }
  if (requested === "wasm" && !simd) {
    throw new Error("QT_BACKEND=wasm: this runtime does not support WebAssembly SIMD-128");
  }
  return requested as BackendName;
}
