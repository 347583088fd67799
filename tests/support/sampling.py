"""A background sampler: calls ``sample()`` every ``interval`` seconds while a ``with`` block runs, for figures
and invariants that must hold throughout an operation (peak memory, replicas up during a rolling restart)."""

from __future__ import annotations

import threading
import time


class Sampler:
    interval = 0.01

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
