import type { Module } from "../nn/module.js";
import {
  applyCheckpoint,
  type CheckpointMetadata,
  checkCheckpoint,
  checkpointMetadata,
  type LoadedCheckpoint,
} from "./checkpoint.js";
import { readSafetensorsFile, writeSafetensorsFile } from "./safetensors-file.js";

/** Checkpoint files (Node only): `checkpoint.ts`'s bytes, written atomically and read with validation. */

/**
 * Save a model's state dict (parameters and buffers, float32) as a .safetensors file that
 * `safetensors.torch.load_file` opens. Metadata gains `format_version` and `package_version`. The write
 * is atomic: a temporary file, fsync, rename.
 */
export function saveCheckpoint(path: string, model: Module, metadata: CheckpointMetadata): void {
  writeSafetensorsFile(path, model.stateDict(), checkpointMetadata(metadata));
}

/** Read and validate a checkpoint file (format and metadata), without a model. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  return checkCheckpoint(readSafetensorsFile(path));
}

/**
 * Load a checkpoint file into `model`: the architecture recorded in the file must equal `architecture`,
 * and every tensor must match the model's state dict by name and shape. Nothing is changed on any
 * mismatch. Returns the metadata.
 */
export function loadCheckpointInto(
  path: string,
  model: Module,
  architecture: string,
): Record<string, string> {
  return applyCheckpoint(loadCheckpoint(path), model, architecture);
}
