"""What a ProxySQL routes, read from its admin interface: the rows of ``runtime_mysql_servers``, the servers and
statuses ProxySQL uses now (after its monitor moved or shunned them), not the configured ``mysql_servers``.

The reader is a pure function of the rows, so it is tested against recorded answers; fetching them is one query
over a MySQL-protocol connection to the admin listener (``fetch_runtime_servers``), made by the caller with the
admin account. ProxySQL's admin interface answers every column as text; the reader converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from components.configurator.proxysql import READER_HOSTGROUP, WRITER_HOSTGROUP

RUNTIME_SERVERS_QUERY = "SELECT hostgroup_id, hostname, port, status FROM runtime_mysql_servers"
# ProxySQL's documented server statuses: only ONLINE takes new connections.
STATUSES = ("ONLINE", "SHUNNED", "OFFLINE_SOFT", "OFFLINE_HARD")


@dataclass(frozen=True)
class ServerStatus:
    hostgroup: int
    backend: str   # "write" or "read" for the writer and reader hostgroups (HAProxy's backend names), else the id
    server: str    # the node's name when the caller knows its address, else "host:port"
    status: str    # ONLINE, SHUNNED (lagging or unreachable), OFFLINE_SOFT, OFFLINE_HARD

    @property
    def healthy(self) -> bool:
        return self.status == "ONLINE"


def server_statuses(rows: Sequence[Mapping[str, Any]], *, names: Mapping[tuple[str, int], str] | None = None,
                    writer_hostgroup: int = WRITER_HOSTGROUP,
                    reader_hostgroup: int = READER_HOSTGROUP) -> list[ServerStatus]:
    """One status per row of ``RUNTIME_SERVERS_QUERY``. ``names`` maps ``(address, port)`` to node names.
    A row without one of the four columns, or with a status ProxySQL does not document, raises ``ValueError``
    naming it: a changed admin schema should fail the sync step loudly, not read as "not routed"."""
    backends = {writer_hostgroup: "write", reader_hostgroup: "read"}
    statuses = []
    for row in rows:
        try:
            hostgroup, host, port, status = (row["hostgroup_id"], row["hostname"], row["port"], row["status"])
            hostgroup, port, status = int(hostgroup), int(port), str(status).upper()
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"unexpected runtime_mysql_servers row {dict(row)!r}: {error}") from None
        if status not in STATUSES:
            raise ValueError(f"unexpected status {status!r} of {host}:{port} in runtime_mysql_servers")
        server = (names or {}).get((str(host), port), f"{host}:{port}")
        statuses.append(ServerStatus(hostgroup, backends.get(hostgroup, str(hostgroup)), server, status))
    return statuses


def fetch_runtime_servers(conn: Any) -> list[dict[str, Any]]:
    """The rows of ``RUNTIME_SERVERS_QUERY`` over an open PyMySQL connection (dict cursor) to the admin
    listener."""
    from components.sql import query

    return query(conn, RUNTIME_SERVERS_QUERY)
