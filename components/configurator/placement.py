"""Where a service runs, as chosen by an orchestrator: the one input of the renderers that is not in the spec."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# Unix socket paths are short (108 bytes in the kernel, 97 for HAProxy): a socket whose path in its service
# directory would be longer goes to a short directory named after a hash of the service directory.
MAX_SOCKET_PATH = 96
SHORT_SOCKET_ROOT = "/tmp"


def socket_path(service_dir: str, filename: str) -> str:
    """Where a service's unix socket goes: in its directory when the path fits, else in
    ``/tmp/replstack-<hash of the directory>/``, the same on every rendering."""
    inside = str(PurePosixPath(service_dir) / filename)
    if len(inside) <= MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(service_dir.encode()).hexdigest()[:16]
    return str(PurePosixPath(SHORT_SOCKET_ROOT) / f"replstack-{digest}" / filename)


@dataclass(frozen=True)
class ServicePaths:
    """The files of one service on its host, as the renderers lay them out and the lifecycles use them."""

    config: str
    pid_file: str
    socket: str

    @property
    def dir(self) -> str:
        return str(PurePosixPath(self.config).parent)


@dataclass(frozen=True)
class Placement:
    """A service's address, its ports by name, and its directory on the host that runs it."""

    host: str
    ports: dict[str, int]
    dir: str
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_output(cls, value: dict) -> "Placement":
        ports = {name: int(port) for name, port in value["ports"].items()}  # protobuf numbers arrive as floats
        return cls(host=value["host"], ports=ports, dir=value["dir"], extra=dict(value.get("extra") or {}))
