"""proto/protocol.json, the machine-readable half of the wire contract, loaded once."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

# py/mcl_worker/protocol.json is a symbolic link to proto/protocol.json in the repository; building
# a wheel copies the file itself into the package, so an installed worker (pip install, no
# repository beside it, as on a GPU box) reads the same contract.
PROTOCOL_JSON = Path(__file__).resolve().parents[1] / "protocol.json"


@lru_cache(maxsize=1)
def load_protocol() -> dict[str, Any]:
    """The parsed protocol.json shipped with the package."""
    try:
        text = PROTOCOL_JSON.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{PROTOCOL_JSON} is missing: it links to proto/protocol.json in the repository and is copied "
            "into every wheel; reinstall the worker (pip install <repository>)"
        ) from None
    protocol: dict[str, Any] = json.loads(text)
    return protocol
