// run.embed(images): what is refused before anything is sent, each error naming the field.
import { describe, expect, it } from "vitest";
import { RunError, tensor } from "../../../ts/index.js";
import { checkImages } from "../../../ts/sdk/image-input.js";

function refusal(images: unknown): RunError {
  try {
    checkImages(images, 3);
  } catch (error) {
    expect(error).toBeInstanceOf(RunError);
    expect((error as RunError).code).toBe("INVALID_INPUT");
    return error as RunError;
  }
  throw new Error("checkImages accepted the images");
}

describe("checkImages", () => {
  it("accepts uint8 [N, C, H, W] images with the run's channels, of any size", () => {
    const images = tensor("uint8", [2, 3, 5, 7], new Uint8Array(2 * 3 * 5 * 7));
    expect(checkImages(images, 3)).toBe(images);
  });

  it("names the field and the fix of each mistake", () => {
    expect(refusal(new Uint8Array(12)).message).toMatch(/^embed: images: .*bare Uint8Array.*tensor\("uint8"/);
    expect(refusal({ shape: [1] }).message).toMatch(/^embed: images: .*not a tensor/);
    expect(refusal(tensor("float32", [1, 3, 2, 2], new Float32Array(12))).message).toBe(
      "embed: images.dtype: expected uint8 (pixel values 0-255), got float32",
    );
    expect(refusal(tensor("uint8", [3, 2, 2], new Uint8Array(12))).message).toMatch(/^embed: images\.shape: expected \[N, C, H, W\]/);
    expect(refusal(tensor("uint8", [0, 3, 2, 2], new Uint8Array(0))).message).toMatch(/^embed: images\.shape\[0\]: expected at least one image/);
    expect(refusal(tensor("uint8", [1, 1, 2, 2], new Uint8Array(4))).message).toBe(
      "embed: images.shape[1]: the run's dataset has 3 channels, got 1",
    );
    expect(refusal(tensor("uint8", [1, 2, 2, 3], new Uint8Array(12))).message).toMatch(/looks channels-last: transpose it to \[N, C, H, W\]/);
    expect(refusal(tensor("uint8", [1, 3, 0, 2], new Uint8Array(0))).message).toMatch(/^embed: images\.shape: .*got 0x2/);
    const short = { dtype: "uint8", shape: [1, 3, 2, 2], data: new Uint8Array(5) };
    expect(refusal(short).message).toBe("embed: images.data: shape [1, 3, 2, 2] needs 12 bytes, got 5");
  });
});
