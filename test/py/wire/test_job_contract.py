"""The worker serves exactly the jobs of protocol.json, each as collective as protocol.json says."""

from __future__ import annotations

from mcl_worker.jobs import registered
from mcl_worker.jobs.registry import CLIENT_RATED_JOBS
from mcl_worker.wire.protocol import load_protocol


def test_every_job_of_protocol_json_has_a_handler_and_no_other() -> None:
    assert sorted(registered()) == sorted(load_protocol()["jobs"])


def test_a_job_runs_on_every_rank_exactly_when_protocol_json_marks_it_collective() -> None:
    jobs = load_protocol()["jobs"]
    assert {t: spec.collective for t, spec in registered().items()} == {t: job["collective"] for t, job in jobs.items()}


def test_the_jobs_whose_client_sets_the_progress_rate_are_those_taking_progress_every() -> None:
    assert CLIENT_RATED_JOBS == {"train", "clip.train"}
