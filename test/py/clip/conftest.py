"""The CLIP job tests talk to an in-process worker with the jobs suite's raw pyzmq peer."""

from jobs.conftest import Peer, peer, server  # noqa: F401  fixtures, re-exported for this folder

__all__ = ["Peer"]
