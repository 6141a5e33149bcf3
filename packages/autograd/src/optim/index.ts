export * from "./adam.js";
export * from "./lr-schedule.js";
export * from "./optimizer.js";
export * from "./sgd.js";
