// The Node entry of @quant-trim/autograd: checkpoint and safetensors files. The main entry holds the
// byte-level formats (encodeCheckpoint / decodeCheckpoint, encodeSafetensors / decodeSafetensors), which
// run in browsers too.
export { loadCheckpoint, loadCheckpointInto, saveCheckpoint } from "./checkpoint/checkpoint-file.js";
export { readSafetensorsFile, writeSafetensorsFile } from "./checkpoint/safetensors-file.js";
