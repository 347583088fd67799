"""The port catalog of a local cluster: which service holds which port, in ``<cluster dir>/ports.json``.

Ports are picked at random from a range below Linux's ephemeral range (32768+), so that an outgoing
connection never sits on a port a stopped server will want back; a candidate must be free to bind right now
and not held by another service of the catalog. The catalog is changed under a file lock, so services placed
in parallel never get the same port, and a person can read who listens where.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import random
import socket
from pathlib import Path
from typing import Iterator, Sequence

DEFAULT_RANGE = (20000, 32000)
CATALOG, LOCK = "ports.json", ".ports.lock"


class NoFreePort(RuntimeError):
    pass


@contextlib.contextmanager
def _locked_catalog(cluster_dir: Path) -> Iterator[dict[str, dict[str, int]]]:
    cluster_dir.mkdir(parents=True, exist_ok=True)
    with open(cluster_dir / LOCK, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = cluster_dir / CATALOG
        catalog = json.loads(path.read_text()) if path.exists() else {}
        yield catalog
        if catalog:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(catalog, indent=2, sort_keys=True) + "\n")
            tmp.replace(path)
        else:
            path.unlink(missing_ok=True)


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def lease(cluster_dir: Path, service: str, host: str, names: Sequence[str],
          port_range: tuple[int, int] = DEFAULT_RANGE) -> dict[str, int]:
    """The ports of ``service`` by name: those it already holds are kept, missing names get new ones."""
    with _locked_catalog(cluster_dir) as catalog:
        held = dict(catalog.get(service, {}))
        taken = {port for svc, ports in catalog.items() if svc != service for port in ports.values()}
        taken |= set(held.values())
        rng = random.Random()
        for name in names:
            if name in held:
                continue
            for _ in range(500):
                port = rng.randint(*port_range)
                if port not in taken and _bindable(host, port):
                    break
            else:
                raise NoFreePort(f"no free port for {service}/{name} on {host} in {port_range[0]}-{port_range[1]}")
            held[name] = port
            taken.add(port)
        catalog[service] = {name: held[name] for name in names}
        return catalog[service]


def release(cluster_dir: Path, service: str) -> bool:
    """Drops the service's ports; True when the catalog is now empty (the cluster holds no port)."""
    if not cluster_dir.exists():
        return True
    with _locked_catalog(cluster_dir) as catalog:
        catalog.pop(service, None)
        empty = not catalog
    if empty:
        (cluster_dir / LOCK).unlink(missing_ok=True)
    return empty
