"""PyTorch worker of the MCL bridge.

`from mcl_worker import load_encoder` reads back what `mcl export` wrote (mcl_worker.export); it
is imported on first use, so that importing the package stays light.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "load_encoder":
        from .export import load_encoder

        return load_encoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
