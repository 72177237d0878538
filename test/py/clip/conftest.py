"""The CLIP job tests talk to an in-process worker with the jobs suite's raw pyzmq peer."""

import jobs.conftest
from jobs.conftest import Peer

# The jobs suite's fixtures, made this folder's.
server = jobs.conftest.server
peer = jobs.conftest.peer

__all__ = ["Peer"]
