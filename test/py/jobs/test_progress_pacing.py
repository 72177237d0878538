"""Progress pacing: a job that reports every tiny step cannot flood the client, and its last
progress still arrives before its reply; `sleep` with a huge number of steps stays cheap."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from .conftest import Peer
from mcl_worker.jobs import registry
from mcl_worker.jobs.registry import (
    CLIENT_RATED_JOBS,
    PROGRESS_BURST,
    PROGRESS_INTERVAL_S,
    JobContext,
    WorkerConfig,
    WorkerState,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def context(sent: list[Any], job_type: str = "test") -> JobContext:
    return JobContext(1, job_type, WorkerState(), WorkerConfig(max_message_bytes=1 << 20, jobs=1), sent.append)


def test_after_the_burst_one_progress_per_interval_and_the_last_held_back_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(registry, "time", SimpleNamespace(monotonic=clock.monotonic))
    sent: list[Any] = []
    ctx = context(sent)
    for step in range(1, 1001):
        ctx.progress({"step": step})
    assert sent == [{"step": s} for s in range(1, PROGRESS_BURST + 1)]

    clock.now += 1.5 * PROGRESS_INTERVAL_S
    ctx.progress({"step": 1001})  # more than an interval after the last one sent: goes out
    ctx.progress({"step": 1002})  # held back, then replaced
    ctx.progress({"step": 1003})
    assert sent[-1] == {"step": 1001} and len(sent) == PROGRESS_BURST + 1

    ctx.send_held_progress()
    ctx.send_held_progress()  # nothing is held any more
    assert sent[-1] == {"step": 1003} and len(sent) == PROGRESS_BURST + 2


@pytest.mark.parametrize("job_type", sorted(CLIENT_RATED_JOBS))
def test_a_job_whose_client_sets_its_rate_sends_every_progress(monkeypatch: pytest.MonkeyPatch, job_type: str) -> None:
    monkeypatch.setattr(registry, "time", SimpleNamespace(monotonic=Clock().monotonic))
    sent: list[Any] = []
    ctx = context(sent, job_type)
    for step in range(1, 101):
        ctx.progress({"step": step})
    assert sent == [{"step": s} for s in range(1, 101)]


def test_a_registered_job_sends_its_held_progress_before_it_returns_or_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "time", SimpleNamespace(monotonic=Clock().monotonic))

    def chatty(body: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
        for step in range(1, 101):
            ctx.progress({"step": step})
        if body.get("fail"):
            raise ValueError("failed after its progress")
        return {}

    monkeypatch.setattr(registry, "_registry", {})
    registry.job("chatty")(chatty)
    spec = registry.lookup("chatty")
    assert spec is not None
    sent: list[Any] = []
    spec.run({}, context(sent))
    assert len(sent) == PROGRESS_BURST + 1 and sent[-1] == {"step": 100}
    sent.clear()
    with pytest.raises(ValueError):
        spec.run({"fail": True}, context(sent))
    assert len(sent) == PROGRESS_BURST + 1 and sent[-1] == {"step": 100}


def test_sleep_with_a_trillion_steps_is_paced_and_cancelled_promptly(peer: Peer) -> None:
    job = peer.send("sleep", {"seconds": 3600, "steps": 10**12})
    progress: list[int] = []
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        if peer.socket.poll(50):
            msg = peer.receive()
            assert (msg.header.id, msg.header.kind) == (job, "progress"), msg
            progress.append(msg.body["step"])
    cancelled = time.monotonic()
    peer.send("", {}, kind="cancel", id_=job)
    reply = peer.receive()
    while reply.header.kind == "progress":
        progress.append(reply.body["step"])
        reply = peer.receive()
    answered = time.monotonic() - cancelled
    assert (reply.header.kind, reply.body["code"]) == ("error", "CANCELLED"), reply.body
    assert answered < 0.5, f"the cancel took {answered:.3f} s to answer"
    # The first PROGRESS_BURST, then one per 50 ms in about a second, and the one held back.
    assert PROGRESS_BURST <= len(progress) <= 40, progress
    assert progress == sorted(set(progress)) and progress[-1] < 10**12


def test_sleep_of_many_short_steps_ends_with_its_last_step(peer: Peer) -> None:
    started = time.monotonic()
    progress, msg = peer.run("sleep", {"seconds": 0.2, "steps": 10**6})
    elapsed = time.monotonic() - started
    assert (msg.header.kind, msg.body) == ("result", {"steps": 10**6})
    assert len(progress) <= PROGRESS_BURST + elapsed / PROGRESS_INTERVAL_S + 2, progress
    assert progress[-1] == {"step": 10**6}


def test_sleep_of_no_time_reports_every_step_done_at_once(peer: Peer) -> None:
    progress, msg = peer.run("sleep", {"seconds": 0, "steps": 10**12})
    assert (msg.header.kind, msg.body) == ("result", {"steps": 10**12})
    assert progress == [{"step": 10**12}]
