/**
 * Where and how the worker computes: the device, the precision of the training steps, and the
 * encoder's torch.compile, gradient checkpointing and channels-last memory format. None of them
 * changes what is learnt beyond float rounding but `precision`; the defaults are the worker's
 * behaviour without them (auto device; bf16 autocast on a CUDA device of compute capability 8.0 or
 * more, fp32 elsewhere).
 */

import { z } from "zod";
import { PRECISIONS } from "../wire/index.js";
import { isClipEncoder } from "./clip-config.js";

export { PRECISIONS };

/** auto, cpu, cuda (the worker's current CUDA device) or cuda:N. */
const DEVICE_PATTERN = /^(auto|cpu|cuda(:\d+)?)$/;
/** The built-in encoders that are convolutional (channelsLast) and transformers (gradCheckpointing). */
const CONVOLUTIONAL = ["small-cnn", "resnet18", "resnet50"] as const;
const TRANSFORMERS = ["vit-tiny", "vit-small", "vit-base"] as const;

export const computeSchema = z.strictObject({
  device: z
    .string()
    .regex(DEVICE_PATTERN, { error: "expected auto, cpu, cuda or cuda:N (e.g. cuda:1)" })
    .default("auto")
    .describe(
      "Device of the encoder: auto (the first CUDA device when the worker has one, else the CPU), cpu, cuda or cuda:N; a device the worker lacks is refused before the run starts",
    ),
  precision: z
    .enum(PRECISIONS)
    .default("auto")
    .describe(
      "Autocast of the training steps' forward pass: auto (bf16 on a CUDA device of compute capability 8.0 or more, else fp32), fp32, bf16 (CUDA or CPU) or fp16 (CUDA only, with a GradScaler); the loss is computed in fp32",
    ),
  compile: z
    .boolean()
    .default(false)
    .describe("torch.compile the encoder (both towers of a CLIP model); the first steps of every stage pay for the compilation"),
  gradCheckpointing: z
    .boolean()
    .default(false)
    .describe(
      "Recompute the transformer blocks' activations in backward instead of keeping them (less memory, about a third more compute): vit-* encoders and CLIP towers (not the clip-rn50 image tower)",
    ),
  channelsLast: z
    .boolean()
    .default(false)
    .describe("Weights and input of a convolutional encoder (small-cnn, resnet18, resnet50) in channels-last memory format"),
});
type ComputeConfig = z.output<typeof computeSchema>;

/** The compute options the encoder cannot take, as [path, message] (paths from the config's root). */
export function computeProblems(encoder: string, compute: ComputeConfig): [(string | number)[], string][] {
  const problems: [(string | number)[], string][] = [];
  const clip = isClipEncoder(encoder);
  if (compute.gradCheckpointing && !clip && !(TRANSFORMERS as readonly string[]).includes(encoder)) {
    problems.push([
      ["compute", "gradCheckpointing"],
      `${JSON.stringify(encoder)} has no transformer blocks to checkpoint; only ${TRANSFORMERS.join(", ")} and the CLIP encoders take it`,
    ]);
  }
  if (compute.channelsLast && !(CONVOLUTIONAL as readonly string[]).includes(encoder)) {
    const name = JSON.stringify(encoder);
    const why = clip ? `${name} is a CLIP encoder, and the CLIP encoders do not take channelsLast` : `${name} is not a convolutional encoder`;
    problems.push([["compute", "channelsLast"], `${why}; only ${CONVOLUTIONAL.join(", ")} take it`]);
  }
  return problems;
}

/** What a worker's hello says of where it computes (as proto/PROTOCOL.md's hello). */
export interface WorkerCompute {
  readonly devices: readonly { readonly index: number; readonly type: string }[];
  readonly torch_version: string;
  readonly world_size: number;
}

/**
 * Why the worker cannot run `device` (null when it can): a CUDA device it does not list, or one
 * GPU (cuda:N) for several data-parallel ranks; the worker's own words.
 */
export function deviceProblem(device: string, worker: WorkerCompute): string | null {
  if (device === "auto" || device === "cpu") return null;
  const cuda = worker.devices.filter((d) => d.type === "cuda");
  if (cuda.length === 0) return `${device} was asked for, but this worker has no CUDA device (torch ${worker.torch_version}); use auto or cpu`;
  const index = device.startsWith("cuda:") ? Number(device.slice("cuda:".length)) : null;
  if (index !== null && !cuda.some((d) => d.index === index)) {
    return `${device} was asked for, but this worker has ${cuda.length} CUDA device(s): ${cuda.map((d) => `cuda:${d.index}`).join(", ")}`;
  }
  if (index !== null && worker.world_size > 1) {
    return `${device} names one GPU, but this worker runs ${worker.world_size} data-parallel ranks, each on its own (LOCAL_RANK); use auto or cuda`;
  }
  return null;
}

/** Why the worker cannot run `precision` on `device` (null when it can): fp16 on the CPU; the worker's own words. */
export function precisionProblem(precision: string, device: string, worker: WorkerCompute): string | null {
  const onCpu = device === "cpu" || (device === "auto" && !worker.devices.some((d) => d.type === "cuda"));
  if (precision === "fp16" && onCpu) return "fp16 needs a CUDA device and this step runs on cpu; use bf16 (autocast on the CPU) or fp32";
  return null;
}
