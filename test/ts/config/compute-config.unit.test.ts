import { describe, expect, test } from "vitest";
import { parseConfig } from "../../../ts/config/load-config.js";
import { deviceProblem, precisionProblem } from "../../../ts/config/compute-config.js";
import { checkDevice } from "../../../ts/sdk/preflight.js";
import { issuesOf } from "../support/config-issues.js";

const CPU_ONLY = [{ index: 0, type: "cpu" as const, name: "x86_64" }];
const TWO_GPUS = [...CPU_ONLY, { index: 0, type: "cuda" as const, name: "H100" }, { index: 1, type: "cuda" as const, name: "H100" }];

describe("compute options", () => {
  test("every option is taken where the encoder can run it", () => {
    const vit = parseConfig({
      name: "a",
      encoder: "vit-tiny",
      compute: { device: "cuda:1", precision: "bf16", compile: true, gradCheckpointing: true },
    });
    expect(vit.compute).toEqual({ device: "cuda:1", precision: "bf16", compile: true, gradCheckpointing: true, channelsLast: false });
    expect(parseConfig({ name: "a", encoder: "resnet18", compute: { channelsLast: true } }).compute.channelsLast).toBe(true);
    expect(parseConfig({ name: "a", encoder: "clip-vit-b-32", compute: { gradCheckpointing: true } }).compute.gradCheckpointing).toBe(true);
  });

  test("a bad value names its field", () => {
    expect(issuesOf({ name: "a", compute: { device: "gpu" } })).toEqual(['compute.device: expected auto, cpu, cuda or cuda:N (e.g. cuda:1), got "gpu"']);
    expect(issuesOf({ name: "a", compute: { precision: "fp8" } })[0]).toBe(
      'compute.precision: expected one of "auto", "fp32", "bf16", "fp16", got "fp8"',
    );
    expect(issuesOf({ name: "a", compute: { amp: true } })[0]).toBe("compute.amp: unknown key; expected one of device, precision, compile, gradCheckpointing, channelsLast");
  });

  test("an option the encoder cannot take is refused, naming the encoder", () => {
    expect(issuesOf({ name: "a", encoder: "small-cnn", compute: { gradCheckpointing: true } })).toEqual([
      'compute.gradCheckpointing: "small-cnn" has no transformer blocks to checkpoint; only vit-tiny, vit-small, vit-base and the CLIP encoders take it',
    ]);
    expect(issuesOf({ name: "a", encoder: "vit-small", compute: { channelsLast: true } })).toEqual([
      'compute.channelsLast: "vit-small" is not a convolutional encoder; only small-cnn, resnet18, resnet50 take it',
    ]);
    expect(issuesOf({ name: "a", encoder: "clip-rn50", compute: { channelsLast: true } })).toEqual([
      'compute.channelsLast: "clip-rn50" is a CLIP encoder, and the CLIP encoders do not take channelsLast; only small-cnn, resnet18, resnet50 take it',
    ]);
  });

  test("a CUDA device the worker lacks is named with what it has", () => {
    const cpuOnly = { devices: CPU_ONLY, torch_version: "2.13.0+cpu", world_size: 1 };
    const twoGpus = { devices: TWO_GPUS, torch_version: "2.13.0", world_size: 1 };
    expect(deviceProblem("cuda", cpuOnly)).toBe("cuda was asked for, but this worker has no CUDA device (torch 2.13.0+cpu); use auto or cpu");
    expect(deviceProblem("cuda:2", twoGpus)).toBe("cuda:2 was asked for, but this worker has 2 CUDA device(s): cuda:0, cuda:1");
    for (const device of ["auto", "cpu"]) expect(deviceProblem(device, cpuOnly)).toBeNull();
    for (const device of ["cuda", "cuda:1"]) expect(deviceProblem(device, twoGpus)).toBeNull();
  });

  test("one GPU for several data-parallel ranks, and fp16 without CUDA, are refused as the worker does", () => {
    const ranks = { devices: TWO_GPUS, torch_version: "2.13.0", world_size: 2 };
    expect(deviceProblem("cuda:1", ranks)).toBe(
      "cuda:1 names one GPU, but this worker runs 2 data-parallel ranks, each on its own (LOCAL_RANK); use auto or cuda",
    );
    for (const device of ["auto", "cuda"]) expect(deviceProblem(device, ranks)).toBeNull();
    const cpuOnly = { devices: CPU_ONLY, torch_version: "2.13.0+cpu", world_size: 1 };
    const fp16 = "fp16 needs a CUDA device and this step runs on cpu; use bf16 (autocast on the CPU) or fp32";
    expect(precisionProblem("fp16", "auto", cpuOnly)).toBe(fp16);
    expect(precisionProblem("fp16", "cpu", { ...ranks, world_size: 1 })).toBe(fp16);
    expect(precisionProblem("fp16", "auto", { ...ranks, world_size: 1 })).toBeNull();
    for (const precision of ["auto", "fp32", "bf16"]) expect(precisionProblem(precision, "cpu", cpuOnly)).toBeNull();
  });

  test("preflight refuses the config's device and precision before anything is written, naming the field", () => {
    const config = parseConfig({ name: "a", compute: { device: "cuda" } });
    expect(() => checkDevice(config, { devices: CPU_ONLY, torch_version: "2.13.0+cpu", world_size: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT", message: expect.stringMatching(/^compute\.device: cuda was asked for/) }),
    );
    expect(() => checkDevice(config, { devices: TWO_GPUS, torch_version: "2.13.0", world_size: 1 })).not.toThrow();
    const oneGpu = parseConfig({ name: "a", compute: { device: "cuda:0" } });
    expect(() => checkDevice(oneGpu, { devices: TWO_GPUS, torch_version: "2.13.0", world_size: 2 })).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT", message: expect.stringMatching(/^compute\.device: cuda:0 names one GPU/) }),
    );
    const fp16 = parseConfig({ name: "a", compute: { precision: "fp16" } });
    expect(() => checkDevice(fp16, { devices: CPU_ONLY, torch_version: "2.13.0+cpu", world_size: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT", message: expect.stringMatching(/^compute\.precision: fp16 needs a CUDA device/) }),
    );
  });
});
