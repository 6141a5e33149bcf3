import type { Variable } from "../variable.js";
import type { Module } from "./module.js";

/** What Module.call reports to an active tracer (see trace.ts). */
export interface ModuleTracer {
  callModule(m: Module, inputs: readonly Variable[], run: () => Variable): Variable;
}

let active: ModuleTracer | null = null;

export function currentTracer(): ModuleTracer | null {
  return active;
}

export function setTracer(t: ModuleTracer | null): ModuleTracer | null {
  const prev = active;
  active = t;
  return prev;
}
