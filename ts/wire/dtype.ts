/** Tensor element types of the wire (proto/protocol.json "dtypes") and their TypeScript views. */
import { DTYPES } from "./generated/constants.js";

export { DTYPES } from "./generated/constants.js";

/** "float32" | "float16" | "bfloat16" | "int64" | "int32" | "uint8" | "bool". */
export type DType = (typeof DTYPES)[number];

/** The typed array that holds a tensor of each dtype. float16 and bfloat16 are raw bits; bool is 0 or 1. */
export interface TypedArrayOf {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type TensorData = TypedArrayOf[DType];

interface TypedArrayConstructorOf<A> {
  readonly BYTES_PER_ELEMENT: number;
  new (length: number): A;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): A;
}

const CONSTRUCTORS: { readonly [D in DType]: TypedArrayConstructorOf<TypedArrayOf[D]> } = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && Object.hasOwn(CONSTRUCTORS, value);
}

/** Bytes per element. */
export function itemsize(dtype: DType): number {
  return CONSTRUCTORS[dtype].BYTES_PER_ELEMENT;
}

export function typedArrayConstructor<D extends DType>(dtype: D): TypedArrayConstructorOf<TypedArrayOf[D]> {
  return CONSTRUCTORS[dtype];
}

/** Whether `data` is the typed array that holds `dtype` (a Buffer counts as a Uint8Array). */
export function holdsDType(dtype: DType, data: unknown): data is TensorData {
  const ctor = CONSTRUCTORS[dtype];
  return data instanceof ctor;
}
