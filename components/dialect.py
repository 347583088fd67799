"""The SQL a running server of each flavor takes, for the steps that talk to live servers (the lifecycle, the
replication topology, the accounts). ``components.configurator.flavors`` holds the pure tables (names, versions,
statements); this module applies them on a connection.

MariaDB and MySQL (Percona Server is MySQL here) differ in what the steps rely on:

* GTIDs: MariaDB's are ``domain-server-sequence`` positions (``gtid_binlog_pos``, ``MASTER_GTID_WAIT``); MySQL's
  are ``uuid:interval`` sets (``gtid_executed``, ``GTID_SUBSET``, ``WAIT_FOR_EXECUTED_GTID_SET``).
* replica status: MySQL 8.0.22+ names its columns ``Source_*``/``Replica_*`` and, from 8.4, takes only
  ``SHOW REPLICA STATUS``; ``replica_status`` gives MariaDB's names for both, which the steps read.
* accounts: MariaDB takes a mysql_native_password hash (``IDENTIFIED BY PASSWORD``), so no statement carries a
  password; MySQL 9 has no such plugin: its accounts use caching_sha2_password, given the password over the node's
  socket, and MySQL writes only the hash to its binary, general and slow logs (statement rewriting).
* privileges: MariaDB's ``SLAVE MONITOR``/``BINLOG MONITOR``/``READ_ONLY ADMIN`` are MySQL's ``REPLICATION
  CLIENT`` and ``SUPER``/``CONNECTION_ADMIN``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pymysql

from components.configurator import flavors
from components.sql import BYPASS_READ_ONLY, execute, native_password_hash, query, variable

Connection = pymysql.connections.Connection

# MySQL's replica-status columns under MariaDB's names (the names the steps read).
_STATUS_NAMES = {"Source_Host": "Master_Host", "Source_Port": "Master_Port", "Replica_IO_Running": "Slave_IO_Running",
                 "Replica_SQL_Running": "Slave_SQL_Running", "Seconds_Behind_Source": "Seconds_Behind_Master",
                 "Relay_Source_Log_File": "Relay_Master_Log_File", "Exec_Source_Log_Pos": "Exec_Master_Log_Pos",
                 "Source_Log_File": "Master_Log_File", "Read_Source_Log_Pos": "Read_Master_Log_Pos"}


@dataclass(frozen=True)
class Dialect:
    flavor: str = "mariadb"
    version: flavors.Version = flavors.ASSUMED["mariadb"]

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> "Dialect":
        """The dialect a step's inputs name (``flavor``, ``serverVersion``); MariaDB when they name none, as
        every stack of an earlier version."""
        flavor = props.get("flavor") or "mariadb"
        version = props.get("serverVersion")
        return cls(flavor, flavors.parse_dotted(version) if version else flavors.ASSUMED[flavor])

    @property
    def mariadb(self) -> bool:
        return self.flavor == "mariadb"

    @property
    def inputs(self) -> dict[str, str]:
        """What a step's inputs carry for this dialect: nothing for MariaDB, so that its stacks keep theirs."""
        return {} if self.mariadb else {"flavor": self.flavor, "serverVersion": ".".join(map(str, self.version))}

    # -- accounts -------------------------------------------------------------------------------------------
    def identified(self, password: str) -> tuple[str, tuple[str]]:
        """The ``IDENTIFIED ...`` clause of CREATE/ALTER USER and its parameter."""
        if self.mariadb:
            return "IDENTIFIED BY PASSWORD %s", (native_password_hash(password),)
        return "IDENTIFIED BY %s", (password,)

    def set_password(self, conn: Connection, account: str, password: str) -> None:
        """The account exists with this password (created, or re-keyed when it had another)."""
        identified, secret = self.identified(password)
        execute(conn, f"CREATE USER IF NOT EXISTS {account} {identified}", secret)
        execute(conn, f"ALTER USER {account} {identified}", secret)

    def privileges(self, text: str) -> str:
        """A privilege list in this flavor's words (MariaDB's are replstack's own)."""
        if self.mariadb:
            return text
        words = {"SLAVE MONITOR": "REPLICATION CLIENT", "REPLICA MONITOR": "REPLICATION CLIENT",
                 "BINLOG MONITOR": "REPLICATION CLIENT", "READ_ONLY ADMIN": "CONNECTION_ADMIN"}
        out: list[str] = []
        for privilege in (p.strip() for p in text.split(",")):
            privilege = words.get(privilege.upper(), privilege)
            if privilege not in out:
                out.append(privilege)
        return ", ".join(out)

    def grant(self, text: str) -> str:
        """``PRIVILEGES ON target`` (a GRANT's middle) in this flavor's words."""
        privileges, on = text.rsplit(" ON ", 1)
        return f"{self.privileges(privileges)} ON {on}"

    @property
    def bypass_read_only(self) -> tuple[str, ...]:
        """The privileges that write whatever read_only says."""
        return BYPASS_READ_ONLY if self.mariadb else ("SUPER", "CONNECTION_ADMIN")

    def replication_grant(self, account: str) -> str:
        return flavors.replication_grant(self.flavor, account)

    # -- replication ----------------------------------------------------------------------------------------
    def replica(self, action: str) -> str:
        """``start``, ``stop``, ``reset`` or ``status`` in this flavor's words."""
        if self.mariadb:
            return {"start": "START SLAVE", "stop": "STOP SLAVE", "reset": "RESET SLAVE ALL",
                    "status": "SHOW SLAVE STATUS"}[action]
        return flavors.replica_command(self.flavor, self.version, action)

    def replica_status(self, conn: Connection) -> dict[str, Any] | None:
        """The node's replica status with MariaDB's column names, or None when it has no source."""
        rows = query(conn, self.replica("status"))
        if not rows:
            return None
        return {_STATUS_NAMES.get(k, k): v for k, v in rows[0].items()}

    def change_source(self, *, host: str, port: int, user: str, password: str) -> flavors.Statement:
        return flavors.change_source(self.flavor, self.version, host=host, port=port, user=user, password=password)

    def semi_sync(self, role: str) -> str:
        """``source`` or ``replica``: the global variable that turns semi-sync on for that role."""
        if self.mariadb or self.version < (8, 0, 26):
            return {"source": "rpl_semi_sync_master_enabled", "replica": "rpl_semi_sync_slave_enabled"}[role]
        return {"source": "rpl_semi_sync_source_enabled", "replica": "rpl_semi_sync_replica_enabled"}[role]

    # -- GTIDs ----------------------------------------------------------------------------------------------
    def position(self, conn: Connection) -> str:
        """Every transaction the node has logged or applied, as the flavor writes a GTID position."""
        return variable(conn, "gtid_binlog_pos" if self.mariadb else "gtid_executed").replace("\n", "")

    def current_position(self, conn: Connection) -> str:
        """Every transaction the node has applied, replicated or its own (MariaDB's gtid_current_pos); empty
        for a node with no history."""
        return variable(conn, "gtid_current_pos") if self.mariadb else self.position(conn)

    def caught_up(self, conn: Connection, target: str, timeout: float = 0) -> bool:
        """Whether the node has applied ``target`` (a position of another node), waiting up to ``timeout``."""
        if self.mariadb:
            return query(conn, "SELECT MASTER_GTID_WAIT(%s, %s) AS r", (target, timeout))[0]["r"] == 0
        if timeout <= 0:
            return bool(query(conn, "SELECT GTID_SUBSET(%s, @@GLOBAL.gtid_executed) AS r", (target,))[0]["r"])
        return query(conn, "SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s) AS r", (target, timeout))[0]["r"] == 0

    def own_transactions(self, conn: Connection) -> str:
        """The transactions the node wrote itself (a replica should have none): MariaDB's entries of its
        server_id, MySQL's of its server_uuid."""
        if self.mariadb:
            server = variable(conn, "server_id")
            return ",".join(g for g in variable(conn, "gtid_binlog_pos").split(",")
                            if g.count("-") == 2 and g.split("-")[1] == server)
        uuid = variable(conn, "server_uuid")
        return ",".join(part.strip() for part in self.position(conn).split(",") if part.strip().startswith(uuid))

    def not_applied(self, primary: Connection, gtids: str) -> str:
        """The part of ``gtids`` (a node's own transactions) that ``primary`` has not applied: MySQL subtracts
        the primary's set; MariaDB compares each entry's sequence with the last one of its domain and server in
        the primary's binary-log state."""
        if not self.mariadb:
            return str(query(primary, "SELECT GTID_SUBTRACT(%s, @@GLOBAL.gtid_executed) AS r", (gtids,))[0]["r"]
                       or "")
        seen = {}
        for gtid in variable(primary, "gtid_binlog_state").split(","):
            if gtid.count("-") == 2:
                domain, server, seq = gtid.split("-")
                seen[(domain, server)] = int(seq)
        return ",".join(g for g in gtids.split(",")
                        if g.count("-") == 2 and seen.get(tuple(g.split("-")[:2]), -1) < int(g.split("-")[2]))

    def start_from_own_history(self, conn: Connection) -> None:
        """Before a node with history of its own is pointed at a source: MariaDB continues from its current
        position; MySQL's auto-position sends what the node's gtid_executed lacks, nothing to do."""
        if self.mariadb:
            execute(conn, "SET GLOBAL gtid_slave_pos = @@gtid_current_pos")

    def missing_history(self, conn: Connection) -> str:
        """What the primary can no longer send an empty replica: the GTIDs its first binary log starts after
        (MariaDB) or that it has purged (MySQL); empty when a replica can start from nothing."""
        if not self.mariadb:
            return variable(conn, "gtid_purged").replace("\n", "")
        logs = query(conn, "SHOW BINARY LOGS")
        if not logs:
            return ""
        return str(query(conn, "SELECT BINLOG_GTID_POS(%s, 4) AS pos", (logs[0]["Log_name"],))[0]["pos"] or "")
