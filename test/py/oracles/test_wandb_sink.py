"""The W&B sidecar (mcl_worker.wandb_sink) against wandb itself, offline: records fed to its stdin
are read back from the offline run's .wandb file with wandb's own protobuf records, every key,
step metric and value (NaN too); a second session continues the same W&B run; without wandb the sidecar
exits with NO_WANDB and says so."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcl_worker.wandb_sink import ID_FILE, NO_WANDB, READY

pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

BLOCK = 32768  # the .wandb file is a LevelDB log: 32 KiB blocks of chunks with 7-byte headers
FILE_HEADER = 7  # ":W&B", magic 0xBEE1, version


def read_records(path: Path) -> list[Any]:
    """Every protobuf Record of a .wandb file, in order."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records: list[Any] = []
    payload = b""
    pos = FILE_HEADER
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a chunk header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        payload += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = pb.Record()
            record.ParseFromString(payload)
            records.append(record)
            payload = b""
    return records


def run_sink(run_dir: Path, lines: list[dict[str, Any]], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    options = {"project": "mcl-test", "name": "tiny", "mode": "offline"}
    return subprocess.run(
        [sys.executable, "-m", "mcl_worker.wandb_sink", str(run_dir), json.dumps(options)],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "WANDB_SILENT": "true", **(env or {})},
    )


def history(run_file: Path) -> list[dict[str, Any]]:
    rows = []
    for record in read_records(run_file):
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
    return rows


def step_metrics(run_file: Path) -> dict[str, str]:
    """Each defined metric's step metric."""
    metrics = {}
    for record in read_records(run_file):
        if record.WhichOneof("record_type") == "metric":
            metrics[record.metric.name] = record.metric.step_metric
    return metrics


def offline_runs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))


FIRST = [
    {"step": 5, "stepMetric": "stage-1/step", "scalars": {"stage-1/train/loss": 4.5, "stage-1/train/lr": 0.1}},
    {"step": 10, "stepMetric": "stage-1/step", "scalars": {"stage-1/epoch/loss": 4.25, "stage-1/epoch/left_out_fraction": 0.0}},
    {"step": 3, "stepMetric": "stage-2/step", "scalars": {"stage-2/train/loss": 3.75, "stage-2/train/lr": math.nan}},
    {"step": 1, "stepMetric": "probe/stage", "scalars": {"probe/linear/shape": 0.625, "probe/knn/shape": 0.5}},
]
SECOND = [{"step": 2, "stepMetric": "integrated/probe/stage", "scalars": {"integrated/probe/linear/shape": 0.875}}]


def test_every_key_step_and_value_is_in_the_offline_run_and_a_resume_continues_it(tmp_path: Path) -> None:
    done = run_sink(tmp_path, FIRST)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == READY
    [first] = offline_runs(tmp_path)
    rows = history(first)
    assert len(rows) == len(FIRST)
    for row, line in zip(rows, FIRST):
        for tag, value in line["scalars"].items():
            assert row[tag] == value or (math.isnan(value) and math.isnan(row[tag]))
        assert row[line["stepMetric"]] == line["step"]
    metrics = step_metrics(first)
    for line in FIRST:
        for tag in line["scalars"]:
            assert metrics[tag] == line["stepMetric"]

    run_id = (tmp_path / ID_FILE).read_text().strip()
    assert first.name == f"run-{run_id}.wandb"
    again = run_sink(tmp_path, SECOND)
    assert again.returncode == 0, again.stderr
    runs = offline_runs(tmp_path)
    assert len(runs) == 2 and all(path.name == f"run-{run_id}.wandb" for path in runs)
    [second] = [path for path in runs if path != first]
    assert history(second)[0]["integrated/probe/linear/shape"] == 0.875


def test_without_wandb_it_exits_with_no_wandb(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "wandb.py").write_text("raise ImportError('No module named wandb')\n")
    done = run_sink(tmp_path, [], env={"PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])})
    assert done.returncode == NO_WANDB
    assert "cannot import wandb" in done.stderr
    assert not (tmp_path / ID_FILE).exists()
