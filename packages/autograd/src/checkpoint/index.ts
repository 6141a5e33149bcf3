export * from "./checkpoint.js";
export * from "./safetensors.js";
export * from "./safetensors-file.js";
