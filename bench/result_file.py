"""Writes a Python bench's result JSON atomically (temp file + rename) and echoes it on stdout."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_result(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as tmp:
        json.dump(report, tmp, indent=2)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
    print(json.dumps(report), flush=True)
