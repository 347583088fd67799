"""Grants a stack gives the accounts it asks for (``bootstrap.sponsorUser``, ``bootstrap.appUser``): parsed and
checked before anything is touched, so that no account replstack creates for people or clients can write on a
replica or make itself an administrator.

- Never ``SUPER`` nor ``READ_ONLY ADMIN`` (they write whatever ``read_only`` says), nor ``ALL`` on ``*.*`` (which
  holds them), nor ``GRANT OPTION``.
- On ``*.*`` only privileges that read or monitor: a write privilege there writes the ``mysql`` schema too, i.e.
  the accounts and their privileges.
- On a database or table: any privilege a database or table has, except on the server's own schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Privileges a grant on a database (or its tables) may hold.
DATABASE_PRIVILEGES = (
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX", "ALTER", "CREATE TEMPORARY TABLES",
    "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "TRIGGER",
    "REFERENCES", "DELETE HISTORY", "ALL", "ALL PRIVILEGES",
)
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX", "ALTER", "CREATE VIEW",
                    "SHOW VIEW", "TRIGGER", "REFERENCES", "DELETE HISTORY", "ALL", "ALL PRIVILEGES")
# What an account may hold on *.*: reading and monitoring only.
GLOBAL_PRIVILEGES = ("SELECT", "SHOW VIEW", "SHOW DATABASES", "PROCESS", "SLAVE MONITOR", "REPLICA MONITOR",
                     "BINLOG MONITOR", "REPLICATION CLIENT")
NEVER = {"SUPER": "writes on a read-only replica and administers the server",
         "READ_ONLY ADMIN": "writes on a read-only replica",
         "GRANT OPTION": "hands privileges on to other accounts"}
SYSTEM_SCHEMAS = ("mysql", "sys", "performance_schema", "information_schema")

# The default of bootstrap.sponsorUser.grants: read and monitor everything, write nothing.
SPONSOR_DEFAULT = "SELECT, SHOW VIEW, SHOW DATABASES, PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.*"
# The default of bootstrap.appUser.privileges, on each of its databases.
APP_DEFAULT = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX", "ALTER",
               "CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW", "TRIGGER"]

_IDENT = r"[A-Za-z0-9_$]{1,64}"
_GRANT = re.compile(rf"^\s*(?P<privs>.+?)\s+ON\s+(?P<target>\*\.\*|{_IDENT}\.\*|{_IDENT}\.{_IDENT})\s*$", re.I)


@dataclass(frozen=True)
class Grant:
    privileges: tuple[str, ...]
    target: str  # *.*, db.* or db.table

    def sql(self) -> str:
        """``PRIVS ON `db`.`table``` for ``GRANT ... TO``: names quoted, privileges from the closed lists above."""
        if self.target == "*.*":
            on = "*.*"
        else:
            db, table = self.target.split(".", 1)
            on = f"`{db}`." + ("*" if table == "*" else f"`{table}`")
        return f"{', '.join(self.privileges)} ON {on}"


def _privilege(text: str) -> str:
    return " ".join(text.upper().split())


def parse(text: str) -> Grant:
    """One grant, ``PRIVILEGE[, PRIVILEGE...] ON *.*|db.*|db.table``; ValueError saying why it is refused."""
    match = _GRANT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not '<privileges> ON <target>' with a target *.*, db.* or db.table "
                         "(letters, digits, _ and $; no quotes, no WITH GRANT OPTION)")
    privileges = tuple(_privilege(p) for p in match["privs"].split(","))
    target = match["target"]
    for privilege in privileges:
        if privilege in NEVER:
            raise ValueError(f"{text!r}: {privilege} is refused: it {NEVER[privilege]}")
    if target == "*.*":
        wrong = [p for p in privileges if p not in GLOBAL_PRIVILEGES]
        if wrong:
            raise ValueError(f"{text!r}: {', '.join(wrong)} on *.* is refused: on *.* only reading and monitoring "
                             f"({', '.join(GLOBAL_PRIVILEGES)}); a write there writes the mysql schema (accounts and "
                             "their privileges) too, and ALL holds SUPER; grant it on a database (db.*) instead")
    else:
        database, table = target.split(".", 1)
        if database.lower() in SYSTEM_SCHEMAS:
            raise ValueError(f"{text!r}: the server's own schema {database!r} is refused; allowed: your databases")
        allowed = DATABASE_PRIVILEGES if table == "*" else TABLE_PRIVILEGES
        wrong = [p for p in privileges if p not in allowed]
        if wrong:
            raise ValueError(f"{text!r}: {', '.join(wrong)} is not a privilege of a "
                             f"{'database' if table == '*' else 'table'}; allowed: {', '.join(allowed)}")
    return Grant(privileges, target)


def database_grants(databases: list[str], privileges: list[str]) -> list[Grant]:
    """The application account's grants: ``privileges`` on each of ``databases``."""
    return [parse(f"{', '.join(privileges)} ON {db}.*") for db in databases]
