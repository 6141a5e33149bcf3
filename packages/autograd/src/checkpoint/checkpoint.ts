import type { Tensor } from "@quant-trim/tensor";
import type { Module } from "../nn/module.js";
import {
  CheckpointError,
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
} from "./safetensors.js";

/**
 * Model checkpoints as safetensors bytes: a state dict plus string metadata. This module works on bytes
 * only, so it runs wherever typed arrays do; `checkpoint-file.ts` (the package's Node entry) reads and
 * writes them as files.
 */

/** Version of the checkpoint metadata layout written by `encodeCheckpoint` / `saveCheckpoint`. */
export const CHECKPOINT_FORMAT_VERSION = "1";
/** Version of the quant-trim packages that write checkpoints. */
export const PACKAGE_VERSION = "0.1.0";

export interface CheckpointMetadata {
  /** Model architecture name (checked on load). */
  architecture: string;
  /** Anything else: recipe, hyperparameters, seed, observed ranges, ... Values must be strings. */
  [key: string]: string;
}

export interface LoadedCheckpoint {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** The metadata a checkpoint stores: the caller's, checked, plus `format_version` and `package_version`. */
export function checkpointMetadata(metadata: CheckpointMetadata): Record<string, string> {
  if (typeof metadata?.architecture !== "string" || metadata.architecture === "") {
    throw new CheckpointError("metadata.architecture must be a non-empty string");
  }
  return { ...metadata, format_version: CHECKPOINT_FORMAT_VERSION, package_version: PACKAGE_VERSION };
}

/**
 * A model's state dict (parameters and buffers, float32) as .safetensors bytes that
 * `safetensors.torch.load` opens. Metadata gains `format_version` and `package_version`.
 */
export function encodeCheckpoint(model: Module, metadata: CheckpointMetadata): Uint8Array {
  return encodeSafetensors(model.stateDict(), checkpointMetadata(metadata));
}

/** The checks a model checkpoint adds to the container's: float tensors, a known format, an architecture. */
export function checkCheckpoint(decoded: DecodedSafetensors): LoadedCheckpoint {
  const { tensors, raw, metadata } = decoded;
  for (const [name, r] of Object.entries(raw)) {
    if (r.dtype !== "F32" && r.dtype !== "F64")
      throw new CheckpointError(`tensor '${name}' has dtype ${r.dtype}; model checkpoints hold F32`);
  }
  if (metadata.format_version !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      `unsupported checkpoint format_version '${metadata.format_version ?? "(missing)"}', expected '${CHECKPOINT_FORMAT_VERSION}'`,
    );
  }
  if (!metadata.architecture) throw new CheckpointError("checkpoint metadata has no architecture");
  return { tensors, metadata };
}

/** Read and validate checkpoint bytes (format and metadata), without a model. */
export function decodeCheckpoint(bytes: Uint8Array): LoadedCheckpoint {
  return checkCheckpoint(decodeSafetensors(bytes));
}

/**
 * Load a decoded checkpoint into `model`: the architecture recorded in it must equal `architecture`, and
 * every tensor must match the model's state dict by name and shape. Nothing is changed on any mismatch.
 * Returns the metadata.
 */
export function applyCheckpoint(
  checkpoint: LoadedCheckpoint,
  model: Module,
  architecture: string,
): Record<string, string> {
  const { tensors, metadata } = checkpoint;
  if (metadata.architecture !== architecture) {
    throw new CheckpointError(
      `checkpoint is for architecture '${metadata.architecture}', the model is '${architecture}'`,
    );
  }
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    throw new CheckpointError(`does not fit the model: ${(e as Error).message}`);
  }
  return metadata;
}
