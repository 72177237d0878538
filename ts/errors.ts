/**
 * The root of every error the package throws. Each carries a stable `code` that callers switch on
 * (each subclass narrows it to its own union) and `details`, the values its message names, for a
 * program to read; the message says what was wrong and how to fix it. Below every layer, so that
 * each can extend it.
 */

/** The values an error's message names (a path, a limit, the value given), by name. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface MclErrorOptions<Details extends ErrorDetails> {
  readonly details?: Details;
  readonly cause?: unknown;
}

export class MclError<Code extends string = string, Details extends ErrorDetails = ErrorDetails> extends Error {
  readonly code: Code;
  readonly details: Details;

  constructor(code: Code, message: string, options: MclErrorOptions<Details> = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? ({} as Details);
    this.name = new.target.name;
  }
}

/**
 * The code of any thrown value: an MclError's own, a Node system error's (`ENOENT`, `EACCES`), or
 * "UNKNOWN" for anything else, so that a report never loses what Node said.
 */
export function errorCodeOf(error: unknown): string {
  if (error instanceof MclError) return error.code;
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return typeof code === "string" && code !== "" ? code : "UNKNOWN";
}

/** `["devices", 0, "name"]` → `devices[0].name`; "" for the value itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else text += text === "" ? String(part) : `.${String(part)}`;
  }
  return text;
}
