// docs/configuration.md is generated from the run config's zod schema; a schema change that is not
// regenerated into it fails here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderConfigReference } from "../../../ts/config/config-reference.js";
import { mclConfigSchema } from "../../../ts/config/mcl-config.js";

const committed = join(import.meta.dirname, "..", "..", "..", "docs", "configuration.md");

describe("docs/configuration.md", () => {
  it("is what the generator writes from the schema today", () => {
    const now = renderConfigReference();
    const message = "docs/configuration.md is out of date with ts/config: regenerate it with `npm run docs:config` and commit it";
    expect(readFileSync(committed, "utf8") === now, message).toBe(true);
  });

  it("has a row with the description of every field, nested ones included", () => {
    const reference = renderConfigReference();
    expect(reference).toContain("| `stages` | `integer in [1, 64]` | `3` | Number of MCL stages S (1 = ordinary contrastive learning) |");
    expect(reference).toContain("| `optimizer.warmupSteps` | `integer ≥ 0` | `0` |");
    expect(reference).toContain("| `clip.tokenizer.vocab` | `non-empty string` | required | (kind \"bpe\") Path of OpenAI's");
    expect(reference).toContain("| `name` | `string` | required |");
    for (const key of Object.keys(mclConfigSchema.shape)) expect(reference).toContain(`| \`${key}\` |`);
  });

  it("keeps table cells intact: no HTML tags from <placeholders>, no stray column breaks", () => {
    const rows = renderConfigReference()
      .split("\n")
      .filter((line) => line.startsWith("| `"));
    expect(rows.length).toBeGreaterThan(50);
    for (const line of rows) {
      expect(line.replaceAll("\\|", "").split("|").length, line).toBe(6);
      expect(line.replace(/`[^`]*`/g, ""), line).not.toMatch(/<[a-zA-Z]/);
    }
  });
});
