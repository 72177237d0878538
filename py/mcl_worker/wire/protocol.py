"""proto/protocol.json, the machine-readable half of the wire contract, loaded once."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

# py/mcl_worker/wire/protocol.py -> repository (or npm package) root -> proto/protocol.json
PROTOCOL_JSON = Path(__file__).resolve().parents[3] / "proto" / "protocol.json"


@lru_cache(maxsize=1)
def load_protocol() -> dict[str, Any]:
    """The parsed protocol.json; it lies beside py/ in the repository and in the npm package."""
    try:
        text = PROTOCOL_JSON.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{PROTOCOL_JSON} is missing: mcl_worker reads the wire schemas from proto/ beside py/; "
            "run the worker from the repository or the installed npm package"
        ) from None
    protocol: dict[str, Any] = json.loads(text)
    return protocol
