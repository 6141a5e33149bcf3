import { type GridSpec, gridSpec } from "./spec.js";

/*
 * Named grids whose names spell the whole layout: <int|uint><bits>[Narrow]<Symmetric|Asymmetric|...>
 * <PerTensor|PerChannel>. "Narrow" drops the lowest code ([-127, 127], [-7, 7]); per-channel grids use
 * axis 0 (the output channel of Linear/Conv weights). The arithmetic conventions are the project's
 * defaults (`GRID_DEFAULTS`: round half to even, divide by the float scale, half-range symmetric
 * divisor, PyTorch's zero-point rule in float32). Override any field with
 * `gridSpec({ ...int8SymmetricPerChannel, axis: 1 })`, or take a system's conventions from `compat.ts`.
 */

const perTensor = { granularity: "per-tensor", axis: 0 } as const;
const perChannel = { granularity: "per-channel", axis: 0 } as const;
const symmetric = { signed: true, symmetric: true, narrowRange: false } as const;
const narrowSymmetric = { signed: true, symmetric: true, narrowRange: true } as const;
const asymmetric = { signed: true, symmetric: false, narrowRange: false } as const;
const unsignedAsymmetric = { signed: false, symmetric: false, narrowRange: false } as const;

/** INT8 [-128, 127], zero point 0, one scale. */
export const int8SymmetricPerTensor: GridSpec = gridSpec({ bits: 8, ...symmetric, ...perTensor });
/** INT8 [-128, 127], zero point 0, one scale per output channel (PyTorch's default weight grid). */
export const int8SymmetricPerChannel: GridSpec = gridSpec({ bits: 8, ...symmetric, ...perChannel });
/** INT8 [-127, 127], zero point 0, one scale (TensorRT-style weights). */
export const int8NarrowSymmetricPerTensor: GridSpec = gridSpec({ bits: 8, ...narrowSymmetric, ...perTensor });
/** INT8 [-127, 127], zero point 0, per output channel (the TFLite int8 weight grid). */
export const int8NarrowSymmetricPerChannel: GridSpec = gridSpec({
  bits: 8,
  ...narrowSymmetric,
  ...perChannel,
});
/** INT8 [-128, 127] with a zero point, one scale (the TFLite int8 activation grid). */
export const int8AsymmetricPerTensor: GridSpec = gridSpec({ bits: 8, ...asymmetric, ...perTensor });
/** INT8 [-128, 127] with a zero point per channel. */
export const int8AsymmetricPerChannel: GridSpec = gridSpec({ bits: 8, ...asymmetric, ...perChannel });
/** UINT8 [0, 255] with a zero point, one scale (the legacy uint8 activation grid). */
export const uint8AsymmetricPerTensor: GridSpec = gridSpec({ bits: 8, ...unsignedAsymmetric, ...perTensor });
/** UINT8 [0, 255] with a zero point per channel. */
export const uint8AsymmetricPerChannel: GridSpec = gridSpec({
  bits: 8,
  ...unsignedAsymmetric,
  ...perChannel,
});
/** INT8 [-128, 127], zero point 0, one power-of-two scale (fixed-point DPUs such as Vitis AI, TI TIDL). */
export const int8PowerOfTwoSymmetricPerTensor: GridSpec = gridSpec({
  bits: 8,
  ...symmetric,
  ...perTensor,
  scaleConstraint: "power-of-two",
});
/** INT8 [-128, 127], zero point 0, one power-of-two scale per channel. */
export const int8PowerOfTwoSymmetricPerChannel: GridSpec = gridSpec({
  bits: 8,
  ...symmetric,
  ...perChannel,
  scaleConstraint: "power-of-two",
});

/** INT4 [-8, 7], zero point 0, one scale. */
export const int4SymmetricPerTensor: GridSpec = gridSpec({ bits: 4, ...symmetric, ...perTensor });
/** INT4 [-8, 7], zero point 0, per output channel. */
export const int4SymmetricPerChannel: GridSpec = gridSpec({ bits: 4, ...symmetric, ...perChannel });
/** INT4 [-7, 7], zero point 0, one scale (the TFLite converter's int4 weight range). */
export const int4NarrowSymmetricPerTensor: GridSpec = gridSpec({ bits: 4, ...narrowSymmetric, ...perTensor });
/** INT4 [-7, 7], zero point 0, per output channel. */
export const int4NarrowSymmetricPerChannel: GridSpec = gridSpec({
  bits: 4,
  ...narrowSymmetric,
  ...perChannel,
});
/** INT4 [-8, 7] with a zero point, one scale. */
export const int4AsymmetricPerTensor: GridSpec = gridSpec({ bits: 4, ...asymmetric, ...perTensor });
/** INT4 [-8, 7] with a zero point per channel. */
export const int4AsymmetricPerChannel: GridSpec = gridSpec({ bits: 4, ...asymmetric, ...perChannel });
/** UINT4 [0, 15] with a zero point, one scale. */
export const uint4AsymmetricPerTensor: GridSpec = gridSpec({ bits: 4, ...unsignedAsymmetric, ...perTensor });

/** INT16 [-32767, 32767], zero point 0, one scale (TFLite's 16x8 activation grid). */
export const int16NarrowSymmetricPerTensor: GridSpec = gridSpec({
  bits: 16,
  ...narrowSymmetric,
  ...perTensor,
});
