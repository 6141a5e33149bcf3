import type { nn, Variable } from "@quant-trim/autograd";
import {
  type ModuleTracer,
  moduleNames,
  type OpRewriter,
  OpScopes,
  setOpRewriter,
  setTracer,
} from "@quant-trim/autograd/internal";
import type { ActivationPoint } from "./points.js";
import type { QatModel } from "./qat-model.js";

type Module = nn.Module;

/**
 * Puts activation points on functional ops (a residual `ops.add` in a custom forward, with its fused
 * ReLU) while the model runs. Such ops have no module whose output hook could carry the point, so the
 * model's `call` is wrapped: for the duration of one forward pass it follows module calls to give every
 * op outside a leaf module the trace's handle (`<scope>.<op>#<k>`) and replaces the result of the ops
 * that have a point by their fake-quantized value. `points` maps op handles to their points; nothing is
 * installed when it is empty, so models without functional points run exactly as before.
 */
export function installFunctionalPoints(
  qat: QatModel,
  model: Module,
  points: ReadonlyMap<string, ActivationPoint>,
): void {
  if (points.size === 0) return;
  const watched = new Set<string>();
  for (const handle of points.keys()) {
    // `<scope>.<op>#<k>`: module names contain no `#`, op names no `.`.
    const hash = handle.lastIndexOf("#");
    watched.add(handle.slice(handle.lastIndexOf(".", hash) + 1, hash));
  }
  const scopes = new OpScopes(moduleNames(model), (m) => m.isLeafModule);
  // A tracer or rewriter already active (tracing the QAT model, a tool of the caller) keeps working.
  let outerTracer: ModuleTracer | null = null;
  let outerRewriter: OpRewriter | null = null;
  const tracer: ModuleTracer = {
    callModule(m, inputs, run) {
      return outerTracer
        ? outerTracer.callModule(m, inputs, () => scopes.enter(m, run))
        : scopes.enter(m, run);
    },
  };
  const rewriter: OpRewriter = (op, inputs, output, attrs) => {
    // Only the op types that have points are counted: handles are counted per type anyway.
    if (watched.has(op) && !scopes.insideLeaf) {
      const p = points.get(scopes.handle(op));
      if (p) return p.apply(output, model.training);
    }
    return outerRewriter ? outerRewriter(op, inputs, output, attrs) : undefined;
  };

  const hadOwnCall = Object.hasOwn(model, "call");
  const ownCall = model.call;
  let running = false;
  model.call = (...inputs: Variable[]): Variable => {
    if (running) return ownCall.apply(model, inputs);
    running = true;
    scopes.reset();
    outerTracer = setTracer(tracer);
    outerRewriter = setOpRewriter(rewriter);
    try {
      return ownCall.apply(model, inputs);
    } finally {
      setTracer(outerTracer);
      setOpRewriter(outerRewriter);
      outerTracer = null;
      outerRewriter = null;
      running = false;
    }
  };
  qat.onDetach(() => {
    if (hadOwnCall) model.call = ownCall;
    else delete (model as { call?: unknown }).call;
  });
}
