import type { Tensor } from "@quant-trim/tensor";
import { type NamedParam, type ParamEntry, selectWeights } from "./layers.js";
import { assertContiguous } from "./project.js";
import { checkKeys } from "./schedule.js";
import { parseState } from "./state.js";
import { selectKth } from "./thresholds.js";

/**
 * Ordinary unstructured magnitude pruning with binary masks — the contrast to reverse pruning (which acts
 * on the largest weights, and never zeroes them). Both combine: masked weights are 0, which a clamp to
 * [−τ, τ] leaves alone.
 *
 * ```ts
 * mp.maskGradients();  // before optimizer.step()
 * optimizer.step();
 * mp.step(step);       // update the masks on schedule and apply them
 * rp.step(step);       // reverse pruning, if used
 * ```
 */

export type SparsitySchedule =
  /**
   * Zhu & Gupta (2017): s_t = s_f + (s_i − s_f)·(1 − (t − startStep)/(endStep − startStep))³, masks updated
   * every `every` steps from startStep to endStep (and at endStep), then fixed. No pruning before startStep.
   */
  | { kind: "gradual"; startStep: number; endStep: number; every?: number; initialSparsity?: number }
  /** The whole target at `step` (default 0), then fixed. */
  | { kind: "oneShot"; step?: number };

export interface MagnitudePrunerOptions {
  /** Target fraction of zeros, in [0, 1). */
  sparsity: number;
  /** Default { kind: "oneShot", step: 0 }. */
  schedule?: SparsitySchedule;
  /** "layer": each layer reaches the sparsity on its own (default); "global": one threshold across layers. */
  scope?: "global" | "layer";
  include?: string[];
  exclude?: string[];
}

export interface MagnitudePrunerState {
  format: typeof STATE_FORMAT;
  lastStep: number | null;
  sparsity: number;
  /** Per layer: mask bits (1 = kept), packed little-endian 8 to a byte, base64. */
  masks: Record<string, string>;
}

const STATE_FORMAT = "quant-trim/magnitude-pruner@1";
const FN = "MagnitudePruner";

interface MaskedLayer {
  name: string;
  entry: NamedParam;
  mask: Uint8Array;
}

function checkSchedule(s: unknown): Required<Extract<SparsitySchedule, { kind: "gradual" }>> {
  if (s === undefined) return { kind: "gradual", startStep: 0, endStep: 0, every: 1, initialSparsity: 0 };
  if (typeof s !== "object" || s === null)
    throw new Error(`${FN}: schedule must be an object, got ${String(s)}`);
  const o = s as Record<string, unknown>;
  if (o.kind === "oneShot") {
    checkKeys(FN, "oneShot schedule", o, ["kind", "step"]);
    const step = o.step ?? 0;
    if (!Number.isInteger(step) || (step as number) < 0) {
      throw new Error(`${FN}: oneShot step must be an integer ≥ 0, got ${String(o.step)}`);
    }
    // A one-shot schedule is a gradual one that starts and ends on the same step.
    return {
      kind: "gradual",
      startStep: step as number,
      endStep: step as number,
      every: 1,
      initialSparsity: 0,
    };
  }
  if (o.kind === "gradual") {
    checkKeys(FN, "gradual schedule", o, ["kind", "startStep", "endStep", "every", "initialSparsity"]);
    const { startStep, endStep } = o;
    const every = o.every ?? 1;
    const initial = o.initialSparsity ?? 0;
    if (!Number.isInteger(startStep) || !Number.isInteger(endStep) || (startStep as number) < 0) {
      throw new Error(
        `${FN}: gradual schedule needs integer steps ≥ 0, got startStep=${String(startStep)}, endStep=${String(endStep)}`,
      );
    }
    if ((endStep as number) < (startStep as number)) {
      throw new Error(
        `${FN}: gradual schedule endStep ${String(endStep)} is before startStep ${String(startStep)}`,
      );
    }
    if (!Number.isInteger(every) || (every as number) < 1) {
      throw new Error(`${FN}: gradual schedule every must be an integer ≥ 1, got ${String(every)}`);
    }
    if (typeof initial !== "number" || !(initial >= 0 && initial < 1)) {
      throw new Error(`${FN}: initialSparsity must be in [0, 1), got ${String(initial)}`);
    }
    return {
      kind: "gradual",
      startStep: startStep as number,
      endStep: endStep as number,
      every: every as number,
      initialSparsity: initial,
    };
  }
  throw new Error(`${FN}: unknown schedule kind ${JSON.stringify(o.kind)}; expected "gradual" or "oneShot"`);
}

export class MagnitudePruner {
  readonly sparsity: number;
  readonly scope: "global" | "layer";
  private readonly schedule: Required<Extract<SparsitySchedule, { kind: "gradual" }>>;
  private readonly layerList: MaskedLayer[];
  private scratch: Float64Array = new Float64Array(0);
  private lastStep: number | null = null;
  private currentSparsity = 0;

  constructor(params: ReadonlyArray<ParamEntry>, options: MagnitudePrunerOptions) {
    if (typeof options !== "object" || options === null) {
      throw new Error(`${FN}: options {sparsity, schedule?, scope?} are required, got ${String(options)}`);
    }
    checkKeys(FN, "MagnitudePruner", options, ["sparsity", "schedule", "scope", "include", "exclude"]);
    if (typeof options.sparsity !== "number" || !(options.sparsity >= 0 && options.sparsity < 1)) {
      throw new Error(`${FN}: sparsity must be a number in [0, 1), got ${String(options.sparsity)}`);
    }
    this.sparsity = options.sparsity;
    this.schedule = checkSchedule(options.schedule);
    if (this.schedule.initialSparsity > this.sparsity) {
      throw new Error(
        `${FN}: initialSparsity ${this.schedule.initialSparsity} exceeds the target sparsity ${this.sparsity}`,
      );
    }
    this.scope = options.scope ?? "layer";
    if (this.scope !== "global" && this.scope !== "layer") {
      throw new Error(`${FN}: scope must be "global" or "layer", got ${JSON.stringify(this.scope)}`);
    }
    this.layerList = selectWeights(FN, params, options.include, options.exclude).map((entry) => {
      assertContiguous(FN, entry.name, entry.param.data);
      return {
        name: entry.name,
        entry,
        mask: new Uint8Array(entry.param.data.size).fill(1),
      };
    });
  }

  get layerNames(): string[] {
    return this.layerList.map((l) => l.name);
  }

  /** The target sparsity of the schedule at a step (0 before startStep). */
  sparsityAt(step: number): number {
    const { startStep, endStep, initialSparsity } = this.schedule;
    if (step < startStep) return 0;
    if (step >= endStep) return this.sparsity;
    const r = 1 - (step - startStep) / (endStep - startStep);
    return this.sparsity + (initialSparsity - this.sparsity) * r * r * r;
  }

  /** Call after the optimizer step: updates the masks when the schedule says so, then applies them. */
  step(step: number): boolean {
    if (!Number.isInteger(step) || step < 0) {
      throw new Error(`${FN}.step: step must be an integer ≥ 0, got ${String(step)}`);
    }
    const { startStep, endStep, every } = this.schedule;
    // Past endStep the masks are fixed — unless the final update was never reached (steps skipped, or a
    // pruner created late), in which case it happens now.
    const update =
      step >= startStep &&
      (step <= endStep
        ? (step - startStep) % every === 0 || step === endStep
        : this.currentSparsity !== this.sparsity);
    if (update) {
      const s = this.sparsityAt(step);
      if (this.scope === "layer") for (const l of this.layerList) this.updateMasks([l], s);
      else this.updateMasks(this.layerList, s);
      this.currentSparsity = s;
    }
    this.applyMasks();
    this.lastStep = step;
    return update;
  }

  /**
   * Prunes the ⌊s·n⌋ smallest magnitudes over the given layers. Weights already masked count as smaller
   * than any other (so masks only grow while the sparsity does); ties at the threshold go to the earlier
   * layer and index, so exactly ⌊s·n⌋ are pruned.
   */
  private updateMasks(layers: readonly MaskedLayer[], s: number): void {
    let n = 0;
    for (const l of layers) n += l.mask.length;
    const k = Math.floor(s * n + 1e-9);
    if (this.scratch.length < n) this.scratch = new Float64Array(n);
    const a = this.scratch;
    let at = 0;
    for (const l of layers) {
      const t = weightOf(l);
      const w = t.data;
      const off = t.offset;
      const mask = l.mask;
      let sum = 0;
      for (let i = 0; i < mask.length; i++) {
        const m = mask[i] === 0 ? -1 : Math.abs(w[off + i]!);
        sum += m;
        a[at++] = m;
      }
      if (!Number.isFinite(sum)) throw new Error(`${FN}: parameter '${l.name}' contains NaN or Infinity`);
    }
    if (k === 0) {
      for (const l of layers) l.mask.fill(1);
      return;
    }
    const v = selectKth(a, n, k - 1);
    let below = 0;
    for (const l of layers) {
      const t = weightOf(l);
      const w = t.data;
      const off = t.offset;
      const mask = l.mask;
      for (let i = 0; i < mask.length; i++) {
        const m = mask[i] === 0 ? -1 : Math.abs(w[off + i]!);
        if (m < v) below++;
      }
    }
    let ties = k - below;
    for (const l of layers) {
      const t = weightOf(l);
      const w = t.data;
      const off = t.offset;
      const mask = l.mask;
      for (let i = 0; i < mask.length; i++) {
        const m = mask[i] === 0 ? -1 : Math.abs(w[off + i]!);
        if (m < v) mask[i] = 0;
        else if (m === v && ties > 0) {
          mask[i] = 0;
          ties--;
        } else mask[i] = 1;
      }
    }
  }

  /** Zeroes the masked weights (after the optimizer step). */
  applyMasks(): void {
    for (const l of this.layerList) {
      const t = weightOf(l);
      const w = t.data;
      const off = t.offset;
      const mask = l.mask;
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) w[off + i] = 0;
    }
  }

  /** Zeroes the gradients of masked weights (before the optimizer step, so momentum does not revive them). */
  maskGradients(): void {
    for (const l of this.layerList) {
      const g = l.entry.param.grad;
      if (g === null) continue;
      if (g.size !== l.mask.length || !g.isContiguous()) {
        throw new Error(
          `${FN}.maskGradients: gradient of '${l.name}' has shape [${g.shape.join(", ")}]; expected a contiguous [${l.entry.param.data.shape.join(", ")}]`,
        );
      }
      const d = g.data;
      const off = g.offset;
      const mask = l.mask;
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) d[off + i] = 0;
    }
  }

  /** A copy of a layer's mask (1 = kept, 0 = pruned). */
  mask(name: string): Uint8Array {
    const l = this.layerList.find((x) => x.name === name);
    if (!l)
      throw new Error(
        `${FN}.mask: unknown layer '${name}'; pruned: ${this.layerNames.join(", ") || "(none)"}`,
      );
    return l.mask.slice();
  }

  /** Pruned fraction per layer and overall. */
  report(): {
    lastStep: number | null;
    sparsity: number;
    layers: { name: string; pruned: number; fraction: number }[];
  } {
    let total = 0;
    let pruned = 0;
    const layers = this.layerList.map((l) => {
      let z = 0;
      for (let i = 0; i < l.mask.length; i++) if (l.mask[i] === 0) z++;
      total += l.mask.length;
      pruned += z;
      return { name: l.name, pruned: z, fraction: l.mask.length === 0 ? 0 : z / l.mask.length };
    });
    return { lastStep: this.lastStep, sparsity: total === 0 ? 0 : pruned / total, layers };
  }

  state(): MagnitudePrunerState {
    const masks: Record<string, string> = {};
    for (const l of this.layerList) masks[l.name] = packMask(l.mask);
    return { format: STATE_FORMAT, lastStep: this.lastStep, sparsity: this.currentSparsity, masks };
  }

  /** Restores `state()` (object or JSON text); the pruned layers must be the same. */
  loadState(state: MagnitudePrunerState | string): void {
    const fn = `${FN}.loadState`;
    const st = parseState(fn, state, STATE_FORMAT) as unknown as MagnitudePrunerState;
    const names = Object.keys(st.masks ?? {});
    const mine = this.layerNames;
    if (names.length !== mine.length || names.some((n) => !mine.includes(n))) {
      throw new Error(
        `${fn}: state has layers [${names.join(", ")}], this pruner prunes [${mine.join(", ")}]`,
      );
    }
    if (typeof st.sparsity !== "number" || !(st.sparsity >= 0 && st.sparsity < 1)) {
      throw new Error(`${fn}: sparsity must be in [0, 1), got ${String(st.sparsity)}`);
    }
    if (st.lastStep !== null && (!Number.isInteger(st.lastStep) || st.lastStep < 0)) {
      throw new Error(`${fn}: lastStep must be null or an integer ≥ 0, got ${String(st.lastStep)}`);
    }
    const unpacked = this.layerList.map((l) => unpackMask(fn, l.name, st.masks[l.name]!, l.mask.length));
    this.layerList.forEach((l, i) => {
      l.mask.set(unpacked[i]!);
    });
    this.currentSparsity = st.sparsity;
    this.lastStep = st.lastStep;
  }
}

/**
 * The layer's weight tensor as it is now (read on every use, in case the owner swapped the tensor), checked
 * to still match the mask.
 */
function weightOf(l: MaskedLayer): Tensor {
  const t = l.entry.param.data;
  if (t.size !== l.mask.length || !t.isContiguous()) {
    throw new Error(
      `${FN}: parameter '${l.name}' is now shape [${t.shape.join(", ")}]${t.isContiguous() ? "" : " (non-contiguous)"}; its mask has ${l.mask.length} elements`,
    );
  }
  return t;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Mask bits packed 8 to a byte (bit i of byte j is element 8j + i), base64 without a runtime Buffer. */
export function packMask(mask: Uint8Array): string {
  const bytes = new Uint8Array(Math.ceil(mask.length / 8));
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) bytes[i >> 3]! |= 1 << (i & 7);
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const b2 = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    out += B64[b0 >> 2]! + B64[((b0 & 3) << 4) | (b1 >> 4)]!;
    out += i + 1 < bytes.length ? B64[((b1 & 15) << 2) | (b2 >> 6)]! : "=";
    out += i + 2 < bytes.length ? B64[b2 & 63]! : "=";
  }
  return out;
}

export function unpackMask(fn: string, name: string, text: string, n: number): Uint8Array {
  const nBytes = Math.ceil(n / 8);
  if (
    typeof text !== "string" ||
    text.length !== Math.ceil(nBytes / 3) * 4 ||
    !/^[A-Za-z0-9+/]*=*$/.test(text)
  ) {
    throw new Error(`${fn}: mask of '${name}' is not the base64 of ${nBytes} bytes`);
  }
  const bytes = new Uint8Array(nBytes);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    const c = [0, 1, 2, 3].map((j) => (text[i + j] === "=" ? 0 : B64.indexOf(text[i + j]!)));
    const triple = [
      (c[0]! << 2) | (c[1]! >> 4),
      ((c[1]! & 15) << 4) | (c[2]! >> 2),
      ((c[2]! & 3) << 6) | c[3]!,
    ];
    for (const b of triple) if (at < nBytes) bytes[at++] = b;
  }
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
  // One text per mask: misplaced padding, bits set past n or in the unused low bits of the last group
  // would decode to the same mask, so they mark a damaged (or hand-edited) state.
  if (packMask(mask) !== text) {
    throw new Error(`${fn}: mask of '${name}' is not the canonical base64 of ${n} mask bits`);
  }
  return mask;
}
