"""A project-written model of ProxySQL's admin tables, in SQLite: NOT ProxySQL, and not its code.

ProxySQL keeps its configuration in SQLite tables of its admin database and loads ``proxysql.cnf`` into them on a
first start. No ProxySQL package exists on the machines replstack is tested on, so the tests check a rendered
``proxysql.cnf`` the nearest way that is independent of the renderer: parse it with a libconfig parser (``libconf``),
load each row into these tables, written here from ProxySQL's documented schema (``SHOW CREATE TABLE`` of
``mysql_servers``, ``mysql_users``, ``mysql_replication_hostgroups``, ``mysql_query_rules``, ``global_variables``
as the ProxySQL documentation gives them, 2.x), and let SQLite enforce the documented constraints: primary keys,
``CHECK`` clauses (hostgroup ids >= 0, ports in 0-65535, status values, writer and reader hostgroups differing,
0/1 flags) and unique keys (a username once per frontend and once per backend). Only the columns documented for
those tables exist, so an unknown key in a row fails the load.

How the config file's keys map onto columns follows ProxySQL's documented config-file format: ``address`` or
``hostname``, ``hostgroup`` or ``hostgroup_id``; ``admin_variables``/``mysql_variables`` entries become
``admin-<name>``/``mysql-<name>`` rows of ``global_variables``. What the file means beyond single rows (every
referenced hostgroup has servers, listeners on distinct ports, where a query is routed) is checked by the
functions below with SQL over the loaded tables.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any, Mapping

SCHEMA = """
CREATE TABLE global_variables (
    variable_name VARCHAR NOT NULL PRIMARY KEY,
    variable_value VARCHAR NOT NULL);

CREATE TABLE mysql_servers (
    hostgroup_id INT CHECK (hostgroup_id >= 0) NOT NULL DEFAULT 0,
    hostname VARCHAR NOT NULL,
    port INT CHECK (port >= 0 AND port <= 65535) NOT NULL DEFAULT 3306,
    gtid_port INT CHECK ((gtid_port <> port OR gtid_port = 0) AND gtid_port >= 0 AND gtid_port <= 65535)
        NOT NULL DEFAULT 0,
    status VARCHAR CHECK (UPPER(status) IN ('ONLINE', 'SHUNNED', 'OFFLINE_SOFT', 'OFFLINE_HARD'))
        NOT NULL DEFAULT 'ONLINE',
    weight INT CHECK (weight >= 0 AND weight <= 10000000) NOT NULL DEFAULT 1,
    compression INT CHECK (compression IN (0, 1)) NOT NULL DEFAULT 0,
    max_connections INT CHECK (max_connections >= 0) NOT NULL DEFAULT 1000,
    max_replication_lag INT CHECK (max_replication_lag >= 0 AND max_replication_lag <= 126144000)
        NOT NULL DEFAULT 0,
    use_ssl INT CHECK (use_ssl IN (0, 1)) NOT NULL DEFAULT 0,
    max_latency_ms INT CHECK (max_latency_ms >= 0) NOT NULL DEFAULT 0,
    comment VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (hostgroup_id, hostname, port));

CREATE TABLE mysql_users (
    username VARCHAR NOT NULL,
    password VARCHAR,
    active INT CHECK (active IN (0, 1)) NOT NULL DEFAULT 1,
    use_ssl INT CHECK (use_ssl IN (0, 1)) NOT NULL DEFAULT 0,
    default_hostgroup INT NOT NULL DEFAULT 0,
    default_schema VARCHAR,
    schema_locked INT CHECK (schema_locked IN (0, 1)) NOT NULL DEFAULT 0,
    transaction_persistent INT CHECK (transaction_persistent IN (0, 1)) NOT NULL DEFAULT 1,
    fast_forward INT CHECK (fast_forward IN (0, 1)) NOT NULL DEFAULT 0,
    backend INT CHECK (backend IN (0, 1)) NOT NULL DEFAULT 1,
    frontend INT CHECK (frontend IN (0, 1)) NOT NULL DEFAULT 1,
    max_connections INT CHECK (max_connections >= 0) NOT NULL DEFAULT 10000,
    comment VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (username, backend),
    UNIQUE (username, frontend));

CREATE TABLE mysql_replication_hostgroups (
    writer_hostgroup INT CHECK (writer_hostgroup >= 0) NOT NULL PRIMARY KEY,
    reader_hostgroup INT NOT NULL CHECK (reader_hostgroup <> writer_hostgroup AND reader_hostgroup >= 0),
    check_type VARCHAR CHECK (LOWER(check_type) IN ('read_only', 'innodb_read_only', 'super_read_only',
        'read_only|innodb_read_only', 'read_only&innodb_read_only')) NOT NULL DEFAULT 'read_only',
    comment VARCHAR NOT NULL DEFAULT '',
    UNIQUE (reader_hostgroup));

CREATE TABLE mysql_query_rules (
    rule_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    active INT CHECK (active IN (0, 1)) NOT NULL DEFAULT 0,
    username VARCHAR,
    schemaname VARCHAR,
    flagIN INT CHECK (flagIN >= 0) NOT NULL DEFAULT 0,
    client_addr VARCHAR,
    proxy_addr VARCHAR,
    proxy_port INT CHECK (proxy_port >= 0 AND proxy_port <= 65535),
    digest VARCHAR,
    match_digest VARCHAR,
    match_pattern VARCHAR,
    negate_match_pattern INT CHECK (negate_match_pattern IN (0, 1)) NOT NULL DEFAULT 0,
    re_modifiers VARCHAR DEFAULT 'CASELESS',
    flagOUT INT CHECK (flagOUT >= 0),
    replace_pattern VARCHAR CHECK (CASE WHEN replace_pattern IS NULL THEN 1
        WHEN replace_pattern IS NOT NULL AND match_pattern IS NOT NULL THEN 1 ELSE 0 END),
    destination_hostgroup INT DEFAULT NULL,
    cache_ttl INT CHECK (cache_ttl > 0),
    cache_empty_result INT CHECK (cache_empty_result IN (0, 1)) DEFAULT NULL,
    reconnect INT CHECK (reconnect IN (0, 1)) DEFAULT NULL,
    timeout INT UNSIGNED CHECK (timeout >= 0),
    retries INT CHECK (retries >= 0 AND retries <= 1000),
    delay INT UNSIGNED CHECK (delay >= 0),
    next_query_flagIN INT UNSIGNED,
    mirror_flagOUT INT UNSIGNED,
    mirror_hostgroup INT UNSIGNED,
    error_msg VARCHAR,
    OK_msg VARCHAR,
    sticky_conn INT CHECK (sticky_conn IN (0, 1)),
    multiplex INT CHECK (multiplex IN (0, 1, 2)),
    log INT CHECK (log IN (0, 1)),
    apply INT CHECK (apply IN (0, 1)) NOT NULL DEFAULT 0,
    comment VARCHAR);
"""

# The config file's lists by table, and the keys ProxySQL's config loader accepts for a column under another name.
TABLES = ("mysql_servers", "mysql_users", "mysql_replication_hostgroups", "mysql_query_rules")
KEY_ALIASES = {"mysql_servers": {"address": "hostname", "hostgroup": "hostgroup_id"}}
VARIABLE_GROUPS = {"admin_variables": "admin", "mysql_variables": "mysql"}
# Top-level settings of the file outside the tables modelled here.
TOP_LEVEL_SETTINGS = ("datadir", "errorlog")


class ModelError(ValueError):
    """A config file whose rows do not fit the documented tables, or whose references do not resolve."""


def load(config: Mapping[str, Any]) -> sqlite3.Connection:
    """The admin tables filled from a parsed ``proxysql.cnf`` (``libconf.loads``), as ProxySQL's first start
    would fill them. An unknown top-level setting, an unknown column or a row violating a constraint raises
    ``ModelError``."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    known = set(TABLES) | set(VARIABLE_GROUPS) | set(TOP_LEVEL_SETTINGS)
    unknown = sorted(set(config) - known)
    if unknown:
        raise ModelError(f"settings outside the modelled admin tables: {unknown}")
    for group, prefix in VARIABLE_GROUPS.items():
        for variable, value in (config.get(group) or {}).items():
            _insert(db, "global_variables",
                    {"variable_name": f"{prefix}-{variable}", "variable_value": _variable_text(value)})
    for table in TABLES:
        rows = config.get(table, ())
        if not isinstance(rows, (tuple, list)):
            raise ModelError(f"{table} must be a libconfig list of groups, not {type(rows).__name__}")
        aliases = KEY_ALIASES.get(table, {})
        for row in rows:
            _insert(db, table, {aliases.get(key, key): value for key, value in row.items()})
    return db


def variable(db: sqlite3.Connection, name: str) -> str | None:
    row = db.execute("SELECT variable_value FROM global_variables WHERE variable_name = ?", (name,)).fetchone()
    return row[0] if row else None


def reference_errors(db: sqlite3.Connection) -> list[str]:
    """What the rows refer to that does not exist, and listeners that collide: an empty list when every
    hostgroup a pair, a user or a rule names has servers, the admin accounts are not MySQL users, and the admin
    and SQL interfaces are on distinct ports."""
    errors = []
    hostgroups = {h for (h,) in db.execute("SELECT DISTINCT hostgroup_id FROM mysql_servers")}
    for writer, reader in db.execute("SELECT writer_hostgroup, reader_hostgroup FROM mysql_replication_hostgroups"):
        errors += [f"replication hostgroup {h} has no server" for h in (writer, reader) if h not in hostgroups]
    for user, hostgroup in db.execute("SELECT username, default_hostgroup FROM mysql_users"):
        if hostgroup not in hostgroups:
            errors.append(f"user {user} defaults to hostgroup {hostgroup}, which has no server")
    for rule, hostgroup in db.execute("SELECT rule_id, destination_hostgroup FROM mysql_query_rules "
                                      "WHERE destination_hostgroup IS NOT NULL"):
        if hostgroup not in hostgroups:
            errors.append(f"query rule {rule} routes to hostgroup {hostgroup}, which has no server")
    admins = [pair.split(":", 1)[0] for pair in (variable(db, "admin-admin_credentials") or "").split(";") if pair]
    users = {u for (u,) in db.execute("SELECT username FROM mysql_users")}
    errors += [f"admin account {a} is also a MySQL user" for a in admins if a in users]
    ports: dict[int, str] = {}
    for name in ("admin-mysql_ifaces", "mysql-interfaces"):
        for interface in (variable(db, name) or "").split(";"):
            port = _port_of(interface)
            if port is None:
                continue
            if port in ports:
                errors.append(f"{name} and {ports[port]} both listen on port {port}")
            ports[port] = name
    return errors


def routed_hostgroup(db: sqlite3.Connection, username: str, query: str) -> int:
    """Where ProxySQL sends ``query`` from ``username``, by its documented rule processing: active rules in
    ``rule_id`` order, each matched against the query (``re_modifiers`` CASELESS by default); the first match
    with ``apply = 1`` decides; no match leaves the user's default hostgroup. Only the columns replstack uses
    (``match_digest``, ``match_pattern``, ``destination_hostgroup``, ``apply``) are interpreted."""
    (hostgroup,) = db.execute("SELECT default_hostgroup FROM mysql_users WHERE username = ? AND frontend = 1",
                              (username,)).fetchone()
    rules = db.execute("SELECT match_digest, match_pattern, re_modifiers, destination_hostgroup, apply "
                       "FROM mysql_query_rules WHERE active = 1 AND flagIN = 0 ORDER BY rule_id")
    for digest, pattern, modifiers, destination, apply in rules:
        flags = re.IGNORECASE if "CASELESS" in (modifiers or "").upper() else 0
        if all(p is None or re.search(p, query, flags) for p in (digest, pattern)):
            if destination is not None:
                hostgroup = destination
            if apply:
                break
    return hostgroup


def _insert(db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> None:
    columns = {c[1] for c in db.execute(f"PRAGMA table_info({table})")}
    unknown = sorted(set(row) - columns)
    if unknown:
        raise ModelError(f"{table} has no column {unknown} (documented: {sorted(columns)})")
    integers = {c[1] for c in db.execute(f"PRAGMA table_info({table})") if "INT" in c[2].upper()}
    for column in integers & set(row):
        if not isinstance(row[column], int):
            raise ModelError(f"{table}.{column} is an integer column, the file gives {row[column]!r}")
    names = list(row)
    try:
        db.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                   [_sql_value(row[n]) for n in names])
    except sqlite3.IntegrityError as error:
        raise ModelError(f"{table} row {dict(row)} violates the documented schema: {error}") from None


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, str, float)):
        return value
    raise ModelError(f"{value!r} is not a scalar libconfig value")


def _variable_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str, float)):
        return str(value)
    raise ModelError(f"{value!r} is not a scalar libconfig value")


def _port_of(interface: str) -> int | None:
    """The port of ``host:port`` or ``[v6]:port``; None for a unix socket path."""
    if not interface or interface.startswith("/"):
        return None
    return int(interface.rsplit(":", 1)[1])
