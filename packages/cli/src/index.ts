export * from "./data/mnist.js";
