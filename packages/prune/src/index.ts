export * from "./layers.js";
export * from "./magnitude-pruner.js";
export * from "./project.js";
export * from "./reverse-pruner.js";
export * from "./schedule.js";
export * from "./stats.js";
export * from "./thresholds.js";
export * from "./trim.js";
