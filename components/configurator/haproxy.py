"""haproxy.cfg: a write port routed to the primary, a read port balanced over the replicas (leastconn), MySQL
health checks, a read-only stats page, and the runtime API on a unix socket in the proxy's directory only (mode
0600: the operator's account; the proxy-sync step reads it through the host transport). There is no TCP
runtime API: on a TCP port any local user could drive the proxy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from components.configurator.placement import Placement, ServicePaths, socket_path
from components.configurator.render import UnsafeValue, render_template

# "admin" was the TCP runtime API's port. Nothing listens on it any more; it stays leased so that a proxy's
# placement (and so the proxy) does not change when a stack of an earlier version is upgraded.
PORT_NAMES = ("write", "read", "stats", "admin")
UNUSED_PORTS = ("admin",)
WRITE_BACKEND, READ_BACKEND = "write", "read"
# One word of a haproxy.cfg line: no space (a new keyword), no '#' (a comment), no quote, backslash or '$'
# (HAProxy's quoting, escapes and environment variables).
_WORD = re.compile(r"[^\s#'\"\\$]+")


@dataclass(frozen=True)
class Backend:
    """A database node as the proxy sees it."""

    name: str
    host: str
    port: int


@dataclass(frozen=True)
class HAProxyPaths(ServicePaths):
    pass


def haproxy_paths(placement: Placement) -> HAProxyPaths:
    root = PurePosixPath(placement.dir)
    return HAProxyPaths(config=str(root / "haproxy.cfg"), pid_file=str(root / "haproxy.pid"),
                        socket=socket_path(placement.dir, "admin.sock"))


def render_haproxy_cfg(*, cluster: str, name: str, placement: Placement, primary: Backend,
                       replicas: list[Backend], check_user: str, maxconn: int = 4096) -> str:
    """The read side balances over the replicas, with the primary as a backup server that takes reads only
    when no replica is up (and as the only reader of a cluster without replicas). Every value is one word of
    its line (``UnsafeValue`` otherwise), whatever validated it before."""
    paths = haproxy_paths(placement)
    for what, value in [("cluster", cluster), ("name", name), ("address", placement.host),
                        ("check user", check_user), ("config", paths.config), ("pid file", paths.pid_file),
                        ("socket", paths.socket)] + [(f"server {b.name}", v) for b in [primary, *replicas]
                                                     for v in (b.name, b.host)]:
        _word(what, value)
    for what, port in [*placement.ports.items(), *((b.name, b.port) for b in [primary, *replicas])]:
        if not (isinstance(port, int) and 0 < port < 65536):
            raise UnsafeValue(f"refusing to render port {port!r} of {what}: not a TCP port number")
    return render_template(
        "haproxy.cfg.j2",
        cluster=cluster,
        name=name,
        bind=placement.host,
        ports=placement.ports,
        paths=paths,
        primary=primary,
        readers=replicas or [primary],
        check_user=check_user,
        maxconn=maxconn,
        write_backend=WRITE_BACKEND,
        read_backend=READ_BACKEND,
    )


def _word(what: str, value: str) -> None:
    if not (_WORD.fullmatch(value) and value.isprintable()):
        raise UnsafeValue(f"refusing to render {what} {value!r} in haproxy.cfg: a value must be one word "
                          "(no space, '#', quote, backslash or '$')")
