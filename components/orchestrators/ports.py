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


class CatalogDamaged(RuntimeError):
    """ports.json cannot be read; the message names the file and the reason."""


def _read(path: Path) -> dict[str, dict[str, int]]:
    """The catalog in ``path`` (empty when there is none); raises CatalogDamaged naming the file."""
    if not path.exists():
        return {}
    try:
        catalog = json.loads(path.read_text())
    except ValueError as error:
        raise CatalogDamaged(f"{path} is not valid JSON ({error})") from None
    if not isinstance(catalog, dict) or not all(
            isinstance(ports, dict) and all(isinstance(p, int) for p in ports.values()) for ports in catalog.values()):
        raise CatalogDamaged(f"{path} does not map services to their ports")
    return catalog


def recorded(cluster_dir: Path, service: str) -> dict[str, int] | None:
    """The ports the catalog holds for ``service`` (None when it holds none); raises CatalogDamaged."""
    return _read(cluster_dir / CATALOG).get(service)


@contextlib.contextmanager
def _locked_catalog(cluster_dir: Path) -> Iterator[dict[str, dict[str, int]]]:
    """The catalog under its lock. A damaged one is moved aside (``ports.json.damaged``) and the catalog starts
    empty: every placement writes its recorded ports back into it on its next update (see ``lease``)."""
    cluster_dir.mkdir(parents=True, exist_ok=True)
    with open(cluster_dir / LOCK, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = cluster_dir / CATALOG
        try:
            catalog = _read(path)
        except CatalogDamaged:
            path.replace(path.with_name(CATALOG + ".damaged"))
            catalog = {}
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
          port_range: tuple[int, int] = DEFAULT_RANGE, known: dict[str, int] | None = None,
          renew: Sequence[str] = ()) -> dict[str, int]:
    """The ports of ``service`` by name: those it already holds are kept, missing names get new ones. ``known``
    are the ports state records for it: they are taken back when the catalog lost them (damaged, removed).
    The names in ``renew`` get new ports (their old ones were taken by another program)."""
    with _locked_catalog(cluster_dir) as catalog:
        held = dict(catalog.get(service) or {name: int(port) for name, port in (known or {}).items()})
        for name in renew:
            held.pop(name, None)
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
