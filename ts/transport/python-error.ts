// Shared by `mcl doctor` and the plugin checks, which both run Python through pythonia.

/** The Python exception line out of pythonia's decorated stack ("ModuleNotFoundError: No module named 'torch'"). */
export function pythonError(err: unknown): string {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  // Strip pythonia's ANSI colours.
  const lines = text.replace(/\u001b\[[0-9;]*m/g, "").split("\n");
  const line = lines.reverse().find((l) => /\b\w+(Error|Exception)\b.*:/.test(l));
  return line?.replace(/^(🌉|\*\*\* JS \*\*\*)\s*/u, "").trim() ?? "the import failed";
}
