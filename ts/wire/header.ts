import { describe } from "./describe.js";
import { WireError } from "./errors.js";
import { MAX_REQUEST_ID, MESSAGE_KINDS, SUPPORTED_VERSIONS } from "./generated/constants.js";

export { MAX_REQUEST_ID, MESSAGE_KINDS, PROTOCOL_VERSION, SUPPORTED_VERSIONS } from "./generated/constants.js";

/** "request" | "cancel" | "progress" | "result" | "error" | "heartbeat". */
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** The first item of every message's head. `type` is "" on heartbeat and cancel. */
export interface Header {
  readonly v: number;
  readonly id: number;
  readonly kind: MessageKind;
  readonly type: string;
}

const HEADER_KEYS = ["v", "id", "kind", "type"] as const;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A bigint within the safe-integer range as a number (a sender may use a wider msgpack form than needed). */
export function safeNumber(value: bigint): number | bigint;
export function safeNumber(value: unknown): unknown;
export function safeNumber(value: unknown): unknown {
  return typeof value === "bigint" && value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

export function isMessageKind(value: unknown): value is MessageKind {
  return typeof value === "string" && (MESSAGE_KINDS as readonly string[]).includes(value);
}

/**
 * What to do about a peer speaking version `v`: upgrade whichever end is older, since the SDK and
 * the worker of one release speak one protocol version and each refuses any other.
 */
function versionFix(v: number): string {
  const older = v < Math.min(...SUPPORTED_VERSIONS) ? "the other end" : "this side";
  return `upgrade ${older}, which is older (the SDK and the worker must speak the same protocol version)`;
}

/**
 * Whether these four fields make a header checkHeader accepts as it is: the common case, checked
 * without allocating. Anything else goes through checkHeader, which says what is wrong.
 */
export function isWellFormedHeader(v: unknown, id: unknown, kind: unknown, type: unknown): boolean {
  return (
    typeof v === "number" &&
    SUPPORTED_VERSIONS.includes(v) &&
    typeof id === "number" &&
    Number.isInteger(id) &&
    id >= 0 &&
    id <= MAX_REQUEST_ID &&
    isMessageKind(kind) &&
    typeof type === "string" &&
    (type === "" || (kind !== "heartbeat" && kind !== "cancel"))
  );
}

/**
 * Checks a decoded header map field by field. The header layout never changes between versions,
 * so fields are checked before the version: an UNSUPPORTED_VERSION error still carries the header.
 */
export function checkHeader(fields: ReadonlyMap<unknown, unknown>): Header {
  if (fields.size === 4) {
    const v = fields.get("v");
    const id = fields.get("id");
    const kind = fields.get("kind");
    const type = fields.get("type");
    if (isWellFormedHeader(v, id, kind, type)) return { v, id, kind, type } as Header;
  }
  for (const key of fields.keys()) {
    if (!(HEADER_KEYS as readonly unknown[]).includes(key)) {
      throw new WireError("MALFORMED", `header: unexpected field ${JSON.stringify(String(key))}; a header holds v, id, kind, type`);
    }
  }
  const v = safeNumber(fields.get("v"));
  const id = safeNumber(fields.get("id"));
  const kind = fields.get("kind");
  const type = fields.get("type");
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new WireError("MALFORMED", `header.v: expected a protocol version (an integer >= 1), got ${describe(v)}`);
  }
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_REQUEST_ID) {
    throw new WireError("MALFORMED", `header.id: expected an integer in [0, ${MAX_REQUEST_ID}], got ${describe(id)}`);
  }
  if (!isMessageKind(kind)) {
    throw new WireError("MALFORMED", `header.kind: expected one of ${MESSAGE_KINDS.join(", ")}, got ${describe(kind)}`);
  }
  if (typeof type !== "string") {
    throw new WireError("MALFORMED", `header.type: expected a string, got ${describe(type)}`);
  }
  const header: Header = { v, id, kind, type };
  if (!SUPPORTED_VERSIONS.includes(v)) {
    throw new WireError(
      "UNSUPPORTED_VERSION",
      `protocol version ${v} is not supported; this side speaks ${SUPPORTED_VERSIONS.join(", ")}: ${versionFix(v)}`,
      { header, details: { version: v, supported: [...SUPPORTED_VERSIONS] } },
    );
  }
  if ((kind === "heartbeat" || kind === "cancel") && type !== "") {
    throw new WireError("MALFORMED", `header.type: a ${kind} has type "", got ${JSON.stringify(type)}`, { header });
  }
  return header;
}
