/**
 * "Did you mean": the nearest of the names a place accepts to a name it was given, for config keys
 * and values (config-error.ts) and for the CLI's commands and options.
 */

/**
 * The candidate closest to `word` by edit distance (case aside), when it is close enough to be a
 * typo of it (1 edit, or 1 in 4 characters of a long name) and no other candidate is as close.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  let tied = false;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d === bestDistance) tied = true;
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
      tied = false;
    }
  }
  return best !== undefined && !tied && bestDistance <= Math.max(1, Math.floor(best.length / 4)) ? best : undefined;
}

/** `; did you mean "x"?`, or "" when no candidate is close. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const best = closest(word, candidates);
  return best === undefined ? "" : `; did you mean ${JSON.stringify(best)}?`;
}

/** Levenshtein distance with transpositions counted as one edit. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}
