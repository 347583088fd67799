"""What differs between the server flavors replstack knows (``database.flavor``: mariadb, mysql, percona): pure
functions from a flavor and a server version to commands, SQL and my.cnf settings. No I/O.

* the server binary and its version, read from ``<binaryDir>/<binary> --version`` (``parse_version``);
* how a data directory is made: ``mariadb-install-db`` for MariaDB, ``mysqld --initialize-insecure`` for MySQL and
  Percona Server (``install_command``);
* replication SQL: MariaDB's ``CHANGE MASTER ... MASTER_USE_GTID = slave_pos``; MySQL's GTID auto-position, as
  ``CHANGE MASTER TO ... MASTER_AUTO_POSITION = 1`` before 8.0.23 and ``CHANGE REPLICATION SOURCE TO ...
  SOURCE_AUTO_POSITION = 1`` from 8.0.23 (``START REPLICA`` and ``SHOW REPLICA STATUS`` from 8.0.22);
* variable names: the generated (MariaDB) settings renamed, converted or dropped for MySQL and Percona
  (``flavor_settings``), then checked against the table of variables each flavor accepts (``unknown_variables``);
* semi-synchronous replication: built into MariaDB; MySQL and Percona load ``semisync_source``/``semisync_replica``
  (8.0.26+) or ``semisync_master``/``semisync_slave`` plugins, whose variables are named accordingly.

MySQL and Percona Server are not installable on the hosts replstack is tested on: these functions are tested
against golden files and the servers' documented syntax only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

Version = tuple[int, int, int]

SERVER_BINARIES = {"mariadb": "mariadbd", "mysql": "mysqld", "percona": "mysqld"}
# The my.cnf section each server reads first.
CONFIG_SECTIONS = {"mariadb": "mariadbd", "mysql": "mysqld", "percona": "mysqld"}
# The version assumed when a stack names none (no binary to ask): the current 8.0 releases.
ASSUMED = {"mariadb": (10, 11, 0), "mysql": (8, 0, 36), "percona": (8, 0, 36)}
# The oldest release each flavor is supported from (GTID replication as replstack uses it).
MINIMUM = {"mariadb": (10, 6, 0), "mysql": (8, 0, 0), "percona": (8, 0, 0)}


class FlavorError(ValueError):
    """A flavor, version or setting that cannot be used; the message says why."""


@dataclass(frozen=True)
class ServerVersion:
    flavor: str
    version: Version
    text: str

    @property
    def dotted(self) -> str:
        return ".".join(map(str, self.version))


_VERSION_LINE = re.compile(r"\bVer\s+(\d+)\.(\d+)\.(\d+)(\S*)")


def parse_version(text: str) -> ServerVersion:
    """The flavor and version a server's ``--version`` line names: MariaDB says ``-MariaDB`` after the number,
    Percona Server names itself, anything else is MySQL."""
    found = _VERSION_LINE.search(text)
    if not found:
        raise FlavorError(f"{text.strip()!r} is not a server's --version line (no 'Ver X.Y.Z')")
    version = (int(found.group(1)), int(found.group(2)), int(found.group(3)))
    if "mariadb" in (found.group(4) + text).lower():
        flavor = "mariadb"
    elif "percona" in text.lower():
        flavor = "percona"
    else:
        flavor = "mysql"
    return ServerVersion(flavor, version, " ".join(text.split()))


def parse_dotted(version: str) -> Version:
    """``8.0.36`` (or ``8.0``, ``8.0.36-28``) as a tuple."""
    numbers = [int(n) for n in re.findall(r"\d+", version.split("-", 1)[0])[:3]]
    if len(numbers) < 2:
        raise FlavorError(f"{version!r} is not a version; allowed: major.minor[.patch], e.g. 8.0.36")
    return tuple((numbers + [0])[:3])  # type: ignore[return-value]


def check_supported(flavor: str, version: Version) -> None:
    if version < MINIMUM[flavor]:
        raise FlavorError(f"{flavor} {'.'.join(map(str, version))} is older than replstack supports; allowed: "
                          f"{'.'.join(map(str, MINIMUM[flavor]))} or later")


# -- installing a data directory --------------------------------------------------------------------------------
def install_command(flavor: str, *, binary_dir: str, defaults_file: str, os_user: str,
                    install_db: str = "/usr/bin/mariadb-install-db") -> list[str]:
    """The command that makes a node's data directory from its my.cnf (which names datadir). MariaDB's root
    logs in through the socket as the OS account; MySQL's and Percona's ``--initialize-insecure`` leave
    root@localhost without a password, which the first connection over the socket replaces."""
    if flavor == "mariadb":
        return [install_db, f"--defaults-file={defaults_file}", "--auth-root-authentication-method=socket",
                f"--auth-root-socket-user={os_user}", "--skip-test-db"]
    return [f"{binary_dir.rstrip('/')}/mysqld", f"--defaults-file={defaults_file}", "--initialize-insecure"]


# -- replication SQL --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One SQL statement and its parameters (``%s`` placeholders, quoted by the client library)."""

    sql: str
    params: tuple[object, ...] = ()


def _mysql_source_syntax(version: Version) -> bool:
    return version >= (8, 0, 23)


def _mysql_replica_words(version: Version) -> bool:
    return version >= (8, 0, 22)


def change_source(flavor: str, version: Version, *, host: str, port: int, user: str, password: str,
                  gtid: bool = True, log_file: str | None = None, log_pos: int | None = None) -> Statement:
    """Point a replica at its source: by GTID (MariaDB's slave_pos, MySQL's auto-position), or at binary-log
    coordinates when ``gtid`` is false."""
    if not gtid and (log_file is None or log_pos is None):
        raise FlavorError("positional replication needs the source's log_file and log_pos")
    account = (host, int(port), user, password)
    if flavor == "mariadb":
        sql = ("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s, "
               "MASTER_CONNECT_RETRY = 2, ")
        if gtid:
            return Statement(sql + "MASTER_USE_GTID = slave_pos", account)
        return Statement(sql + "MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s, MASTER_USE_GTID = no",
                         (*account, log_file, int(log_pos)))  # type: ignore[arg-type]
    # MySQL 8 accounts use caching_sha2_password: without TLS the replica asks the source for its public key.
    if _mysql_source_syntax(version):
        sql = ("CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %s, SOURCE_USER = %s, "
               "SOURCE_PASSWORD = %s, SOURCE_CONNECT_RETRY = 2, GET_SOURCE_PUBLIC_KEY = 1, ")
        position = ("SOURCE_AUTO_POSITION = 1" if gtid else "SOURCE_AUTO_POSITION = 0, SOURCE_LOG_FILE = %s, "
                    "SOURCE_LOG_POS = %s")
    else:
        sql = ("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s, "
               "MASTER_CONNECT_RETRY = 2, GET_MASTER_PUBLIC_KEY = 1, ")
        position = ("MASTER_AUTO_POSITION = 1" if gtid else "MASTER_AUTO_POSITION = 0, MASTER_LOG_FILE = %s, "
                    "MASTER_LOG_POS = %s")
    params = account if gtid else (*account, log_file, int(log_pos))  # type: ignore[arg-type]
    return Statement(sql + position, params)


def replica_command(flavor: str, version: Version, action: str) -> str:
    """``start``, ``stop``, ``reset`` (forget the source) or ``status`` in the flavor's words."""
    new = flavor != "mariadb" and _mysql_replica_words(version)
    word = "REPLICA" if new else "SLAVE"
    commands = {"start": f"START {word}", "stop": f"STOP {word}", "reset": f"RESET {word} ALL",
                "status": f"SHOW {word} STATUS"}
    if action not in commands:
        raise FlavorError(f"{action!r} is not a replica action; allowed: {', '.join(commands)}")
    return commands[action]


def replication_grant(flavor: str, account: str) -> str:
    """What the replication account needs: MariaDB 10.5+ splits SLAVE MONITOR out of REPLICATION CLIENT."""
    if flavor == "mariadb":
        return f"GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO {account}"
    return f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {account}"


# -- semi-synchronous replication -------------------------------------------------------------------------------
def semisync_settings(flavor: str, version: Version) -> dict[str, str]:
    """The my.cnf settings that turn semi-sync on for both roles (every node may become the primary). Plugin
    variables get ``loose_`` so that a server without the plugin still starts and says so in its log."""
    if flavor == "mariadb":
        return {"rpl_semi_sync_master_enabled": "1", "rpl_semi_sync_slave_enabled": "1"}
    if version >= (8, 0, 26):
        return {"plugin_load_add": "rpl_semi_sync_source=semisync_source.so;rpl_semi_sync_replica=semisync_replica.so",
                "loose_rpl_semi_sync_source_enabled": "1", "loose_rpl_semi_sync_replica_enabled": "1"}
    return {"plugin_load_add": "rpl_semi_sync_master=semisync_master.so;rpl_semi_sync_slave=semisync_slave.so",
            "loose_rpl_semi_sync_master_enabled": "1", "loose_rpl_semi_sync_slave_enabled": "1"}


# -- variable names ---------------------------------------------------------------------------------------------
# Variables MySQL 8.0 accepts in my.cnf among those replstack renders or its tags set (the server's reference,
# "Server System Variables" and the replication and InnoDB option pages). Percona Server 8.0 accepts these and
# PERCONA_ONLY.
MYSQL_VARIABLES: frozenset[str] = frozenset({
    # placement
    "port", "bind_address", "report_host", "report_port", "socket", "datadir", "pid_file", "log_error", "tmpdir",
    "secure_file_priv", "user",
    # identity, binary and relay logs, GTIDs
    "server_id", "log_bin", "log_bin_index", "binlog_format", "sync_binlog", "relay_log", "relay_log_index",
    "relay_log_recovery", "read_only", "super_read_only", "gtid_mode", "enforce_gtid_consistency",
    "binlog_expire_logs_seconds", "binlog_transaction_compression", "log_slave_updates", "log_replica_updates",
    "slave_parallel_workers", "replica_parallel_workers", "slave_parallel_type", "replica_parallel_type",
    "slave_preserve_commit_order", "replica_preserve_commit_order", "slave_exec_mode", "replica_exec_mode",
    "slave_type_conversions", "replica_type_conversions", "log_bin_trust_function_creators", "binlog_row_image",
    "relay_log_space_limit", "plugin_load_add", "loose_rpl_semi_sync_source_enabled",
    "loose_rpl_semi_sync_replica_enabled", "loose_rpl_semi_sync_master_enabled", "loose_rpl_semi_sync_slave_enabled",
    # connections and security
    "skip_name_resolve", "local_infile", "max_connections", "default_authentication_plugin", "mysqlx",
    # memory and InnoDB
    "innodb_buffer_pool_size", "innodb_log_file_size", "innodb_log_buffer_size", "innodb_redo_log_capacity",
    "key_buffer_size", "tmp_table_size", "max_heap_table_size", "innodb_io_capacity", "innodb_io_capacity_max",
    "innodb_read_io_threads", "innodb_write_io_threads", "innodb_purge_threads", "innodb_lru_scan_depth",
    "innodb_max_dirty_pages_pct", "innodb_max_dirty_pages_pct_lwm", "innodb_flush_log_at_trx_commit",
    "innodb_doublewrite", "innodb_flush_method", "innodb_flush_neighbors", "innodb_use_native_aio",
    "innodb_adaptive_flushing", "innodb_print_all_deadlocks", "innodb_deadlock_detect", "innodb_numa_interleave",
    "innodb_undo_tablespaces", "default_storage_engine",
    # logs
    "slow_query_log", "long_query_time", "general_log", "performance_schema", "log_output",
    "log_slow_admin_statements", "log_slow_replica_statements", "log_slow_slave_statements", "log_error_verbosity",
    # charset and optimizer
    "character_set_server", "collation_server", "skip_character_set_client_handshake", "autocommit",
    "lower_case_table_names", "sql_mode", "default_time_zone", "transaction_isolation", "optimizer_switch",
})
PERCONA_ONLY: frozenset[str] = frozenset({"thread_handling", "userstat", "thread_pool_size"})
# optimizer_switch flags MySQL 8.0 has (MariaDB has others: table_elimination, rowid_filter, ...).
MYSQL_OPTIMIZER_FLAGS: frozenset[str] = frozenset({
    "index_merge", "index_merge_union", "index_merge_sort_union", "index_merge_intersection",
    "engine_condition_pushdown", "index_condition_pushdown", "mrr", "mrr_cost_based", "block_nested_loop",
    "batched_key_access", "materialization", "semijoin", "loosescan", "firstmatch", "duplicateweedout",
    "subquery_materialization_cost_based", "use_index_extensions", "condition_fanout_filter", "derived_merge",
    "use_invisible_indexes", "skip_scan", "hash_join", "subquery_to_derived", "prefer_ordering_index",
    "derived_condition_pushdown"})
# Plugin libraries MySQL and Percona ship that replstack loads (semi-sync, auth_socket).
MYSQL_PLUGINS: frozenset[str] = frozenset({"semisync_source.so", "semisync_replica.so", "semisync_master.so",
                                           "semisync_slave.so", "auth_socket.so"})


def valid_variables(flavor: str) -> frozenset[str] | None:
    """The variables a flavor's my.cnf may hold; None for MariaDB, whose list is generated from the installed
    server (components.configurator.server_options)."""
    if flavor == "mariadb":
        return None
    return MYSQL_VARIABLES | PERCONA_ONLY if flavor == "percona" else MYSQL_VARIABLES


# MariaDB-only settings and what they become: a new name, a converted value, or nothing (dropped: the other
# flavor has no such thing and its default is what replstack wants).
_RENAMES_8026 = {"log_slave_updates": "log_replica_updates", "slave_parallel_threads": "replica_parallel_workers",
                 "slave_exec_mode": "replica_exec_mode", "slave_type_conversions": "replica_type_conversions",
                 "log_slow_slave_statements": "log_slow_replica_statements"}
_RENAMES_OLD = {"slave_parallel_threads": "slave_parallel_workers"}
_DROPPED = {
    "gtid_domain_id": "MySQL GTIDs carry the server's UUID, not a domain",
    "gtid_strict_mode": "MySQL's gtid_mode=ON is always strict",
    "aria_pagecache_buffer_size": "no Aria engine",
    "query_cache_type": "no query cache since 8.0",
    "query_cache_size": "no query cache since 8.0",
    "binlog_annotate_row_events": "see binlog_rows_query_log_events",
    "binlog_alter_two_phase": "MariaDB only",
    "innodb_defragment": "MariaDB only",
}


def flavor_settings(settings: Mapping[str, str], flavor: str, version: Version) -> dict[str, str]:
    """The generated settings of a node (MariaDB's names, components.configurator.mariadb.database_settings) in
    the flavor's names, in the same order; then ``unknown_variables`` says what is left that it does not take."""
    if flavor == "mariadb":
        return dict(settings)
    renames = _RENAMES_8026 if version >= (8, 0, 26) else _RENAMES_OLD
    out: dict[str, str] = {}
    for name, value in settings.items():
        if name in _DROPPED:
            if name == "gtid_strict_mode":
                out["gtid_mode"] = "ON"
                out["enforce_gtid_consistency"] = "ON"
            continue
        if name == "expire_logs_days":
            out["binlog_expire_logs_seconds"] = str(int(value) * 86400)
        elif name == "innodb_log_file_size" and version >= (8, 0, 30):
            # One redo capacity since 8.0.30 (the size of both files of before); the old name is gone in 9.0.
            out["innodb_redo_log_capacity"] = _double_size(value)
        elif name == "log_bin_compress":
            if version >= (8, 0, 20):  # binary log compression came with 8.0.20
                out["binlog_transaction_compression"] = value
        elif name == "slave_parallel_mode":
            if version >= (8, 3, 0):  # gone: a MySQL replica applies in parallel by logical clock only
                continue
            key = "replica_parallel_type" if version >= (8, 0, 26) else "slave_parallel_type"
            out[key] = "DATABASE" if value == "none" else "LOGICAL_CLOCK"
        elif name in ("rpl_semi_sync_master_enabled", "rpl_semi_sync_slave_enabled"):
            for key, setting in semisync_settings(flavor, version).items():
                if key == "plugin_load_add" and key in out:
                    setting = ";".join(dict.fromkeys([*out[key].split(";"), *setting.split(";")]))
                out[key] = setting
        elif name == "plugin_load_add" and name in out:
            out[name] = ";".join(dict.fromkeys([*out[name].split(";"), *value.split(";")]))
        elif name == "character_set_client_handshake":
            if value in ("0", "OFF"):
                out["skip_character_set_client_handshake"] = "1"
        else:
            out[renames.get(name, name)] = value
    # What replstack's lifecycle needs of every MySQL node: root's login through the socket as the OS account
    # (auth_socket, as MariaDB's unix_socket), and no X Protocol listener (33060 for every node on a host).
    out["plugin_load_add"] = ";".join(dict.fromkeys([*filter(None, out.get("plugin_load_add", "").split(";")),
                                                     "auth_socket=auth_socket.so"]))
    out["mysqlx"] = "OFF"
    return out


def _double_size(value: str) -> str:
    unit = value[-1:] if value[-1:].upper() in "KMG" and not value[-1:].isdigit() else ""
    return f"{int(value[:len(value) - len(unit)]) * 2}{unit}"


# Variables of MYSQL_VARIABLES that later releases no longer take, with the release from which replstack leaves
# them out (checked against the 9.7 server that the integration tests run: ``mysqld --validate-config``).
REMOVED: dict[str, Version] = {
    "skip_character_set_client_handshake": (9, 0, 0),
    "default_authentication_plugin": (9, 0, 0),
    "innodb_log_file_size": (9, 0, 0),
}
# sql_mode values only MariaDB has.
MARIADB_SQL_MODES = frozenset({"ORACLE", "MSSQL", "DB2", "MAXDB", "POSTGRESQL", "EMPTY_STRING_IS_NULL",
                               "SIMULTANEOUS_ASSIGNMENT", "TIME_ROUND_FRACTIONAL"})


def unknown_variables(settings: Mapping[str, str], flavor: str, version: Version | None = None) -> list[str]:
    """Names in ``settings`` the flavor's server does not take (MySQL and Percona: the table above, less what
    ``version`` no longer has), and values of sql_mode it does not know."""
    valid = valid_variables(flavor)
    if valid is None:
        return []
    gone = {name for name, since in REMOVED.items() if version is not None and version >= since}
    unknown = [name for name in settings if name not in valid or name in gone]
    for mode in filter(None, settings.get("sql_mode", "").upper().split(",")):
        if mode.strip() in MARIADB_SQL_MODES:
            unknown.append(f"sql_mode={mode.strip()}")
    for item in filter(None, settings.get("plugin_load_add", "").split(";")):
        library = item.split("=", 1)[-1]
        if library not in MYSQL_PLUGINS:
            unknown.append(f"plugin_load_add={library}")
    for flag in filter(None, settings.get("optimizer_switch", "").split(",")):
        if flag.split("=", 1)[0] not in MYSQL_OPTIMIZER_FLAGS:
            unknown.append(f"optimizer_switch={flag}")
    return unknown


def check_settings(settings: Mapping[str, str], flavor: str, version: Version | None = None) -> None:
    unknown = unknown_variables(settings, flavor, version)
    if unknown:
        raise FlavorError(f"{flavor} does not take {', '.join(unknown)}; allowed: the variables of "
                          "components.configurator.flavors (MYSQL_VARIABLES, PERCONA_ONLY for percona)")


def tag_problems(flavor: str, version: Version, tags: list[str]) -> list[str]:
    """Tags whose settings the flavor's server does not take, as sentences."""
    from components.configurator.tags import tag_settings

    problems = []
    for tag in tags:
        unknown = unknown_variables(flavor_settings(tag_settings([tag]), flavor, version), flavor, version)
        if unknown:
            problems.append(f"tag {tag!r} sets {', '.join(unknown)}, which {flavor} "
                            f"{'.'.join(map(str, version))} does not take; allowed: remove it")
    return problems
