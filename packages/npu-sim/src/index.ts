export * from "./fixed-point.js";
export * from "./overflow.js";
export * from "./requantize.js";
