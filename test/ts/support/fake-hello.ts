import { type Body, PROTOCOL_VERSION } from "../../../ts/wire/index.js";

/** The result of `hello` as a fake worker written in a test answers it, speaking `protocol`. */
export function fakeHelloResult(protocol: number = PROTOCOL_VERSION): Body {
  return {
    protocol,
    worker_version: "0.0.0-fake",
    torch_version: "0.0.0",
    python_version: "3",
    zmq_version: "4",
    devices: [{ index: 0, type: "cpu", name: "cpu" }],
    world_size: 1,
    max_message_bytes: 1 << 20,
  };
}
