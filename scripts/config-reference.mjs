#!/usr/bin/env node
// Writes docs/configuration.md from the run config's zod schema (ts/config/config-reference.ts,
// compiled by `npm run build`; `npm run docs:config` does both).
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderConfigReference } from "../dist/ts/config/config-reference.js";

const target = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "configuration.md");
writeFileSync(target, renderConfigReference());
console.log(`wrote ${target}`);
