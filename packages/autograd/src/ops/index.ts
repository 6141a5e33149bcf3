export * from "./batchnorm.js";
export * from "./conv.js";
export * from "./conv-relu-pool.js";
export * from "./elementwise.js";
export * from "./linalg.js";
export * from "./loss.js";
export * from "./reduce.js";
export * from "./shape.js";
