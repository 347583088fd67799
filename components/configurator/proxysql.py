"""proxysql.cnf: a SQL listener that splits reads from writes by query rules, and the admin interface.

ProxySQL keeps its configuration in tables of its admin database; this file is what fills them on a first start
(or on a start with ``--initial``): one libconfig group or list per table. The layout:

- a writer hostgroup holding the primary and a reader hostgroup holding the replicas, plus the primary with a
  weight of 1 against the replicas' 1000, so that reads fall back to it when every replica is shunned (what
  ProxySQL's monitor does by itself with ``mysql-monitor_writer_is_also_reader``, written down so the rows say
  what runs);
- ``mysql_replication_hostgroups`` pairing them with ``check_type = "read_only"``: the monitor moves a server
  whose ``read_only`` changes, so a switchover made by the topology step is followed without a re-render;
- each replica row has ``max_replication_lag``: a replica lagging more is shunned, and one whose replication
  stopped (``Seconds_Behind_Master`` NULL) counts as lagging ``mysql-monitor_slave_lag_when_null`` seconds,
  set one above the bound, so it leaves the read pool too;
- the application account defaults to the writer hostgroup; two query rules send ``SELECT ... FOR UPDATE`` to
  the writers and every other ``SELECT`` to the readers.

Passwords are parameters (they come from Pulumi secrets) and land in this file only, which is therefore to be
written with ``FILE_MODE`` (0600). They may not contain ``:`` or ``;`` (``admin_credentials`` is ``user:password;...``), a quote or a
backslash (libconfig strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from components.configurator import proxy_values as v
from components.configurator.placement import Placement
from components.configurator.render import UnsafeValue, render_template

LISTENERS = ("sql", "admin")
CONFIG_FILE = "proxysql.cnf"
FILE_MODE = 0o600
WRITER_HOSTGROUP, READER_HOSTGROUP = 10, 20
REPLICA_WEIGHT, PRIMARY_READ_WEIGHT = 1000, 1
# Query rules, in the order ProxySQL applies them (by rule_id); a query no rule matches goes to the user's
# default hostgroup, the writers.
LOCKING_READ_DIGEST, READ_DIGEST = "^SELECT.*FOR UPDATE", "^SELECT"
_SECRET_FORBIDDEN = ":;\"'\\"


@dataclass(frozen=True)
class ServerRow:
    """One row of ``mysql_servers``."""

    hostgroup: int
    name: str
    host: str
    port: int
    weight: int
    max_replication_lag: int


def listener_names() -> tuple[str, ...]:
    return LISTENERS


def render_proxysql_cnf(*, cluster: str, name: str, placement: Placement, primary: v.Backend,
                        replicas: list[v.Backend], admin_user: str, admin_password: str, monitor_user: str,
                        monitor_password: str, app_user: str, app_password: str, max_lag: int,
                        writer_hostgroup: int = WRITER_HOSTGROUP, reader_hostgroup: int = READER_HOSTGROUP,
                        threads: int = 2, max_connections: int = 2048) -> str:
    """Listeners on the placement's ``bind`` address when it has one, else on its host; ``max_lag`` is the
    replication lag (seconds, at least 1: 0 would turn ProxySQL's lag check off) above which a replica is
    shunned. Every value is checked (``UnsafeValue`` otherwise)."""
    for what, value in [("cluster", cluster), ("name", name)]:
        v.name(what, value)
    bind = placement.extra.get("bind") or placement.host
    ports = v.listener_ports(placement, LISTENERS)
    nodes = v.backends(primary, replicas)
    users = {"admin user": admin_user, "monitor user": monitor_user, "application user": app_user}
    for what, user in users.items():
        v.account(what, user)
    if len({u.lower() for u in users.values()}) != len(users):
        raise UnsafeValue(f"refusing to render ProxySQL accounts {sorted(users.values())}: the admin, monitor and "
                          "application accounts must differ (an admin account may not be a MySQL user)")
    for what, secret in [("admin password", admin_password), ("monitor password", monitor_password),
                         ("application password", app_password)]:
        v.secret(what, secret, _SECRET_FORBIDDEN)
    for what, hostgroup in [("writer hostgroup", writer_hostgroup), ("reader hostgroup", reader_hostgroup)]:
        v.whole_number(what, hostgroup)
    if writer_hostgroup == reader_hostgroup:
        raise UnsafeValue(f"refusing to render hostgroup {writer_hostgroup} as both writer and reader")
    v.whole_number("a replication lag bound", max_lag, minimum=1)
    v.whole_number("a thread count", threads, minimum=1)
    v.whole_number("a connection limit", max_connections, minimum=1)
    root = PurePosixPath(v.absolute_path("proxy directory", placement.dir))
    head, readers = nodes[0], nodes[1:]
    servers = [ServerRow(writer_hostgroup, head.name, head.host, head.port, REPLICA_WEIGHT, 0)]
    servers += [ServerRow(reader_hostgroup, r.name, r.host, r.port, REPLICA_WEIGHT, max_lag) for r in readers]
    servers.append(ServerRow(reader_hostgroup, head.name, head.host, head.port,
                             PRIMARY_READ_WEIGHT if readers else REPLICA_WEIGHT, 0))
    return render_template(
        "proxysql.cnf.j2",
        cluster=cluster,
        name=name,
        datadir=str(root / "data"),
        errorlog=str(root / "proxysql.log"),
        listen={listener: v.host_port(bind, port) for listener, port in ports.items()},
        admin_user=admin_user,
        admin_password=admin_password,
        monitor_user=monitor_user,
        monitor_password=monitor_password,
        app_user=app_user,
        app_password=app_password,
        servers=servers,
        writer_hostgroup=writer_hostgroup,
        reader_hostgroup=reader_hostgroup,
        lag_when_null=max_lag + 1,
        threads=threads,
        max_connections=max_connections,
        locking_read_digest=LOCKING_READ_DIGEST,
        read_digest=READ_DIGEST,
    )
