import { describe, expect, test } from "vitest";
import { deviceName } from "../../../ts/transport/open.js";
import type { HelloResult } from "../../../ts/wire/index.js";
import { fakeHelloResult } from "../support/fake-hello.js";

function helloWith(devices: HelloResult["devices"]): HelloResult {
  return { ...(fakeHelloResult() as unknown as HelloResult), devices };
}

describe("the worker's device as a run reports it", () => {
  test("is its first GPU when it has one, not the CPU listed first", () => {
    const hello = helloWith([
      { index: 0, type: "cpu", name: "x86_64" },
      { index: 0, type: "cuda", name: "NVIDIA H100 80GB HBM3" },
      { index: 1, type: "cuda", name: "NVIDIA H100 80GB HBM3" },
    ]);
    expect(deviceName(hello)).toBe("cuda:0 (NVIDIA H100 80GB HBM3)");
  });

  test("is the CPU on a machine without one", () => {
    expect(deviceName(helloWith([{ index: 0, type: "cpu", name: "x86_64" }]))).toBe("cpu");
  });
});
