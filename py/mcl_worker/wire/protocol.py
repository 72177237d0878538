"""proto/protocol.json, the machine-readable half of the wire contract, loaded once."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

# proto/protocol.json is the single source of truth. A clone and the npm package have it beside
# py/; a wheel has no such neighbour, so building one copies it into the package (setup.py).
_SOURCE = Path(__file__).resolve().parents[3] / "proto" / "protocol.json"
_PACKAGED = Path(__file__).resolve().parents[1] / "protocol.json"


def protocol_path() -> Path:
    """Where the contract is read from: proto/ beside py/ when there is one, else the wheel's copy."""
    return _SOURCE if _SOURCE.is_file() else _PACKAGED


@lru_cache(maxsize=1)
def load_protocol() -> dict[str, Any]:
    """The parsed protocol.json."""
    path = protocol_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"neither {_SOURCE} nor {_PACKAGED} exists: mcl_worker reads the wire contract from proto/ "
            "beside py/ (a clone, the npm package) or from the copy a wheel carries; reinstall the worker"
        ) from None
    protocol: dict[str, Any] = json.loads(text)
    return protocol
