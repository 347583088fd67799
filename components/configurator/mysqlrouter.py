"""mysqlrouter.conf (MySQL Router 8.0 syntax): static connection routing, a ``write`` route to the primary and a
``read`` route balanced over the replicas.

Router here is plain connection routing: no metadata cache (that needs an InnoDB Cluster or ReplicaSet, which a
MariaDB replication cluster is not), so the destinations are the nodes the orchestrator placed, fixed in this
file. ``[routing:rw]`` sends every connection to the primary (``first-available`` over a list of one);
``[routing:ro]`` spreads connections over the replicas (``round-robin``), or over the primary when there are none.
Router only checks that a destination accepts connections: a replica that stopped replicating stays in the read
route until the file is re-rendered without it. ``unknown_config_option=error`` makes Router refuse a misspelt
option instead of ignoring it.

Router reads ``{name}`` in a value as a variable of its own, so no value may hold a brace; the renderer puts in
names, IP addresses, ports and absolute paths only, each checked (``UnsafeValue`` otherwise). This file holds no
password.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from components.configurator import proxy_values as v
from components.configurator.placement import Placement
from components.configurator.render import UnsafeValue, render_template

LISTENERS = ("write", "read")
CONFIG_FILE = "mysqlrouter.conf"
FILE_MODE = 0o644
# Routing section keys by listener name: [routing:rw], [routing:ro].
ROUTES = {"write": "rw", "read": "ro"}
LOG_LEVELS = ("DEBUG", "NOTE", "INFO", "WARNING", "ERROR", "SYSTEM", "FATAL")


def listener_names() -> tuple[str, ...]:
    return LISTENERS


def render_mysqlrouter_conf(*, cluster: str, name: str, placement: Placement, primary: v.Backend,
                            replicas: list[v.Backend], log_level: str = "INFO") -> str:
    """Routes listen on the placement's ``bind`` address when it has one, else on its host."""
    for what, value in [("cluster", cluster), ("name", name)]:
        v.name(what, value)
    if log_level not in LOG_LEVELS:
        raise UnsafeValue(f"refusing to render log level {log_level!r}: one of {list(LOG_LEVELS)}")
    ports = v.listener_ports(placement, LISTENERS)
    nodes = v.backends(primary, replicas)
    head, readers = nodes[0], nodes[1:] or nodes[:1]
    root = PurePosixPath(v.absolute_path("proxy directory", placement.dir))
    bind = v.ip_address("bind address", placement.extra.get("bind") or placement.host)
    return render_template(
        "mysqlrouter.conf.j2",
        cluster=cluster,
        name=name,
        dirs={d: str(root / d) for d in ("log", "run", "data")},
        log_level=log_level,
        bind=bind,
        ports=ports,
        routes=ROUTES,
        write_destinations=v.host_port(head.host, head.port),
        read_destinations=",".join(v.host_port(r.host, r.port) for r in readers),
    )
