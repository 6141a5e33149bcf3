export * from "./creation.js";
export * from "./errors.js";
export * from "./rng.js";
export * from "./tensor.js";
export * from "./views.js";
