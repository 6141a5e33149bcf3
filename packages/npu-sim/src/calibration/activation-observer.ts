import {
  type GridSpec,
  MinMaxObserver,
  MseObserver,
  type Observer,
  PercentileObserver,
} from "@quant-trim/quant";
import type { CalibrationSpec } from "../profiles/schema.js";
import { EntropyObserver } from "./entropy-observer.js";

/**
 * The observer a profile's calibration method uses for one activation tensor on `grid` (per-tensor).
 * Min-max, percentile and MSE are quant's observers; entropy is `EntropyObserver`. Each one's
 * `qparams(grid)` then goes through quant's `computeQParams`, so ranges become qparams in one place.
 */
export function activationObserver(calibration: CalibrationSpec, grid: GridSpec): Observer {
  switch (calibration.method) {
    case "min-max":
      return new MinMaxObserver();
    case "percentile":
      return new PercentileObserver({ percentile: calibration.percentile });
    case "mse":
      return new MseObserver({ spec: grid });
    case "entropy":
      return new EntropyObserver({ bins: calibration.bins, quantizedBins: calibration.quantizedBins });
    default:
      throw new Error(
        `activationObserver: unknown calibration method ${JSON.stringify((calibration as { method: unknown }).method)}`,
      );
  }
}
