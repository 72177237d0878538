// The fault matrix (`npm run faults`): one file per group, each case named "group: case" with its
// own deadline, so that a hang shows as a timed-out case. Kept out of `npm test`'s vitest run.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/faults/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Every group spawns Python workers: two files at a time on 2 cores.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ["verbose"],
  },
});
