import { isTensor } from "./tensor.js";

/** A short rendering of a value for error messages; Python's wire/describe.py renders the same. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return "an array";
  if (isTensor(value)) return "a tensor";
  if (typeof value === "object") return "a map";
  return typeof value;
}
