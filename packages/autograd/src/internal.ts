// Helpers of @quant-trim/autograd that sibling packages use. Not a stable interface: they may change
// without notice. Users import from "@quant-trim/autograd".
export { checkCheckpoint, checkpointMetadata } from "./checkpoint/checkpoint.js";
export { moduleNames, OpScopes } from "./nn/op-scopes.js";
export { currentTracer, type ModuleTracer, setTracer } from "./nn/trace-hook.js";
export { checkHyperparameter, checkHyperparameterKeys } from "./optim/optimizer.js";
export { type OpObserver, type OpRewriter, setOpObserver, setOpRewriter } from "./variable.js";
