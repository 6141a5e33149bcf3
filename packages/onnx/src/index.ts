export * from "./builder/attributes.js";
export * from "./builder/graph-builder.js";
export * from "./builder/opset.js";
export * from "./proto/codec.js";
export * from "./proto/schema.js";
export * from "./proto/tensor-data.js";
export * from "./proto/types.js";
