"""SQL access to the database nodes through PyMySQL, with the settings every replstack step shares."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
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

    def describe(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"

    @classmethod
    def of_node(cls, node: Mapping[str, Any], user: str, password: str) -> "Endpoint":
        """A node as the bootstrap steps pass it ({name, host, port, ...}; ports from state may be floats)."""
        return cls(host=node["host"], port=int(node["port"]), user=user, password=password)

    @classmethod
    def admin_of_node(cls, node: Mapping[str, Any], os_user: str, user: str, password: str) -> "Endpoint":
        """How the bootstrap steps administer a node: through its unix socket as the OS account that runs it
        (unix_socket authentication, no password, not reachable over TCP nor through a proxy). A node recorded
        by an earlier version, whose socket is not known, is reached over TCP with ``user``/``password``."""
        if node.get("socket"):
            return cls(host="localhost", port=0, user=os_user, unix_socket=str(node["socket"]))
        return cls.of_node(node, user, password)


# Privileges that let an account write on a server whatever read_only says (SUPER implies READ_ONLY ADMIN in
# MariaDB 10.11): no account replstack creates for clients has them.
BYPASS_READ_ONLY = ("SUPER", "READ_ONLY ADMIN")


def native_password_hash(password: str) -> str:
    """The mysql_native_password hash of ``password``, as ``IDENTIFIED BY PASSWORD`` takes it: statements that
    create or re-key an account carry only this, so binary, relay and general logs never see the password."""
    inner = hashlib.sha1(password.encode("latin-1")).digest()
    return "*" + hashlib.sha1(inner).hexdigest().upper()


def quiet_session(conn: "pymysql.connections.Connection", binlog: bool) -> None:
    """A session whose statements stay out of the general and slow query logs (they carry credentials), and
    out of the binary log too unless ``binlog`` (then each statement must carry only a password hash)."""
    execute(conn, "SET SESSION sql_log_off = 1")
    execute(conn, "SET SESSION slow_query_log = 0")
    if not binlog:
        execute(conn, "SET SESSION sql_log_bin = 0")


@contextmanager
def connect(endpoint: Endpoint, *, timeout: float = 5.0) -> Iterator[pymysql.connections.Connection]:
    conn = pymysql.connect(
        host=endpoint.host,
        port=endpoint.port,
        user=endpoint.user,
        password=endpoint.password,
        unix_socket=endpoint.unix_socket,
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


def quote_account(user: str, host: str) -> str:
    """``'user'@'host'`` for account statements, as a fragment of a format string for ``query``/``execute``;
    user names are validated by the spec (letters, digits, _) and hosts are addresses or '%', so plain quoting
    is enough."""
    for part in (user, host):
        if "'" in part or "\\" in part:
            raise ValueError(f"unsafe account name part {part!r}")
    return f"'{user}'@'{host}'".replace("%", "%%")
