import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/ts/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Worker-backed tests spawn Python processes: keep them from starving each other on 2 cores.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
