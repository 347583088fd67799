"""haproxy.cfg: a write port routed to the node that takes writes (the primary), a read port balanced over the
replicas (leastconn), health
checks that log in, a read-only stats page, and the runtime API on a unix socket in the proxy's directory only
(mode 0600: the operator's account; the proxy-sync step reads it through the host transport). There is no TCP
runtime API: on a TCP port any local user could drive the proxy.

Health checks: HAProxy's own ``mysql-check`` can only log in without a password, and a password-less account
can be used by anyone who reaches a server (through the proxy's own write port, too) and re-keyed by its own
session (``SET PASSWORD``), which fails every check. So the checks are HAProxy *external checks*: HAProxy runs
``mysql-check.sh`` (rendered beside the config) for each server, which logs in with the check account and its
generated password read from ``check.cnf`` (an option file, mode 0600, the operator's only; never on a command
line), and says whether the server may take traffic: on the write side a node whose read_only is off (every
node is listed there, the primary first, ``balance first``: a switchover is followed within a check interval, and
the demoted primary's sessions are cut so that clients reconnect to the new one), on the read side a replica
when its SQL thread runs and its replication lags at most ``max_lag`` seconds, the primary (a backup server
there) when it answers."""

from __future__ import annotations

import ipaddress
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
# Files beside haproxy.cfg: the health-check command HAProxy runs and the option file it logs in with.
CHECK_COMMAND, CHECK_OPTIONS = "mysql-check.sh", "check.cnf"
# Modes of those files: the check command is run by HAProxy (the operator's account), the option file holds a
# password.
FILE_MODES = {CHECK_COMMAND: 0o700, CHECK_OPTIONS: 0o600}
# One word of a haproxy.cfg line: no space (a new keyword), no '#' (a comment), no quote, backslash or '$'
# (HAProxy's quoting, escapes and environment variables).
_WORD = re.compile(r"[^\s#'\"\\$]+")
# A DNS name of lower-case labels (as Kubernetes names pods and Services).
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*")


@dataclass(frozen=True)
class Backend:
    """A database node as the proxy sees it."""

    name: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return host_port(self.host, self.port)


def host_port(host: str, port: int) -> str:
    """``127.0.0.1:3306``, ``[::1]:3306``: an address as HAProxy reads it (an IPv6 address in brackets), for
    IP addresses and DNS names (the kube backend's pods) only (``UnsafeValue`` otherwise)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if _DNS_NAME.fullmatch(host) and len(host) <= 253 and not host.replace(".", "").isdigit():
            return f"{host}:{int(port)}"
        raise UnsafeValue(f"refusing to render {host!r} as an address in haproxy.cfg: not an IP address or a DNS "
                          "name") from None
    return f"[{ip.compressed}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


@dataclass(frozen=True)
class HAProxyPaths(ServicePaths):
    @property
    def check_command(self) -> str:
        return str(PurePosixPath(self.dir) / CHECK_COMMAND)

    @property
    def check_options(self) -> str:
        return str(PurePosixPath(self.dir) / CHECK_OPTIONS)


def haproxy_paths(placement: Placement) -> HAProxyPaths:
    root = PurePosixPath(placement.dir)
    return HAProxyPaths(config=str(root / "haproxy.cfg"), pid_file=str(root / "haproxy.pid"),
                        socket=socket_path(placement.dir, "admin.sock"))


def render_haproxy_cfg(*, cluster: str, name: str, placement: Placement, primary: Backend,
                       replicas: list[Backend], maxconn: int = 4096, primary_reads: bool = False) -> str:
    """The read side balances over the replicas, with the primary as a backup server that takes reads only
    when no replica is up (and as the only reader of a cluster without replicas); with ``primary_reads``
    (multi-master and ring topologies, where every node is a source) over every node, the primary included.
    Services listen on the placement's ``bind`` address when it has one (a wildcard the stack allows), else on its
    host. Every value is one word of its line (``UnsafeValue`` otherwise), whatever validated it before."""
    paths = haproxy_paths(placement)
    bind = placement.extra.get("bind") or placement.host
    for what, value in [("cluster", cluster), ("name", name), ("address", placement.host), ("bind address", bind),
                        ("config", paths.config), ("pid file", paths.pid_file), ("socket", paths.socket),
                        ("check command", paths.check_command)] + [
                            (f"server {b.name}", v) for b in [primary, *replicas] for v in (b.name, b.host)]:
        _word(what, value)
    _ports(placement, [primary, *replicas])
    return render_template(
        "haproxy.cfg.j2",
        cluster=cluster,
        name=name,
        listen={port_name: host_port(bind, port) for port_name, port in placement.ports.items()},
        paths=paths,
        primary=primary,
        readers=replicas or [primary],
        primary_reads=primary_reads,
        maxconn=maxconn,
        write_backend=WRITE_BACKEND,
        read_backend=READ_BACKEND,
    )


# A replica's status in each flavor's words: MySQL takes only SHOW REPLICA STATUS from 8.4 and names the columns
# Replica_*/Source_* from 8.0.22 (the servers replstack runs MySQL from).
_STATUS_WORDS = {
    "mariadb": {"status_sql": "SHOW SLAVE STATUS", "io_column": "Slave_IO_Running",
                "sql_column": "Slave_SQL_Running", "lag_column": "Seconds_Behind_Master"},
    "mysql": {"status_sql": "SHOW REPLICA STATUS", "io_column": "Replica_IO_Running",
              "sql_column": "Replica_SQL_Running", "lag_column": "Seconds_Behind_Source"},
}
_STATUS_WORDS["percona"] = _STATUS_WORDS["mysql"]


def render_check_files(*, cluster: str, name: str, placement: Placement, primary: str, check_user: str,
                       check_password: str, client: str, max_lag: int, flavor: str = "mariadb") -> dict[str, str]:
    """The health-check command HAProxy runs for each server and the option file it logs in with, by file name
    (written beside haproxy.cfg with ``FILE_MODES``). ``primary`` is the primary's server name: it is checked
    for answering, every other server for replicating within ``max_lag`` seconds."""
    paths = haproxy_paths(placement)
    for what, value in [("cluster", cluster), ("name", name), ("primary", primary), ("check user", check_user),
                        ("client", client), ("option file", paths.check_options)]:
        _word(what, value)
    if not re.fullmatch(r"[A-Za-z0-9_]+", check_user):
        raise UnsafeValue(f"refusing to render check user {check_user!r}: letters, digits and '_' only")
    if not (check_password.isascii() and check_password.isprintable() and _WORD.fullmatch(check_password)):
        raise UnsafeValue("refusing to render the check password: it must be one word of printable ASCII")
    if not (isinstance(max_lag, int) and max_lag >= 0):
        raise UnsafeValue(f"refusing to render {max_lag!r} as a replication lag bound: not a number of seconds")
    script = render_template("mysql-check.sh.j2", cluster=cluster, name=name, primary=primary, client=client,
                             options=paths.check_options, max_lag=max_lag,
                             write_backend=WRITE_BACKEND, **_STATUS_WORDS[flavor])
    options = render_template("check.cnf.j2", cluster=cluster, name=name, user=check_user, password=check_password)
    return {CHECK_COMMAND: script, CHECK_OPTIONS: options}


def _ports(placement: Placement, servers: list[Backend]) -> None:
    for what, port in [*placement.ports.items(), *((b.name, b.port) for b in servers)]:
        if not (isinstance(port, int) and 0 < port < 65536):
            raise UnsafeValue(f"refusing to render port {port!r} of {what}: not a TCP port number")


def _word(what: str, value: str) -> None:
    if not (_WORD.fullmatch(value) and value.isprintable()):
        raise UnsafeValue(f"refusing to render {what} {value!r} in haproxy.cfg: a value must be one word "
                          "(no space, '#', quote, backslash or '$')")
