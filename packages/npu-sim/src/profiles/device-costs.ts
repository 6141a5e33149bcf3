import type { CostConstants } from "./schema.js";

/*
 * Cost-model constants for a few device classes. They are order-of-magnitude figures taken from public
 * datasheet headlines (peak TOPS, TOPS/W, memory bandwidth) and textbook energy estimates (Horowitz,
 * ISSCC 2014: ~0.2 pJ for an 8-bit MAC in 45 nm logic, 10–100 pJ per byte of DRAM traffic, a few pJ
 * per float32 MAC on a CPU core plus its overhead). They make the model's comparisons meaningful
 * (INT4 vs INT8, NPU vs CPU fallback, bytes vs MACs); they are not measurements of any product.
 */

/** A phone-class NPU behind TFLite (a few TOPS, LPDDR memory). */
export const mobileNpuCost: CostConstants = Object.freeze({
  npuMacsPerSecond: Object.freeze({ int8: 1e12, int4: 2e12 }),
  cpuMacsPerSecond: 5e9,
  bytesPerSecond: 1.5e10,
  opOverheadSeconds: 5e-6,
  partitionSwitchSeconds: 1e-4,
  npuPicojoulesPerMac: Object.freeze({ int8: 0.5, int4: 0.25 }),
  cpuPicojoulesPerMac: 20,
  picojoulesPerByte: 40,
});

/** One x86 core running onnxruntime's MLAS kernels (AVX2 vpmaddubsw for u8×s8). */
export const x86CpuCost: CostConstants = Object.freeze({
  npuMacsPerSecond: Object.freeze({ int8: 1e11, int4: 1e11 }),
  cpuMacsPerSecond: 5e10,
  bytesPerSecond: 2e10,
  opOverheadSeconds: 2e-6,
  partitionSwitchSeconds: 0,
  npuPicojoulesPerMac: Object.freeze({ int8: 5, int4: 5 }),
  cpuPicojoulesPerMac: 10,
  picojoulesPerByte: 60,
});

/** An embedded GPU running TensorRT INT8 (Jetson-class: tens of TOPS, LPDDR5). */
export const embeddedGpuCost: CostConstants = Object.freeze({
  npuMacsPerSecond: Object.freeze({ int8: 1e13, int4: 1e13 }),
  cpuMacsPerSecond: 2e10,
  bytesPerSecond: 6.8e10,
  opOverheadSeconds: 1e-5,
  partitionSwitchSeconds: 5e-5,
  npuPicojoulesPerMac: Object.freeze({ int8: 1, int4: 1 }),
  cpuPicojoulesPerMac: 15,
  picojoulesPerByte: 30,
});

/** A fixed-point DSP/DPU accelerator (TI C7x/MMA, Vitis AI DPU class). */
export const dspAcceleratorCost: CostConstants = Object.freeze({
  npuMacsPerSecond: Object.freeze({ int8: 4e12, int4: 4e12 }),
  cpuMacsPerSecond: 4e9,
  bytesPerSecond: 1.5e10,
  opOverheadSeconds: 5e-6,
  partitionSwitchSeconds: 2e-4,
  npuPicojoulesPerMac: Object.freeze({ int8: 0.4, int4: 0.4 }),
  cpuPicojoulesPerMac: 20,
  picojoulesPerByte: 40,
});

/** A microcontroller NPU (Ethos-U55-256 at 500 MHz: 256 MACs per cycle) next to a Cortex-M CPU. */
export const microNpuCost: CostConstants = Object.freeze({
  npuMacsPerSecond: Object.freeze({ int8: 1.28e11, int4: 1.28e11 }),
  cpuMacsPerSecond: 1e8,
  bytesPerSecond: 2e9,
  opOverheadSeconds: 2e-6,
  partitionSwitchSeconds: 2e-5,
  npuPicojoulesPerMac: Object.freeze({ int8: 0.3, int4: 0.3 }),
  cpuPicojoulesPerMac: 30,
  picojoulesPerByte: 20,
});

/** The Coral Edge TPU (4 TOPS at 2 TOPS/W; weights cached on chip, activations over USB/PCIe). */
export const edgeTpuCost: CostConstants = Object.freeze({
  npuMacsPerSecond: Object.freeze({ int8: 2e12, int4: 2e12 }),
  cpuMacsPerSecond: 2e9,
  bytesPerSecond: 4e9,
  opOverheadSeconds: 5e-6,
  partitionSwitchSeconds: 5e-4,
  npuPicojoulesPerMac: Object.freeze({ int8: 1, int4: 1 }),
  cpuPicojoulesPerMac: 25,
  picojoulesPerByte: 60,
});
