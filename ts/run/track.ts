/** A stage (1-based) or the equal-compute single-stage baseline. */
export type Track = number | "baseline";

/** The track's name in file names and messages: "stage-2", "baseline". */
export function trackName(track: Track): string {
  return track === "baseline" ? "baseline" : `stage-${track}`;
}
