import { edgeTpu } from "./edgetpu.js";
import { ethosU } from "./ethos-u.js";
import { uint8PerTensor } from "./legacy-uint8.js";
import { w4a4PerTensor, w4a8 } from "./low-bit.js";
import { ortCpuDynamicU8s8, ortCpuU8s8, ortCpuU8s8X86PairSaturation } from "./onnxruntime.js";
import { pow2Int8 } from "./power-of-two.js";
import type { BackendProfile } from "./schema.js";
import { tensorrtInt8 } from "./tensorrt.js";
import { tfliteInt8, tfliteInt8SingleRounding } from "./tflite.js";

export { defineProfile, parseProfile } from "./define.js";
export * from "./device-costs.js";
export * from "./schema.js";
export {
  edgeTpu,
  ethosU,
  ortCpuDynamicU8s8,
  ortCpuU8s8,
  ortCpuU8s8X86PairSaturation,
  pow2Int8,
  tensorrtInt8,
  tfliteInt8,
  tfliteInt8SingleRounding,
  uint8PerTensor,
  w4a4PerTensor,
  w4a8,
};

/** Every built-in backend profile by name, in a stable order (8-bit ones first). */
export const profiles: Readonly<Record<string, BackendProfile>> = Object.freeze(
  Object.fromEntries(
    [
      tfliteInt8,
      tfliteInt8SingleRounding,
      ortCpuU8s8,
      ortCpuU8s8X86PairSaturation,
      ortCpuDynamicU8s8,
      tensorrtInt8,
      pow2Int8,
      ethosU,
      edgeTpu,
      uint8PerTensor,
      w4a8,
      w4a4PerTensor,
    ].map((p) => [p.name, p]),
  ),
);

export const profileNames: readonly string[] = Object.freeze(Object.keys(profiles));

/** The named profile, or an Error naming it and listing the valid names. */
export function getProfile(name: string): BackendProfile {
  const p = Object.hasOwn(profiles, name) ? profiles[name] : undefined;
  if (!p)
    throw new Error(`getProfile: unknown profile '${name}'; valid profiles: ${profileNames.join(", ")}`);
  return p;
}
