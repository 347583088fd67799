"""The port catalog of a cluster on one host: which service holds which port, in ``<cluster dir>/ports.json``
on that host (read, written and locked through the host's transport, so it works the same over SSH).

Ports are picked at random from a range below Linux's ephemeral range (32768+), so that an outgoing
connection never sits on a port a stopped server will want back; a candidate must be free to bind right now
and not held by another service of the catalog. A port the stack fixes (``database.port``, ``proxies[].ports``)
is taken as it is, under the same two conditions, or the lease fails saying who holds it. The catalog is changed under a file lock, so services placed
in parallel never get the same port, and a person can read who listens where.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import random
import socket
from pathlib import Path
from typing import Iterator, Sequence

from components.orchestrators.hosts import Host, LocalHost

DEFAULT_RANGE = (20000, 32000)
CATALOG, LOCK = "ports.json", ".ports.lock"


class NoFreePort(RuntimeError):
    pass


class FixedPortUnavailable(NoFreePort):
    """A port the stack fixes is held by another service of the cluster or by another program."""


class CatalogDamaged(RuntimeError):
    """ports.json cannot be read; the message names the file and the reason."""


def _read(path: Path, host: Host | None = None) -> dict[str, dict[str, int]]:
    """The catalog in ``path`` on ``host`` (empty when there is none); raises CatalogDamaged naming the file."""
    text = (host or LocalHost()).read_file(str(path))
    if text is None:
        return {}
    try:
        catalog = json.loads(text)
    except ValueError as error:
        raise CatalogDamaged(f"{path} is not valid JSON ({error})") from None
    if not isinstance(catalog, dict) or not all(
            isinstance(ports, dict) and all(isinstance(p, int) for p in ports.values()) for ports in catalog.values()):
        raise CatalogDamaged(f"{path} does not map services to their ports")
    return catalog


def recorded(cluster_dir: Path, service: str, host: Host | None = None) -> dict[str, int] | None:
    """The ports the catalog holds for ``service`` (None when it holds none); raises CatalogDamaged."""
    return _read(cluster_dir / CATALOG, host).get(service)


@contextlib.contextmanager
def _locked_catalog(cluster_dir: Path, host: Host | None = None) -> Iterator[dict[str, dict[str, int]]]:
    """The catalog under its lock, on ``host`` (this machine by default). A damaged one is moved aside
    (``ports.json.damaged``) and the catalog starts empty: every placement writes its recorded ports back into
    it on its next update (see ``lease``)."""
    host = host or LocalHost()
    host.make_dirs(str(cluster_dir))
    with host.exclusive(str(cluster_dir / LOCK)):
        path = cluster_dir / CATALOG
        try:
            catalog = _read(path, host)
        except CatalogDamaged:
            host.write_file(str(path.with_name(CATALOG + ".damaged")), host.read_file(str(path)) or "", mode=0o600)
            catalog = {}
        yield catalog
        if catalog:
            host.write_file(str(path), json.dumps(catalog, indent=2, sort_keys=True) + "\n", mode=0o600)
        else:
            host.remove_tree(str(path))


class AddressNotAvailable(NoFreePort):
    """The address to lease on is not one of this host's: no port of it can ever be bound."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def _bindable(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now; raises AddressNotAvailable when ``host`` is not an address of this
    host (no port would ever be)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # '::' also takes the IPv4 ports
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise AddressNotAvailable(f"{host} is not an address of this host (bind: {error.strerror}); "
                                          "set local.bindAddress to one it has") from None
            return False
    return True


def source_address(destination: str) -> str:
    """The address this host connects to ``destination`` from, as the kernel's routing chooses it (a connection
    to 127.0.0.2 comes from 127.0.0.1): what a server sees as the client's host. No packet is sent."""
    with socket.socket(_family(destination), socket.SOCK_DGRAM) as sock:
        sock.connect((destination, 9))
        return ipaddress.ip_address(sock.getsockname()[0].split("%", 1)[0]).compressed


def lease(cluster_dir: Path, service: str, host: str, names: Sequence[str],
          port_range: tuple[int, int] = DEFAULT_RANGE, known: dict[str, int] | None = None,
          renew: Sequence[str] = (), on: Host | None = None, fixed: dict[str, int] | None = None,
          fixed_by: str = "the stack") -> dict[str, int]:
    """The ports of ``service`` by name: those it already holds are kept, missing names get new ones. ``known``
    are the ports state records for it: they are taken back when the catalog lost them (damaged, removed).
    The names in ``renew`` get new ports (their old ones were taken by another program). ``on`` is the host the
    service runs on (this machine by default): the catalog is there and ports are probed there. ``fixed`` are the
    ports the stack sets by name (``fixed_by`` names the key in errors): taken when free, an error otherwise."""
    remote = on is not None and not isinstance(on, LocalHost)

    def bindable(port: int) -> bool:
        return on.port_holder(host, port) is None if remote else _bindable(host, port)

    with _locked_catalog(cluster_dir, on) as catalog:
        held = dict(catalog.get(service) or {name: int(port) for name, port in (known or {}).items()})
        for name in renew:
            held.pop(name, None)
        others = {port: svc for svc, ports in catalog.items() if svc != service for port in ports.values()}
        for name, want in (fixed or {}).items():
            if name not in names or held.get(name) == int(want):
                continue
            if int(want) in others:
                raise FixedPortUnavailable(f"port {want} ({service}/{name}, fixed by {fixed_by}) is held by "
                                           f"{others[int(want)]} of this cluster; allowed: a port no other service "
                                           "of the stack has")
            if not bindable(int(want)):
                holder = (on or LocalHost()).port_holder(host, int(want))
                raise FixedPortUnavailable(f"port {want} ({service}/{name}, fixed by {fixed_by}) is in use on {host}"
                                           f"{f' by {holder}' if holder else ''}; allowed: a free port, or no fixed "
                                           "port (one is picked)")
            held[name] = int(want)
        taken = set(others) | set(held.values())
        rng = random.Random()
        for name in names:
            if name in held:
                continue
            for _ in range(500):
                port = rng.randint(*port_range)
                if port not in taken and bindable(port):
                    break
            else:
                raise NoFreePort(f"no free port for {service}/{name} on {host} in {port_range[0]}-{port_range[1]}")
            held[name] = port
            taken.add(port)
        catalog[service] = {name: held[name] for name in names}
        return catalog[service]


def release(cluster_dir: Path, service: str, on: Host | None = None) -> bool:
    """Drops the service's ports; True when the catalog is now empty (the cluster holds no port)."""
    host = on or LocalHost()
    if not host.exists(str(cluster_dir)):
        return True
    with _locked_catalog(cluster_dir, host) as catalog:
        catalog.pop(service, None)
        empty = not catalog
    if empty:
        host.remove_tree(str(cluster_dir / LOCK))
    return empty
