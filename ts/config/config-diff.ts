/**
 * Which fields differ between two configs, as paths (`clusters`, `epochsPerStage[2]`,
 * `sampling.smallGroups`). Used to refuse resuming a run with a changed config.
 */

import { formatPath } from "../errors.js";

/** Fields that may change between sessions without changing what the run computes. */
export const RESUMABLE_FIELDS: readonly string[] = ["runDir", "data"];

/** Paths of every difference between `before` and `after` (top-level `ignore`d keys skipped). */
export function diffConfigs(before: unknown, after: unknown, ignore: readonly string[] = RESUMABLE_FIELDS): string[] {
  const changes: string[] = [];
  walk(before, after, [], changes, ignore);
  return changes;
}

function walk(a: unknown, b: unknown, path: PropertyKey[], changes: string[], ignore: readonly string[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) changes.push(formatPath(path));
    else a.forEach((item, i) => walk(item, b[i], [...path, i], changes, ignore));
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const key of keys) {
      if (path.length === 0 && ignore.includes(key)) continue;
      walk(a[key], b[key], [...path, key], changes, ignore);
    }
    return;
  }
  if (!Object.is(a, b)) changes.push(formatPath(path));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
