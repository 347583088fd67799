"""A client for HAProxy's runtime API (the admin socket): one command per connection, CSV answers read with
the csv module. The API listens only on a unix socket in the proxy's directory (mode 0600, the operator's), and
is reached through the backend's host transport, so that no other account of the host can use it."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from components.orchestrators.hosts import Host


@dataclass(frozen=True)
class ServerStatus:
    backend: str
    server: str
    status: str        # UP, DOWN, MAINT, "UP 1/2" while rising, ...
    check_status: str  # L7OK when the last MySQL check passed

    @property
    def healthy(self) -> bool:
        return self.status == "UP" and self.check_status in ("L7OK", "L4OK", "L6OK", "PROCOK")


def command(host: Host, socket_path: str, line: str, timeout: float = 3.0) -> str:
    return host.unix_request(socket_path, line.encode() + b"\n", timeout=timeout).decode(errors="replace")


def server_statuses(host: Host, socket_path: str) -> list[ServerStatus]:
    """Every backend server (not frontends or backend summary rows) with its state and last check result."""
    text = command(host, socket_path, "show stat")
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return [ServerStatus(r["pxname"], r["svname"], r["status"], r.get("check_status", ""))
            for r in rows if r.get("svname") not in (None, "FRONTEND", "BACKEND")]
