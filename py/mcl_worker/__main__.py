"""`python -m mcl_worker` / `mcl-worker`: serve jobs over ZeroMQ until stopped.

Once bound it announces itself with one JSON line on stdout (and in --ready-file, if given):
    {"event": "listening", "endpoint": "tcp://127.0.0.1:43211", "pid": 1234}
SIGINT and SIGTERM stop it cleanly. With --exit-with-parent (what launchWorker passes) it also
stops when its stdin reaches end of file, and on Linux the kernel kills it if its parent dies,
so a killed control plane leaves no orphan worker behind.
Under torchrun (`torchrun --nproc-per-node N -m mcl_worker ...`) rank 0 serves and announces;
the other ranks follow it (mcl_worker.jobs.collective).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from types import FrameType

from . import __version__, distributed
from .jobs import WorkerState, collective
from .server import DEFAULT_MAX_MESSAGE_BYTES, ConfigError, Server, ServerConfig
from .wire import WireError, load_key_file


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mcl-worker", description="PyTorch worker of the MCL bridge.")
    parser.add_argument(
        "--bind", default="tcp://127.0.0.1:0",
        help="ZeroMQ endpoint to bind (default %(default)s: loopback, an ephemeral port); "
        "a non-loopback address requires --auth",
    )
    parser.add_argument("--auth", metavar="KEYFILE", help="HMAC key file: every message must be signed with it")
    parser.add_argument(
        "--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
        help="refuse messages larger than this (default %(default)s)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="jobs run at once (default %(default)s)")
    parser.add_argument("--ready-file", metavar="PATH", help="also write the listening line to this file")
    parser.add_argument(
        "--exit-with-parent", action="store_true",
        help="exit when stdin closes or the parent process dies (used by launchWorker)",
    )
    parser.add_argument("--version", action="version", version=f"mcl-worker {__version__}")
    return parser.parse_args(argv)


def announce(line: str, ready_file: str | None) -> None:
    if ready_file:
        tmp = f"{ready_file}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(line + "\n")
        os.replace(tmp, ready_file)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def exit_with_parent(server: Server) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch_stdin() -> None:
        # read() returns b"" only at end of file: the parent closed the pipe or died.
        while sys.stdin.buffer.read1(4096):
            pass
        server.stop()

    threading.Thread(target=watch_stdin, name="mcl-parent-watch", daemon=True).start()


def read_key(path: str) -> bytes:
    """The --auth key, or a ConfigError naming the file and the fix."""
    try:
        return load_key_file(path)
    except OSError as exc:
        raise ConfigError(
            f"--auth: cannot read the key file {path}: {exc.strerror or exc}; give the path of a readable file holding the shared key"
        ) from exc
    except WireError as exc:  # an empty key file
        raise ConfigError(f"--auth: {exc.message}") from exc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[mcl-worker %(process)d] %(levelname)s %(message)s")
    # Under torchrun only rank 0 serves; the other ranks run the jobs it broadcasts.
    if distributed.launched() and distributed.init() > 0:
        state = WorkerState()
        try:
            return collective.follow(state)
        finally:
            state.loaders.close()
    try:
        key = read_key(args.auth) if args.auth else None
        server = Server(ServerConfig(bind=args.bind, key=key, max_message_bytes=args.max_message_bytes, jobs=args.jobs))
        endpoint = server.bind()
    except (ConfigError, OSError) as exc:
        print(f"mcl-worker: {exc}", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: FrameType | None) -> None:
        collective.stop_after_collective(server.stop)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # A signal may land on any thread (zmq's, torch's); Python runs the handler only once the main
    # thread leaves its poll. The wakeup fd makes that poll return whichever thread got the signal.
    signal.set_wakeup_fd(server.wakeup_fd, warn_on_full_buffer=False)
    if args.exit_with_parent:
        exit_with_parent(server)
    announce(json.dumps({"event": "listening", "endpoint": endpoint, "pid": os.getpid()}), args.ready_file)
    server.serve_forever()
    collective.shutdown()
    # Jobs still running were told to cancel; a job stuck in native code must not keep the
    # process alive, so leave without joining the pool threads.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
