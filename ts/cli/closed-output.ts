/**
 * The CLI's standard output losing its reader (`mcl run … | head`): writes to the closed pipe
 * fail with EPIPE, which Node raises as an 'error' event on process.stdout, and unhandled, as a
 * crash with a stack trace. Watched here instead: listeners hear of it once, and what is written
 * afterwards is dropped. An error on stderr is dropped too: nothing is left to report it on.
 */

type Listener = (error: NodeJS.ErrnoException) => void;

const listeners = new Set<Listener>();
let closedBy: NodeJS.ErrnoException | undefined;
let guarded = false;

/** Installs the watch on process.stdout and process.stderr; idempotent. */
export function guardOutput(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (closedBy !== undefined) return;
    closedBy = error;
    for (const listener of listeners) listener(error);
  });
  process.stderr.on("error", () => undefined);
}

/** Whether standard output can no longer be written. */
export function outputClosed(): boolean {
  return closedBy !== undefined;
}

/** Calls `listener` when standard output is closed (at once if it already is); returns the unsubscribe. */
export function onOutputClosed(listener: Listener): () => void {
  guardOutput();
  if (closedBy !== undefined) listener(closedBy);
  else listeners.add(listener);
  return () => listeners.delete(listener);
}

/** process.stdout as a ProgressOutput that writes nothing once it is closed. */
export const stdoutWhileOpen = {
  write: (text: string): boolean => !outputClosed() && process.stdout.write(text),
  get isTTY(): boolean {
    return process.stdout.isTTY === true;
  },
  get columns(): number | undefined {
    return process.stdout.columns;
  },
};
