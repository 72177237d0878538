import { DTYPES, type DType, type TypedArrayOf, holdsDType, isDType } from "./dtype.js";
import { WireError } from "./errors.js";

/** A C-contiguous tensor: `data` holds product(shape) elements of `dtype`, little-endian. */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayOf[D];
}

/** Number of elements of a shape; a 0-d tensor (shape []) has one. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether a shape is a list of non-negative safe integers. */
export function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0);
}

/** Makes a tensor, checking that `data` is the right typed array and holds product(shape) elements. */
export function tensor<D extends DType>(dtype: D, shape: readonly number[], data: TypedArrayOf[D]): Tensor<D> {
  if (!isDType(dtype)) {
    throw new WireError("TENSOR_MISMATCH", `tensor dtype: expected one of ${DTYPES.join(", ")}, got ${String(dtype)}`);
  }
  if (!isShape(shape)) {
    throw new WireError("TENSOR_MISMATCH", `tensor shape: expected a list of integers >= 0, got ${JSON.stringify(shape)}`);
  }
  if (!holdsDType(dtype, data)) {
    throw new WireError("TENSOR_MISMATCH", `tensor data: a ${dtype} tensor is held by a ${viewName(dtype)}`);
  }
  const n = numel(shape);
  if (data.length !== n) {
    throw new WireError(
      "TENSOR_MISMATCH",
      `tensor data: shape [${shape.join(", ")}] needs ${n} elements, the ${dtype} data has ${data.length}`,
      { details: { shape: [...shape], elements: data.length } },
    );
  }
  return Object.freeze({ dtype, shape: Object.freeze([...shape]), data });
}

/** Whether `value` is a tensor: a known dtype, a shape and data of the matching typed array. */
export function isTensor(value: unknown): value is Tensor {
  if (typeof value !== "object" || value === null) return false;
  const { dtype, shape, data } = value as { dtype?: unknown; shape?: unknown; data?: unknown };
  return isDType(dtype) && isShape(shape) && holdsDType(dtype, data);
}

function viewName(dtype: DType): string {
  switch (dtype) {
    case "float32":
      return "Float32Array";
    case "float16":
    case "bfloat16":
      return "Uint16Array (raw bits)";
    case "int64":
      return "BigInt64Array";
    case "int32":
      return "Int32Array";
    case "uint8":
    case "bool":
      return "Uint8Array";
  }
}
