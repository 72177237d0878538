"""A worker server on a background thread of the test process, for tests that talk to it over ZeroMQ."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mcl_worker.server import Server, ServerConfig


@contextmanager
def serving(config: ServerConfig) -> Iterator[tuple[Server, threading.Thread]]:
    """Binds and serves `config` until the block ends, then stops the server and joins its thread."""
    server = Server(config)
    server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, thread
    finally:
        server.stop()  # idempotent: a test may have stopped it already
        thread.join(5)
