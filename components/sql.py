"""SQL access to the database nodes through PyMySQL, with the settings every replstack step shares."""

from __future__ import annotations

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
