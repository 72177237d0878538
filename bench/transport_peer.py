"""Raw pyzmq ROUTER peer for bench/transport.ts: the baseline the worker's transport is measured
against. No protocol at all: frame 0 says what to do, the payload goes as one frame, received and
sent without copying exactly as the worker does.

    [b"ping"]            -> [b""]
    [b"echo", payload]   -> [payload]
    [b"down", u64 size]  -> [size bytes]

Prints {"endpoint": ...} on stdout once bound; exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import threading

import numpy as np
import zmq


def main() -> None:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    router.bind("tcp://127.0.0.1:*")
    print(json.dumps({"endpoint": router.getsockopt_string(zmq.LAST_ENDPOINT)}), flush=True)
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()
    payloads: dict[int, memoryview] = {}
    while True:
        peer, op, *rest = router.recv_multipart(copy=False)
        if op.bytes == b"ping":
            router.send_multipart([peer, b""], copy=False)
        elif op.bytes == b"echo":
            router.send_multipart([peer, rest[0]], copy=False)
        elif op.bytes == b"down":
            size = int.from_bytes(rest[0].bytes, "little")
            if size not in payloads:
                payloads[size] = memoryview(np.arange(size, dtype=np.uint8))
            router.send_multipart([peer, payloads[size]], copy=False)


if __name__ == "__main__":
    main()
