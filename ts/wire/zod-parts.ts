/** The zod pieces that generated/schemas.ts builds protocol.json's schemas from. */
import { z } from "zod";
import { type Tensor, isTensor } from "./tensor.js";

/** z.int() with the message both sides give when the value is not a number at all. */
export const integer = () => z.int({ error: "expected an integer" });

/** A tensor descriptor ("#/$defs/tensor"): bodies are checked after decoding, so a Tensor. */
export const tensorSchema = z.custom<Tensor>((value) => isTensor(value), { message: "expected a tensor" });

/** Every body that must be `{}`: one instance, so that validation can skip zod for it. */
export const emptyBodySchema = z.strictObject({});
