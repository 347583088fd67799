"""One restart at a time per cluster, whatever host each node runs on.

Why in the provider process: every replstack resource of a stack is served by the one dynamic-provider process
of the run, so a lock kept here is seen by all of them, on every backend (a lock file would serialise the nodes
of one host only). Runs of the same stack never overlap (the engine locks the stack), and two stacks never
share a cluster (the cluster owner refuses), so this scope is the whole story. The primary restarts last because
it depends on every replica in the resource graph; this lock keeps replicas from restarting together.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_GUARD = threading.Lock()
_LOCKS: dict[str, threading.Lock] = {}


@contextmanager
def one_restart_at_a_time(cluster: str) -> Iterator[None]:
    """Held while a node of ``cluster`` stops, starts and replicates again."""
    with _GUARD:
        lock = _LOCKS.setdefault(cluster, threading.Lock())
    with lock:
        yield
