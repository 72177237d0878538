"""The worker's ZeroMQ server: one ROUTER socket, one I/O thread, jobs on a thread pool.

The I/O thread alone touches the ROUTER (ZeroMQ sockets are not thread-safe) and blocks in its
`recv`, as the plainest ZeroMQ server does: polling the ROUTER and a pipe together costs a small
message about a third of its round trip. It receives without copying, decodes and validates each
message, answers heartbeats and cancels at once, runs `inline` jobs itself and hands the others
to the pool. Pool threads encode their replies and queue them in `_outbox`, then wake the I/O
thread with an empty message from a DEALER that the ROUTER also serves (over inproc, with an
unguessable routing id); it sends them in order. Signals and `stop()` write to a pipe (what
signal.set_wakeup_fd needs), which a small thread turns into the same wake-up message.
Every bad message gets an `error` reply and the loop goes on.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import zmq

from .jobs import Body, JobContext, JobSpec, WorkerConfig, WorkerState, lookup, run_job
from .wire import (
    CLIENT_ERROR_CODES,
    ERROR_CODES,
    Header,
    Message,
    PROTOCOL_VERSION,
    ReplayGuard,
    WireError,
    decode_message,
    encode_message,
    try_read_header,
    validate_body,
)

log = logging.getLogger("mcl_worker.server")

DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
# Frames are sent and received one by one with plain int flags: pyzmq's send_multipart and
# recv_multipart spend more (enum arithmetic, Frame objects for small frames) than the whole
# protocol does on a small message. Frames under pyzmq's copy threshold are copied, which is
# cheaper than tracking them; larger ones (tensors) go without a copy.
_SNDMORE = int(zmq.SNDMORE)
_COPY_BELOW = zmq.COPY_THRESHOLD
_WIRE_CODES = frozenset(ERROR_CODES) - frozenset(CLIENT_ERROR_CODES)

Frames = list[Any]  # bytes or 1-d byte memoryviews, as encode_message makes them
JobKey = tuple[bytes, int]  # (peer routing id, request id)


class ConfigError(Exception):
    """The server cannot start as configured; the message says how to fix it."""


@dataclass(frozen=True)
class ServerConfig:
    bind: str = "tcp://127.0.0.1:0"
    key: bytes | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    jobs: int = 2


def is_loopback(endpoint: str) -> bool:
    """True for ipc/inproc endpoints and tcp endpoints on a loopback address."""
    parts = urlsplit(endpoint)
    if parts.scheme in ("ipc", "inproc"):
        return True
    if parts.scheme != "tcp":
        return False
    host = parts.netloc.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name or a host name: reachable from elsewhere
        return False


def zmq_endpoint(endpoint: str) -> str:
    """`tcp://host:0` means an ephemeral port; libzmq spells it `tcp://host:*`."""
    if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
        return endpoint[:-2] + ":*"
    return endpoint


class Server:
    def __init__(self, config: ServerConfig, state: WorkerState | None = None) -> None:
        if not is_loopback(config.bind) and config.key is None:
            raise ConfigError(
                f"refusing to bind {config.bind} without authentication: anyone who can reach it "
                "could run jobs. Pass --auth KEYFILE (the same key file on both ends), or bind "
                "tcp://127.0.0.1:PORT and tunnel to it (ssh -L)."
            )
        if config.max_message_bytes < 1:
            raise ConfigError(f"max_message_bytes must be at least 1, got {config.max_message_bytes}")
        if config.jobs < 1:
            raise ConfigError(f"jobs must be at least 1, got {config.jobs}")
        self.config = config
        # One guard for the whole server: a replay is refused whichever connection it comes on.
        self._replay = ReplayGuard() if config.key is not None else None
        self.state = state if state is not None else WorkerState()
        self._worker_config = WorkerConfig(max_message_bytes=config.max_message_bytes, jobs=config.jobs)
        self._context = zmq.Context()
        self._router = self._context.socket(zmq.ROUTER)
        self._router.linger = 0
        # The ROUTER serves the wake-up DEALER too; its routing id tells a wake-up from a peer.
        self._wake_id = b"mcl-wake-" + os.urandom(16)
        wake_endpoint = f"inproc://mcl-wake-{os.urandom(8).hex()}"
        self._router.bind(wake_endpoint)
        self._waker = self._context.socket(zmq.DEALER)
        self._waker.linger = 0
        self._waker.routing_id = self._wake_id
        self._waker.connect(wake_endpoint)
        self._waker_lock = threading.Lock()  # pool threads and the pipe watcher share the DEALER
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._pipe_watcher = threading.Thread(target=self._watch_pipe, name="mcl-wake", daemon=True)
        self._outbox: collections.deque[tuple[bytes, Frames, JobKey | None]] = collections.deque()
        self._jobs: dict[JobKey, JobContext] = {}
        self._pool = ThreadPoolExecutor(max_workers=config.jobs, thread_name_prefix="mcl-job")
        self._stopping = False
        self._io_thread: int | None = None
        self.endpoint = ""

    def bind(self) -> str:
        """Binds the socket and returns the endpoint actually bound (the real port for :0)."""
        try:
            self._router.bind(zmq_endpoint(self.config.bind))
        except zmq.ZMQError as exc:
            raise ConfigError(f"cannot bind {self.config.bind}: {exc}") from exc
        self.endpoint = self._router.getsockopt_string(zmq.LAST_ENDPOINT)
        return self.endpoint

    @property
    def wakeup_fd(self) -> int:
        """Writing a byte here wakes the I/O thread; for signal.set_wakeup_fd (see __main__)."""
        return self._wake_w

    def stop(self) -> None:
        """Asks serve_forever to return; safe from any thread and from signal handlers."""
        self._stopping = True
        try:
            os.write(self._wake_w, b"\0")
        except OSError:  # the pipe is full (a wake-up is pending) or closed (already stopped)
            pass

    def serve_forever(self) -> None:
        self._io_thread = threading.get_ident()
        self._pipe_watcher.start()
        router = self._router
        wake_id = self._wake_id
        try:
            while not self._stopping:
                peer_frame = router.recv(copy=False)
                frames: list[zmq.Frame] = []
                more = peer_frame.more
                while more:
                    frame = router.recv(copy=False)
                    frames.append(frame)
                    more = frame.more
                peer = peer_frame.bytes
                if peer == wake_id:
                    self._flush_outbox()
                    continue
                try:
                    self._handle(peer, frames)
                except Exception as exc:  # a bug here must not take the worker down, nor leave the sender waiting
                    log.exception("unexpected failure handling a message from peer %s", peer.hex())
                    self._answer_failure(peer, frames, exc)
        finally:
            self._shutdown()

    # -- receiving ---------------------------------------------------------------------------

    def _handle(self, peer: bytes, frames: list[zmq.Frame]) -> None:
        try:
            msg = decode_message(frames, key=self.config.key, max_bytes=self.config.max_message_bytes, replay=self._replay)
        except WireError as exc:
            self._send_error(peer, exc.header.id if exc.header else 0, exc.header.type if exc.header else "", exc)
            return
        header = msg.header
        if header.kind == "heartbeat":
            self._send(peer, Message(Header(v=header.v, id=header.id, kind="heartbeat", type=""), {}), None)
        elif header.kind == "cancel":
            ctx = self._jobs.get((peer, header.id))
            if ctx is not None:
                ctx.cancel()
        elif header.kind == "request":
            self._start_job(peer, header, msg.body)
        else:
            self._send_error(
                peer, header.id, header.type,
                WireError("MALFORMED", f"header.kind: a client sends request, cancel or heartbeat, not {header.kind}"),
            )

    def _answer_failure(self, peer: bytes, frames: list[zmq.Frame], exc: Exception) -> None:
        """Answers a message whose handling raised: JOB_FAILED, to its id when the header can be read
        (else to id 0, as for any message whose header cannot be read)."""
        header = try_read_header(frames[0]) if frames else None
        reply = Message(
            Header(PROTOCOL_VERSION, header.id if header else 0, "error", header.type if header else ""),
            {
                "code": "JOB_FAILED",
                "message": f"the worker failed handling this message: {str(exc) or type(exc).__name__}",
                "details": {"exception": type(exc).__name__},
            },
        )
        try:
            self._send(peer, reply, None)
        except Exception:  # nothing is left to answer with; the log has the cause
            log.exception("could not answer the failed message from peer %s", peer.hex())

    def _start_job(self, peer: bytes, header: Header, body: Body) -> None:
        spec = lookup(header.type)
        if spec is None:
            self._send_error(
                peer, header.id, header.type,
                WireError("UNKNOWN_JOB", f"header.type: the worker has no job {header.type!r}", details={"type": header.type}),
            )
            return
        key = (peer, header.id)
        if key in self._jobs:
            self._send_error(
                peer, header.id, header.type,
                WireError("MALFORMED", f"header.id: request id {header.id} is already in use by a running job"),
            )
            return
        try:
            validate_body("request", header.type, body)
        except WireError as exc:
            self._send_error(peer, header.id, header.type, exc)
            return
        ctx = JobContext(
            header.id, header.type, self.state, self._worker_config,
            lambda progress: self._send(peer, Message(Header(header.v, header.id, "progress", header.type), progress), None),
        )
        if spec.inline:
            # Runs here and now: no cancel can reach it before it returns, so it is not registered.
            self._send_now(peer, self._outcome_frames(header, spec, body, ctx), None)
        else:
            self._jobs[key] = ctx
            self._pool.submit(self._run_pooled, peer, header, spec, body, ctx)

    # -- running -----------------------------------------------------------------------------

    def _run_pooled(self, peer: bytes, header: Header, spec: JobSpec, body: Body, ctx: JobContext) -> None:
        self._post(peer, self._outcome_frames(header, spec, body, ctx), (peer, header.id))

    def _outcome_frames(self, header: Header, spec: JobSpec, body: Body, ctx: JobContext) -> Frames:
        """The job's result, or the error it raised, as frames to send."""
        try:
            ctx.check_cancelled()  # cancelled while it waited for a pool thread
            result = run_job(spec, body, ctx)
            return encode_message(Message(Header(header.v, header.id, "result", header.type), result), key=self.config.key)
        except Exception as exc:  # every failure of a job is answered, never raised into the pool
            return self._error_frames(header.id, header.type, exc)

    def _error_frames(self, job_id: int, job_type: str, exc: BaseException) -> Frames:
        code = getattr(exc, "code", None)
        if isinstance(code, str) and code in _WIRE_CODES:
            message = str(getattr(exc, "message", None) or exc)
            details = getattr(exc, "details", None)
        else:
            code, message, details = "JOB_FAILED", str(exc) or type(exc).__name__, {"exception": type(exc).__name__}
            log.error("job %d (%s) failed", job_id, job_type, exc_info=exc)
        body: Body = {"code": code, "message": message}
        if details:
            body["details"] = dict(details)
        header = Header(v=PROTOCOL_VERSION, id=job_id, kind="error", type=job_type)
        try:
            return encode_message(Message(header, body), key=self.config.key)
        except WireError:  # details the wire cannot carry (a set, an object): keep the rest
            return encode_message(Message(header, {"code": code, "message": message}), key=self.config.key)

    # -- sending -----------------------------------------------------------------------------

    def _send_error(self, peer: bytes, job_id: int, job_type: str, exc: WireError) -> None:
        self._post(peer, self._error_frames(job_id, job_type, exc), None)

    def _send(self, peer: bytes, msg: Message, done: JobKey | None) -> None:
        self._post(peer, encode_message(msg, key=self.config.key), done)

    def _post(self, peer: bytes, frames: Frames, done: JobKey | None) -> None:
        """Sends at once on the I/O thread; from a pool thread, queues and wakes the I/O thread.
        `done` names the job this message ends."""
        if threading.get_ident() == self._io_thread:
            self._send_now(peer, frames, done)
        else:
            self._outbox.append((peer, frames, done))
            self._wake()

    def _send_now(self, peer: bytes, frames: Frames, done: JobKey | None) -> None:
        if done is not None:
            self._jobs.pop(done, None)
        router = self._router
        try:
            router.send(peer, _SNDMORE)
            last = len(frames) - 1
            for i, frame in enumerate(frames):
                router.send(frame, _SNDMORE if i < last else 0, copy=len(frame) < _COPY_BELOW)
        except zmq.ZMQError as exc:  # the peer is gone: nobody is left to answer
            log.warning("dropped a reply to peer %s: %s", peer.hex(), exc)

    def _flush_outbox(self) -> None:
        while self._outbox:
            self._send_now(*self._outbox.popleft())

    def _wake(self) -> None:
        """Wakes the I/O thread from a pool thread (or the pipe watcher)."""
        with self._waker_lock:
            if self._waker.closed:  # shutting down: nobody is left to send the reply
                return
            self._waker.send(b"")

    def _watch_pipe(self) -> None:
        """Turns bytes on the pipe (from stop() or a signal) into wake-ups, until shutdown."""
        while os.read(self._wake_r, 4096) and not self._waker.closed:
            self._wake()

    def _shutdown(self) -> None:
        for ctx in self._jobs.values():
            ctx.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.state.loaders.close()
        with self._waker_lock:
            self._waker.close(linger=0)
        if self._pipe_watcher.is_alive():
            os.write(self._wake_w, b"\0")  # lets the watcher see the closed DEALER and return
            self._pipe_watcher.join()
        self._router.close(linger=0)
        self._context.term()
        os.close(self._wake_r)
        os.close(self._wake_w)
