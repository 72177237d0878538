import { describe, expect, test } from "vitest";
import { diffConfigs } from "../../../ts/config/config-diff.js";
import { parseConfig } from "../../../ts/config/load-config.js";
import { loaderOptionsOf } from "../../../ts/sdk/job-requests.js";
import { issuesOf } from "../support/config-issues.js";

describe("data (image loading)", () => {
  test("defaults leave the number of loader processes to the worker", () => {
    const config = parseConfig({ name: "demo" });
    expect(config.data).toEqual({ workers: "auto", prefetch: 2 });
    expect(loaderOptionsOf(config)).toEqual({ prefetch: 2 });
  });

  test("a number of workers and a prefetch reach the jobs as the wire's data", () => {
    const config = parseConfig({ name: "demo", data: { workers: 0, prefetch: 4 } });
    expect(loaderOptionsOf(config)).toEqual({ workers: 0, prefetch: 4 });
    expect(loaderOptionsOf(parseConfig({ name: "demo", data: { workers: 3 } }))).toEqual({ workers: 3, prefetch: 2 });
  });

  test.each([
    [{ workers: -1 }, "data.workers: expected an integer >= 0, got -1"],
    [{ workers: 1.5 }, 'data.workers: expected "auto" or an integer in [0, 64], got 1.5'],
    [{ workers: "all" }, 'data.workers: expected "auto" or an integer in [0, 64], got "all"'],
    [{ workers: 65 }, "data.workers: expected an integer <= 64, got 65"],
  ])("a bad workers value %j is refused naming data.workers", (data, issue) => {
    expect(issuesOf({ name: "demo", data })).toEqual([issue]);
  });

  test("a bad prefetch or an unknown key is refused naming it", () => {
    expect(issuesOf({ name: "demo", data: { prefetch: 0 } })).toEqual([expect.stringMatching(/^data\.prefetch: /)]);
    expect(issuesOf({ name: "demo", data: { worker: 2 } })).toEqual([expect.stringMatching(/^data(\.worker)?: .*worker/)]);
  });

  test("a resumed run may change how it loads images, not what it computes", () => {
    const before = parseConfig({ name: "demo" });
    expect(diffConfigs(before, parseConfig({ name: "demo", data: { workers: 4, prefetch: 8 } }))).toEqual([]);
    expect(diffConfigs(before, parseConfig({ name: "demo", seed: 1 }))).toEqual(["seed"]);
  });
});
