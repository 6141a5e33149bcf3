export * from "./calibration/activation-observer.js";
export * from "./calibration/entropy-observer.js";
export * from "./calibration/entropy-threshold.js";
export * from "./fixed-point.js";
export * from "./overflow.js";
export * from "./profiles/index.js";
export * from "./requantize.js";
