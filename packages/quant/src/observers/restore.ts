import { gridSpec } from "../grid/spec.js";
import { EmaMinMaxObserver } from "./ema-min-max-observer.js";
import { MinMaxObserver } from "./min-max-observer.js";
import { MseObserver } from "./mse-observer.js";
import type { Observer, ObserverState } from "./observer.js";
import { PercentileObserver } from "./percentile-observer.js";

/**
 * Rebuild an observer of the right class from `observer.state()` (e.g. read from checkpoint metadata).
 * Throws an Error naming the problem for an unknown type or a malformed state.
 */
export function restoreObserver(state: ObserverState): Observer {
  if (state === null || typeof state !== "object")
    throw new Error("restoreObserver: state must be an object");
  const common = {
    granularity: state.granularity,
    axis: state.axis,
    nonFinite: state.nonFinite,
    channels: state.channels,
  };
  const histogramBins = (state.histogram as { bins?: number } | undefined)?.bins;
  let observer: Observer;
  switch (state.type) {
    case "MinMaxObserver":
      observer = new MinMaxObserver(common);
      break;
    case "EmaMinMaxObserver":
      observer = new EmaMinMaxObserver({ ...common, averagingConstant: state.averagingConstant as number });
      break;
    case "PercentileObserver":
      observer = new PercentileObserver({
        ...common,
        percentile: state.percentile as number,
        ...(histogramBins !== undefined ? { bins: histogramBins } : {}),
      });
      break;
    case "MseObserver":
      observer = new MseObserver({
        spec: gridSpec(state.spec as object),
        nonFinite: state.nonFinite,
        channels: state.channels,
        candidates: state.candidates as number,
        minRatio: state.minRatio as number,
        ...(histogramBins !== undefined ? { bins: histogramBins } : {}),
      });
      break;
    default:
      throw new Error(`restoreObserver: unknown observer type ${JSON.stringify(state.type)}`);
  }
  return observer.loadState(state);
}
