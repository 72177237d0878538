"""Raw pyzmq ROUTER peer for bench/transport.ts: the baseline the worker's transport is measured
against. No protocol at all: frame 0 says what to do, a payload goes as one frame, received and
sent without copying exactly as the worker does.

    [b"ping"]            -> [b""]             empty round trip
    [b"up", payload]     -> [b""]             TS -> Python: payload received, a tiny ack back
    [b"down", u64 size]  -> [size bytes]      Python -> TS: a buffer the peer already holds
    [b"echo", payload]   -> [payload]         both ways

Prints {"endpoint": ...} on stdout once bound; exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

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
        peer, op, *rest = receive(router)
        command = op.bytes
        if command == b"ping" or command == b"up":
            send(router, [peer, b""])
        elif command == b"down":
            size = int.from_bytes(rest[0].bytes, "little")
            if size not in payloads:
                payloads.clear()  # one size at a time: 256 MiB buffers should not pile up
                payloads[size] = memoryview(np.arange(size, dtype=np.uint8))
            send(router, [peer, payloads[size]])
        elif command == b"echo":
            send(router, [peer, rest[0]])
        # Drop the received frame once answered, as the worker's handle.free does between trips,
        # not when the next request arrives: inside the next timed trip.
        del rest


# The same frame-by-frame receive and send as the worker's server (see there why), so that the
# baseline is the fastest plain pyzmq loop, not one slowed by send_multipart / recv_multipart.
_SNDMORE = int(zmq.SNDMORE)


def receive(router: zmq.Socket) -> list[zmq.Frame]:
    frames = [router.recv(copy=False)]
    while frames[-1].more:
        frames.append(router.recv(copy=False))
    return frames


def send(router: zmq.Socket, frames: list[Any]) -> None:
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        router.send(frame, _SNDMORE if i < last else 0, copy=len(frame) < zmq.COPY_THRESHOLD)


if __name__ == "__main__":
    main()
