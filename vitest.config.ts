import { defineConfig } from "vitest/config";

// Two tiers, by file name. `*.unit.test.ts` needs no Python worker, no built dist/, no browser and
// no network: `npm run test:unit` runs those alone. Any other `*.test.ts` is an integration test,
// so a new test without the suffix runs with the whole suite and never slows the unit tier.
const UNIT = "test/ts/**/*.unit.test.ts";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Worker-backed tests spawn Python processes: keep them from starving each other on 2 cores.
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      { extends: true, test: { name: "unit", include: [UNIT] } },
      { extends: true, test: { name: "integration", include: ["test/ts/**/*.test.ts"], exclude: [UNIT] } },
    ],
  },
});
