"""A worker installed from a wheel (as on a GPU box, with no repository beside it) must still
find the wire contract: the wheel carries proto/protocol.json as mcl_worker/protocol.json."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_wheel_carries_protocol_json(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "proto").mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", source)
    shutil.copy2(ROOT / "proto" / "protocol.json", source / "proto")
    # Keep the symbolic link as a link, exactly as a clone has it.
    shutil.copytree(ROOT / "py", source / "py", symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    assert (source / "py" / "mcl_worker" / "protocol.json").is_symlink()

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path), "."],
        cwd=source, check=True, timeout=120,
    )
    (wheel,) = tmp_path.glob("mcl_worker-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("mcl_worker/protocol.json")
    assert shipped == (ROOT / "proto" / "protocol.json").read_bytes()
