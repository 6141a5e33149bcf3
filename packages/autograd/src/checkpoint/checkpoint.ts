import type { Tensor } from "@quant-trim/tensor";
import type { Module } from "../nn/module.js";
import { CheckpointError } from "./safetensors.js";
import { readSafetensorsFile, writeSafetensorsFile } from "./safetensors-file.js";

/** Version of the checkpoint metadata layout written by `saveCheckpoint`. */
export const CHECKPOINT_FORMAT_VERSION = "1";
/** Version of the quant-trim packages that write checkpoints. */
export const PACKAGE_VERSION = "0.1.0";

export interface CheckpointMetadata {
  /** Model architecture name (checked on load). */
  architecture: string;
  /** Anything else: recipe, hyperparameters, seed, observed ranges, ... Values must be strings. */
  [key: string]: string;
}

/**
 * Save a model's state dict (parameters and buffers, float32) as a .safetensors file that
 * `safetensors.torch.load_file` opens. Metadata gains `format_version` and `package_version`. The write
 * is atomic: a temporary file, fsync, rename.
 */
export function saveCheckpoint(path: string, model: Module, metadata: CheckpointMetadata): void {
  if (typeof metadata.architecture !== "string" || metadata.architecture === "") {
    throw new CheckpointError("metadata.architecture must be a non-empty string");
  }
  writeSafetensorsFile(path, model.stateDict(), {
    ...metadata,
    format_version: CHECKPOINT_FORMAT_VERSION,
    package_version: PACKAGE_VERSION,
  });
}

export interface LoadedCheckpoint {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Read and validate a checkpoint file (format and metadata), without a model. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const { tensors, raw, metadata } = readSafetensorsFile(path);
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

/**
 * Load a checkpoint into `model`: the architecture recorded in the file must equal `architecture`, and
 * every tensor must match the model's state dict by name and shape. Nothing is changed on any mismatch.
 */
export function loadCheckpointInto(
  path: string,
  model: Module,
  architecture: string,
): Record<string, string> {
  const { tensors, metadata } = loadCheckpoint(path);
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
