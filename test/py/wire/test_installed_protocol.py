"""A worker installed from a wheel (as on a GPU box, with no repository beside it) must still
find the wire contract: building the wheel copies proto/protocol.json into mcl_worker/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from mcl_worker.wire.protocol import protocol_path

ROOT = Path(__file__).resolve().parents[3]


def test_a_clone_reads_proto_itself() -> None:
    assert protocol_path() == ROOT / "proto" / "protocol.json"


def test_a_worker_installed_from_a_wheel_reads_the_copy_it_carries(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "proto").mkdir(parents=True)
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in"):
        shutil.copy2(ROOT / name, source)
    shutil.copy2(ROOT / "proto" / "protocol.json", source / "proto")
    shutil.copytree(ROOT / "py", source / "py", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."], cwd=source, check=True, timeout=120)
    (wheel,) = tmp_path.glob("mcl_worker-*.whl")
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=120)

    # Run from the installed copy alone: no proto/ lies beside it.
    probe = "from mcl_worker.wire.protocol import load_protocol, protocol_path; print(protocol_path()); load_protocol()"
    result = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(site)}, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    installed = site / "mcl_worker" / "protocol.json"
    assert result.stdout.strip() == str(installed)
    assert installed.read_bytes() == (ROOT / "proto" / "protocol.json").read_bytes()
