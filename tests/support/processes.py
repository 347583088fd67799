"""What a test leaves on the machine: processes started from a directory, ports listening."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil


def processes_under(path: Path) -> list[psutil.Process]:
    """Live processes whose command line mentions ``path`` (every replstack service names its own config)."""
    marker = str(path)
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def kill_processes_under(path: Path) -> int:
    """The safety net of every fixture: whatever still runs from ``path`` is killed. Returns how many."""
    procs = processes_under(path)
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
    return len(procs)


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
