export * from "./checkpoint/index.js";
export * from "./gradcheck.js";
export * as nn from "./nn/index.js";
export * from "./nn/index.js";
export * as ops from "./ops/index.js";
export * from "./optim/index.js";
export * from "./variable.js";
