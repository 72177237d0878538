/**
 * The clusterings a run directory holds, read back for inspection (a notebook cell, a report):
 * per clustered stage, every sample's k-means cluster, the cluster sizes, and the composite
 * groups (the intersection of every clustering so far) that the next stage samples from.
 * Only committed clusterings are read, so it is safe while the run goes on.
 */

import type { GroupStats } from "../control/cluster-book.js";
import { RunStore } from "../run/run-store.js";

export interface StageClusters {
  readonly stage: number;
  readonly k: number;
  /** The k-means cluster in [0, k) of each sample (int32 [N]). */
  readonly assignments: Int32Array;
  /** Samples per k-means cluster (length k; an empty cluster counts 0). */
  readonly clusterSizes: Int32Array;
  /** Composite groups after this stage; null until they are planned (just after the clustering). */
  readonly composite: {
    /** The composite group of each sample (int32 [N], dense ids). */
    readonly labels: Int32Array;
    /** Samples per composite group. */
    readonly sizes: Int32Array;
    readonly stats: GroupStats;
  } | null;
}

/** Every committed clustering of the run in `runDir`, in stage order (stages numbered as in summary.json). */
export async function readClusters(runDir: string): Promise<StageClusters[]> {
  const store = await RunStore.open(runDir);
  const stages: StageClusters[] = [];
  for (const record of store.manifest.stages) {
    const assignments = await store.readArray(record.assignments);
    const clusterSizes = new Int32Array(record.k);
    for (const cluster of assignments) clusterSizes[cluster]! += 1;
    const composite =
      record.composite === undefined
        ? null
        : {
            labels: await store.readArray(record.composite.labels),
            sizes: await store.readArray(record.composite.sizes),
            stats: record.composite.stats,
          };
    stages.push({ stage: record.stage, k: record.k, assignments, clusterSizes, composite });
  }
  return stages;
}
