"""Bounded polling: every wait in replstack is a readiness check with a deadline and a clear error, never a
fixed sleep."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A readiness check did not pass in time; the message says what was awaited and the last state seen."""


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1,
               max_interval: float = 0.25) -> T:
    """Calls ``check`` until it returns something other than None (or False), backing off from ``interval`` to
    ``max_interval``. ``check`` may raise ``StopWaiting`` to fail at once (for example, a process that died).
    Returns the first truthy result; raises ``WaitTimeout`` naming ``what`` and the last error seen.

    A wait ends up to ``max_interval`` after its condition became true, and an ``up`` that adds a replica chains
    several (start, catch-up, both data-check stops, the proxies): a quarter of a second keeps that sum small
    while a check runs at most four times a second."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    delay = interval
    while True:
        try:
            result = check()
            if result is not None and result is not False:
                return result
            last_error = None
        except StopWaiting:
            raise
        except Exception as error:  # noqa: BLE001  (a failing check is the normal "not yet")
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
        delay = min(delay * 1.5, max_interval)


class StopWaiting(RuntimeError):
    """Raised by a check when waiting longer cannot help."""
