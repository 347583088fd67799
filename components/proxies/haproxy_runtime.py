"""A client for HAProxy's runtime API (the admin socket): one command per connection, CSV answers read with
the csv module."""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerStatus:
    backend: str
    server: str
    status: str        # UP, DOWN, MAINT, "UP 1/2" while rising, ...
    check_status: str  # L7OK when the last MySQL check passed

    @property
    def healthy(self) -> bool:
        return self.status == "UP" and self.check_status in ("L7OK", "L4OK", "L6OK")


def command(host: str, port: int, line: str, timeout: float = 3.0) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def server_statuses(host: str, port: int) -> list[ServerStatus]:
    """Every backend server (not frontends or backend summary rows) with its state and last check result."""
    text = command(host, port, "show stat")
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return [ServerStatus(r["pxname"], r["svname"], r["status"], r.get("check_status", ""))
            for r in rows if r.get("svname") not in (None, "FRONTEND", "BACKEND")]
