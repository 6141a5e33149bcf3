import type { Optimizer } from "./optimizer.js";

/**
 * A learning-rate schedule: the learning rate to use for step `step` (0 for the first `optimizer.step()`).
 * Schedules are plain functions so they compose: `linearWarmup(100, cosineLr(3e-4, 900))`.
 */
export type LrSchedule = (step: number) => number;

/** The same learning rate at every step. */
export function constantLr(lr: number): LrSchedule {
  checkRate("constantLr", "lr", lr);
  return (step) => {
    checkStep("constantLr", step);
    return lr;
  };
}

/** `lr · gamma^⌊step / stepSize⌋`: multiply by `gamma` every `stepSize` steps. */
export function stepLr(lr: number, stepSize: number, gamma: number): LrSchedule {
  checkRate("stepLr", "lr", lr);
  checkPositiveInteger("stepLr", "stepSize", stepSize);
  if (!Number.isFinite(gamma) || gamma < 0) {
    throw new Error(`stepLr: gamma must be a finite number >= 0, got ${gamma}`);
  }
  return (step) => {
    checkStep("stepLr", step);
    return lr * gamma ** Math.floor(step / stepSize);
  };
}

/**
 * Half a cosine from `lr` at step 0 down to `minLr` at `totalSteps`, then `minLr` from there on:
 * `minLr + (lr − minLr)·(1 + cos(π·step/totalSteps))/2`.
 */
export function cosineLr(lr: number, totalSteps: number, minLr = 0): LrSchedule {
  checkRate("cosineLr", "lr", lr);
  checkPositiveInteger("cosineLr", "totalSteps", totalSteps);
  checkRate("cosineLr", "minLr", minLr);
  if (minLr > lr) throw new Error(`cosineLr: minLr (${minLr}) must not exceed lr (${lr})`);
  return (step) => {
    checkStep("cosineLr", step);
    if (step >= totalSteps) return minLr;
    return minLr + ((lr - minLr) * (1 + Math.cos((Math.PI * step) / totalSteps))) / 2;
  };
}

/**
 * Ramp linearly up to `then(0)` over the first `warmupSteps` steps, then follow `then`, whose step count
 * starts after the warm-up (so a cosine that should end at step T gets `totalSteps: T − warmupSteps`).
 * Step s < warmupSteps uses `then(0)·(s + 1)/(warmupSteps + 1)`: the first step already moves (it does not
 * waste a step at lr 0), and the ramp meets `then(0)` exactly at step `warmupSteps`.
 */
export function linearWarmup(warmupSteps: number, then: LrSchedule): LrSchedule {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new Error(`linearWarmup: warmupSteps must be a non-negative integer, got ${warmupSteps}`);
  }
  if (typeof then !== "function") {
    throw new Error(`linearWarmup: then must be a schedule function, got ${String(then)}`);
  }
  return (step) => {
    checkStep("linearWarmup", step);
    if (step >= warmupSteps) return then(step - warmupSteps);
    return (then(0) * (step + 1)) / (warmupSteps + 1);
  };
}

/** Set `optimizer.lr` to the schedule's value for `step` (call before `optimizer.step()`); returns it. */
export function applyLr(optimizer: Optimizer, schedule: LrSchedule, step: number): number {
  const lr = schedule(step);
  optimizer.lr = lr;
  return lr;
}

function checkRate(where: string, what: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new Error(`${where}: ${what} must be a finite number >= 0, got ${String(value)}`);
  }
}

function checkPositiveInteger(where: string, what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${where}: ${what} must be a positive integer, got ${value}`);
  }
}

function checkStep(where: string, step: number): void {
  if (!Number.isInteger(step) || step < 0) {
    throw new Error(`${where}: step must be a non-negative integer, got ${step}`);
  }
}
