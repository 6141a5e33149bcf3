import {
  type BackendProfile,
  defineProfile,
  getProfile,
  parseProfile,
  profileNames,
  profiles,
} from "@quant-trim/npu-sim";
import { qRange } from "@quant-trim/quant";
import { describe, expect, it } from "vitest";

function deepFrozen(v: unknown, path: string): string | null {
  if (v === null || typeof v !== "object") return null;
  if (!Object.isFrozen(v)) return path;
  for (const [k, x] of Object.entries(v)) {
    const bad = deepFrozen(x, `${path}.${k}`);
    if (bad) return bad;
  }
  return null;
}

const issueNames = [
  "tflite-int8",
  "tflite-int8-single-rounding",
  "ort-cpu-u8s8",
  "ort-cpu-u8s8-x86-pair-sat",
  "tensorrt-int8",
  "pow2-int8",
  "ethos-u",
  "edgetpu",
  "w4a8",
  "w4a4-per-tensor",
  "uint8-per-tensor",
];

describe("backend profiles as data", () => {
  it("has every profile the issue names, each keyed by its own name", () => {
    for (const n of issueNames) expect(profileNames).toContain(n);
    for (const [k, p] of Object.entries(profiles)) expect(p.name).toBe(k);
  });

  it.each(Object.values(profiles).map((p) => [p.name, p] as const))(
    "%s is deeply frozen and survives a JSON round trip unchanged",
    (_name, p: BackendProfile) => {
      expect(deepFrozen(p, p.name)).toBeNull();
      const back = parseProfile(JSON.stringify(p));
      expect(back).toEqual(p);
      expect(JSON.stringify(back)).toBe(JSON.stringify(p));
      expect(p.sources.length).toBeGreaterThan(0);
    },
  );

  it("encodes the behaviours the issue asks for", () => {
    const t = profiles["tflite-int8"]!;
    expect(t.weight).toMatchObject({
      bits: 8,
      narrowRange: true,
      granularity: "per-channel",
      symmetric: true,
    });
    expect(t.activation).toMatchObject({ bits: 8, signed: true, symmetric: false });
    expect(t.requant.mode).toBe("gemmlowp");
    expect(profiles["tflite-int8-single-rounding"]!.requant.mode).toBe("single-rounding");
    const ort = profiles["ort-cpu-u8s8"]!;
    expect(ort.activation.signed).toBe(false);
    expect(ort.requant.mode).toBe("float32");
    expect(ort.pairSaturation).toBe(false);
    expect(profiles["ort-cpu-u8s8-x86-pair-sat"]!.pairSaturation).toBe(true);
    const trt = profiles["tensorrt-int8"]!;
    expect(trt.activation).toMatchObject({ symmetric: true, narrowRange: true });
    expect(trt.calibration.method).toBe("entropy");
    expect(profiles["pow2-int8"]!.weight.scaleConstraint).toBe("power-of-two");
    expect(profiles["pow2-int8"]!.requant.mode).toBe("power-of-two");
    const ethos = profiles["ethos-u"]!;
    expect(ethos.ops.linear?.weight?.granularity).toBe("per-tensor");
    expect(ethos.weight.granularity).toBe("per-channel");
    expect(ethos.bias.bits).toBe(40);
    expect(profiles.edgetpu!.partitioning).toBe("single-cut");
    expect(qRange(profiles.w4a8!.weight)).toEqual({ qmin: -7, qmax: 7 });
    expect(profiles.w4a8!.activation.bits).toBe(8);
    expect(profiles["w4a4-per-tensor"]!.activation.bits).toBe(4);
    expect(profiles["w4a4-per-tensor"]!.weight.granularity).toBe("per-tensor");
    const u8 = profiles["uint8-per-tensor"]!;
    expect(u8.weight).toMatchObject({ signed: false, symmetric: false, granularity: "per-tensor" });
    expect(u8.calibration.method).toBe("entropy");
    expect(profiles["ort-cpu-dynamic-u8s8"]!.activationScaling).toBe("dynamic");
  });

  it("getProfile names an unknown profile and lists the valid ones", () => {
    expect(getProfile("edgetpu")).toBe(profiles.edgetpu);
    expect(() => getProfile("nope")).toThrow(
      /getProfile: unknown profile 'nope'; valid profiles: tflite-int8, /,
    );
  });
});

describe("defineProfile / parseProfile refuse bad data, naming the field", () => {
  const base = JSON.parse(JSON.stringify(profiles["tflite-int8"])) as Record<string, unknown>;
  const withField = (patch: Record<string, unknown>) => ({ ...base, ...patch });

  it("accepts a user's own backend as JSON: adding a backend is adding data", () => {
    const mine = parseProfile(JSON.stringify(withField({ name: "my-npu", requant: { mode: "float32" } })));
    expect(mine.name).toBe("my-npu");
    expect(mine.requant.mode).toBe("float32");
  });

  it.each([
    [{ colour: "blue" }, /defineProfile: profile\.colour is not a known field/],
    [{ name: "Bad Name" }, /defineProfile: name must be lowercase/],
    [{ requant: { mode: "magic" } }, /requant\.mode must be one of 'gemmlowp'/],
    [
      { requant: { mode: "gemmlowp", shiftRounding: "half-up" } },
      /requant\.shiftRounding applies to mode 'power-of-two' only/,
    ],
    [
      { requant: { mode: "power-of-two" } },
      /'power-of-two' needs every weight and activation grid to use power-of-two scales/,
    ],
    [{ pairSaturation: true }, /pairSaturation models u8×s8 products/],
    [
      { activation: { ...(base.activation as object), granularity: "per-channel" } },
      /activation\.granularity must be 'per-tensor'/,
    ],
    [{ weight: { ...(base.weight as object), bits: 12 } }, /weight\.bits must be at most 8/],
    [
      { weight: { ...(base.weight as object), bitz: 8 } },
      /weight is not a valid grid: gridSpec: unknown field 'bitz'/,
    ],
    [{ ops: { softmax: {} } }, /ops key 'softmax' must be one of 'conv2d'/],
    [{ ops: { conv2d: { stride: [3, 1] } } }, /ops\.conv2d\.stride is an empty range/],
    [{ ops: { conv2d: { maxStride: 2 } } }, /ops\.conv2d\.maxStride is not a known field/],
    [{ accumulator: { bits: 33, overflow: "wrap" } }, /accumulator\.bits must be an integer in \[16, 32\]/],
    [
      { calibration: { method: "percentile", percentile: 20 } },
      /calibration\.percentile must be in \(50, 100\]/,
    ],
    [{ calibration: { method: "entropy", bins: 2048 } }, /calibration\.quantizedBins must be an integer/],
    [
      { cost: { ...(base.cost as object), bytesPerSecond: -1 } },
      /cost\.bytesPerSecond must be a finite number > 0/,
    ],
    [{ fallback: "gpu" }, /fallback must be one of 'cpu-float', 'error'/],
    [{ sources: [] }, /sources must be a non-empty array/],
  ])("%j", (patch, message) => {
    expect(() => defineProfile(withField(patch))).toThrow(message);
  });

  it("requires every field", () => {
    const { bias: _bias, ...rest } = base;
    expect(() => defineProfile(rest)).toThrow(/defineProfile: profile\.bias is required/);
    expect(() => parseProfile("{not json")).toThrow(/parseProfile: not valid JSON/);
  });
});
