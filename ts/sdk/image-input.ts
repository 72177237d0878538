/**
 * Raw images handed to `run.embed(images)`: a uint8 tensor [N, C, H, W] (channels first, pixel
 * values 0–255, as the worker's datasets hand them out), checked here so that a mistake is named
 * before anything is sent. Images of another height or width are resized to the run's size, as
 * a dataset URI's are.
 */

import { isTensor, numel, type Tensor } from "../wire/index.js";
import { RunError } from "../run/errors.js";

/** The images as a uint8 [N, C, H, W] tensor, or an INVALID_INPUT error naming the field. */
export function checkImages(images: unknown, channels: number): Tensor<"uint8"> {
  if (!isTensor(images)) {
    throw invalid(
      "images",
      `expected a dataset URI string or a uint8 tensor [N, C, H, W] (e.g. tensor("uint8", [n, ${channels}, 32, 32], bytes)), got ${describe(images)}`,
    );
  }
  const { dtype, shape, data } = images;
  if (dtype !== "uint8") throw invalid("images.dtype", `expected uint8 (pixel values 0-255), got ${dtype}`);
  if (shape.length !== 4) throw invalid("images.shape", `expected [N, C, H, W] (channels first), got [${shape.join(", ")}]`);
  const [n, c, h, w] = shape as [number, number, number, number];
  if (n < 1) throw invalid("images.shape[0]", "expected at least one image, got 0");
  if (c !== channels) {
    const channelsLast = w === channels ? `; [${shape.join(", ")}] looks channels-last: transpose it to [N, C, H, W]` : "";
    throw invalid("images.shape[1]", `the run's dataset has ${channels} channels, got ${c}${channelsLast}`);
  }
  if (h < 1 || w < 1) throw invalid("images.shape", `expected images of at least 1x1 pixels, got ${h}x${w}`);
  if (data.length !== numel(shape)) {
    throw invalid("images.data", `shape [${shape.join(", ")}] needs ${numel(shape)} bytes, got ${data.length}`);
  }
  return images as Tensor<"uint8">;
}

function invalid(field: string, message: string): RunError {
  return new RunError("INVALID_INPUT", `embed: ${field}: ${message}`);
}

function describe(value: unknown): string {
  if (value === null || typeof value !== "object") return typeof value === "string" ? JSON.stringify(value) : String(value);
  if (ArrayBuffer.isView(value)) return `a bare ${value.constructor.name} (wrap it with tensor("uint8", [N, C, H, W], data))`;
  return "an object that is not a tensor ({ dtype, shape, data })";
}
