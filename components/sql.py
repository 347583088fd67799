"""SQL access to the database nodes through PyMySQL, with the settings every replstack step shares."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pymysql
import pymysql.cursors


@dataclass(frozen=True)
class Endpoint:
    """How to reach one server as one user."""

    host: str
    port: int
    user: str
    password: str = ""
    unix_socket: str | None = None
    # How the engine reaches the server's host (the control channel): None for this machine, else the
    # backend's access to it (e.g. SSH), over which the connection is forwarded.
    access: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    # Or the host object itself, when the caller has one (a lifecycle): its control channel is used.
    via: Any = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"

    @classmethod
    def of_node(cls, node: Mapping[str, Any], user: str, password: str) -> "Endpoint":
        """A node as the bootstrap steps pass it ({name, host, port, access, ...}; ports from state may be
        floats)."""
        return cls(host=node["host"], port=int(node["port"]), user=user, password=password,
                   access=node.get("access"))

    @classmethod
    def admin_of_node(cls, node: Mapping[str, Any], user: str, password: str) -> "Endpoint":
        """How the bootstrap steps administer a node: through its unix socket as the OS account that runs it
        on its host (unix_socket authentication, no password, not reachable over TCP nor through a proxy). A
        node recorded by an earlier version, whose socket is not known, is reached over TCP with
        ``user``/``password``."""
        if node.get("socket"):
            from components.orchestrators.hosts import host_for, os_user_of

            return cls(host="localhost", port=0, user=os_user_of(host_for(node.get("access"))),
                       unix_socket=str(node["socket"]), access=node.get("access"))
        return cls.of_node(node, user, password)


# Privileges that let an account write on a server whatever read_only says (SUPER implies READ_ONLY ADMIN in
# MariaDB 10.11): no account replstack creates for clients has them.
BYPASS_READ_ONLY = ("SUPER", "READ_ONLY ADMIN")


# "Variable is a GLOBAL variable and should be set with SET GLOBAL".
ER_GLOBAL_VARIABLE = 1229


def native_password_hash(password: str) -> str:
    """The mysql_native_password hash of ``password``, as ``IDENTIFIED BY PASSWORD`` takes it: statements that
    create or re-key an account carry only this, so binary, relay and general logs never see the password."""
    inner = hashlib.sha1(password.encode("latin-1")).digest()
    return "*" + hashlib.sha1(inner).hexdigest().upper()


def quiet_session(conn: "pymysql.connections.Connection", binlog: bool) -> None:
    """A session whose statements stay out of the general and slow query logs (they carry credentials), and
    out of the binary log too unless ``binlog`` (then each statement must carry only a password hash)."""
    execute(conn, "SET SESSION sql_log_off = 1")
    try:
        execute(conn, "SET SESSION slow_query_log = 0")
    except pymysql.err.OperationalError as error:
        if error.args[0] != ER_GLOBAL_VARIABLE:
            raise
        # MySQL has no per-session slow log switch (and rewrites passwords in it): a session slower than a
        # year is never logged as slow.
        execute(conn, "SET SESSION long_query_time = 31536000")
    if not binlog:
        execute(conn, "SET SESSION sql_log_bin = 0")


@contextmanager
def connect(endpoint: Endpoint, *, timeout: float = 5.0) -> Iterator[pymysql.connections.Connection]:
    """A connection to ``endpoint``, through its host's control channel when the host is not this machine."""
    if endpoint.via is None and (endpoint.access or {}).get("transport", "local") == "local":
        with _connect(endpoint, endpoint.host, endpoint.port, endpoint.unix_socket, timeout) as conn:
            yield conn
        return
    from components.orchestrators.hosts import host_for

    host = endpoint.via if endpoint.via is not None else host_for(endpoint.access)
    channel = host.forward_unix(endpoint.unix_socket) if endpoint.unix_socket else \
        host.forward_tcp(endpoint.host, endpoint.port)
    with channel as (local_host, local_port), _connect(endpoint, local_host, local_port, None, timeout) as conn:
        yield conn


@contextmanager
def _connect(endpoint: Endpoint, host: str, port: int, unix_socket: str | None,
             timeout: float) -> Iterator[pymysql.connections.Connection]:
    conn = pymysql.connect(
        host=host,
        port=port,
        user=endpoint.user,
        password=endpoint.password,
        unix_socket=unix_socket,
        connect_timeout=timeout,
        read_timeout=max(timeout, 30),
        write_timeout=max(timeout, 30),
        autocommit=True,
        cursorclass=pymysql.cursors.DictCursor,
    )
    try:
        yield conn
    finally:
        conn.close()


def query(conn: pymysql.connections.Connection, sql: str, args: Any = ()) -> list[dict[str, Any]]:
    """Runs ``sql`` as a PyMySQL format string (``%s`` for values, ``%%`` for a literal percent sign), always,
    so that account names from ``quote_account`` read the same with or without values."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def execute(conn: pymysql.connections.Connection, sql: str, args: Any = ()) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, args)


def variable(conn: pymysql.connections.Connection, name: str) -> str:
    """A global variable's value (names come from replstack's own code, never from input)."""
    rows = query(conn, f"SELECT @@GLOBAL.{name} AS v")
    return "" if rows[0]["v"] is None else str(rows[0]["v"])


def account_grants(conn: pymysql.connections.Connection, account: str) -> str:
    """Every grant of ``account`` (``quote_account``'s form) as one upper-case text, to look privileges up in."""
    return " ".join(str(v) for row in query(conn, f"SHOW GRANTS FOR {account}") for v in row.values()).upper()


def quote_account(user: str, host: str) -> str:
    """``'user'@'host'`` for account statements, as a fragment of a format string for ``query``/``execute``;
    user names are validated by the spec (letters, digits, _) and hosts are addresses or '%', so plain quoting
    is enough."""
    for part in (user, host):
        if "'" in part or "\\" in part:
            raise ValueError(f"unsafe account name part {part!r}")
    return f"'{user}'@'{host}'".replace("%", "%%")
