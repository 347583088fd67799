"""maxscale.cnf (MaxScale 23.08/24.02 syntax): a MariaDB Monitor, a read/write-splitting service, a replica-only
connection router, an optional binlog router, and the REST API.

- ``[maxscale]`` keeps every directory MaxScale writes in the proxy's own directory, turns runtime-change
  persistence off (this file stays what runs: a change made with ``maxctrl`` is gone on restart, like a
  ``SET GLOBAL``), and puts the REST API on the placement's host (never a wildcard) at the ``admin`` port. The
  REST API's accounts are not in this file: MaxScale keeps them in its data directory.
- One ``[server]`` section per node, named after the node.
- A ``mariadbmon`` monitor with automatic failover and rejoin off: replstack's topology step owns the topology
  (switchover by ``preferredPrimary``); MaxScale follows what it sees. The monitor drops the ``Slave`` status of
  a replica whose replication stopped, and the routers stop sending it reads.
- ``write`` listener: ``readwritesplit`` (writes and transactions to the primary, reads to replicas lagging at
  most ``max_lag`` seconds). ``read`` listener: ``readconnroute`` with ``router_options=slave`` (whole
  connections to replicas; the primary only when no replica is up). Optional ``binlog`` listener: a
  ``binlogrouter`` replicating from the monitor's primary, for replicas that should not load the primary.

Passwords (the monitor's and the services' accounts) are parameters from Pulumi secrets; the file is therefore to
be written with ``FILE_MODE`` (0600). MaxScale's INI has ``#`` comments and reads ``$NAME`` as an environment variable when
``substitute_variables`` is on, so a password with a quote, ``#``, ``;``, ``$`` or a backslash is refused.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from components.configurator import proxy_values as v
from components.configurator.placement import Placement
from components.configurator.render import UnsafeValue, render_template

LISTENERS = ("write", "read", "admin")
BINLOG_LISTENER = "binlog"
CONFIG_FILE = "maxscale.cnf"
FILE_MODE = 0o600
MONITOR = "replication-monitor"
# Service and listener section names by listener name.
SERVICES = {"write": "split-service", "read": "replica-service", BINLOG_LISTENER: "binlog-service"}
LISTENER_SECTIONS = {"write": "write-listener", "read": "read-listener", BINLOG_LISTENER: "binlog-listener"}
_SECRET_FORBIDDEN = "#;$\"'\\"


def listener_names(binlog: bool = False) -> tuple[str, ...]:
    return LISTENERS + ((BINLOG_LISTENER,) if binlog else ())


def render_maxscale_cnf(*, cluster: str, name: str, placement: Placement, primary: v.Backend,
                        replicas: list[v.Backend], monitor_user: str, monitor_password: str, service_user: str,
                        service_password: str, max_lag: int, binlog_server_id: int | None = None) -> str:
    """``binlog_server_id`` (the ``server_id`` the binlog router replicates with; it must differ from every
    node's) adds the binlog router and its ``binlog`` listener. SQL listeners bind the placement's ``bind``
    address when it has one, else its host. Every value is checked (``UnsafeValue`` otherwise)."""
    for what, value in [("cluster", cluster), ("name", name)]:
        v.name(what, value)
    binlog = binlog_server_id is not None
    ports = v.listener_ports(placement, listener_names(binlog))
    nodes = v.backends(primary, replicas)
    taken = {MONITOR, *SERVICES.values(), *LISTENER_SECTIONS.values(), "maxscale"}
    clashing = sorted(n.name for n in nodes if n.name in taken)
    if clashing:
        raise UnsafeValue(f"refusing to render servers {clashing}: the names are MaxScale sections of this file")
    v.account("monitor user", monitor_user)
    v.account("service user", service_user)
    v.secret("monitor password", monitor_password, _SECRET_FORBIDDEN)
    v.secret("service password", service_password, _SECRET_FORBIDDEN)
    v.whole_number("a replication lag bound", max_lag, minimum=1)
    if binlog:
        v.whole_number("the binlog router's server_id", binlog_server_id, minimum=1)
    root = PurePosixPath(v.absolute_path("proxy directory", placement.dir))
    return render_template(
        "maxscale.cnf.j2",
        cluster=cluster,
        name=name,
        dirs={d: str(root / d) for d in ("log", "data", "cache", "run", "persist", "binlogs")},
        admin_host=v.ip_address("REST API address", placement.host),
        bind=v.ip_address("bind address", placement.extra.get("bind") or placement.host),
        ports=ports,
        servers=nodes,
        server_list=",".join(n.name for n in nodes),
        monitor=MONITOR,
        services=SERVICES,
        listeners=LISTENER_SECTIONS,
        monitor_user=monitor_user,
        monitor_password=monitor_password,
        service_user=service_user,
        service_password=service_password,
        max_lag=max_lag,
        binlog=binlog,
        binlog_server_id=binlog_server_id,
    )
