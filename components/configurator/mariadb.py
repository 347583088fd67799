"""my.cnf for one MariaDB node, from the database spec, the node's role and its placement.

Resource formulas follow replication-manager's configurator (all sizes in MB): the buffer pool takes 60 % of
memory, the MyISAM key buffer and the Aria page cache 10 % each, in-memory temporary tables 70 % of the 16 %
"threads" share (within 16-256 MB, since each session may use that much); I/O capacity is a third of the
disk's IOPS; read I/O and replication threads follow the cores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from components.configurator.flavors import CONFIG_SECTIONS, SERVER_BINARIES
from components.configurator.placement import Placement, ServicePaths, socket_path
from components.configurator.render import UnsafeValue, render_template
from components.configurator.tags import tag_settings
from components.spec import DatabaseSpec

SHARED_PCT = {"threads": 16, "innodb": 60, "myisam": 10, "aria": 10}
TMP_PCT_OF_THREADS = 70
REDO_MIN_MB, REDO_MAX_MB, SMALL_REDO_MB = 1024, 20480, 128
# In-memory temporary tables are per session: bounded so that a large instance does not let every
# connection claim gigabytes.
TMP_TABLE_MIN_MB, TMP_TABLE_MAX_MB = 16, 256
IOPS_LATENCY_S = 0.002
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def memory_settings(db: DatabaseSpec) -> dict[str, str]:
    mem = db.memory
    pool = mem * SHARED_PCT["innodb"] // 100
    redo = SMALL_REDO_MB if "smallredolog" in db.tags else min(max(pool // 2, REDO_MIN_MB), REDO_MAX_MB)
    threads = mem * SHARED_PCT["threads"] // 100
    tmp = min(max(threads * TMP_PCT_OF_THREADS // 100, TMP_TABLE_MIN_MB), TMP_TABLE_MAX_MB)
    return {
        "innodb_buffer_pool_size": f"{pool}M",
        "innodb_log_file_size": f"{redo}M",
        "innodb_log_buffer_size": "16M",
        "key_buffer_size": f"{max(mem * SHARED_PCT['myisam'] // 100, 1)}M",
        "aria_pagecache_buffer_size": f"{max(mem * SHARED_PCT['aria'] // 100, 1)}M",
        "tmp_table_size": f"{tmp}M",
        "max_heap_table_size": f"{tmp}M",
    }


def io_settings(db: DatabaseSpec) -> dict[str, str]:
    return {
        "innodb_io_capacity": str(max(db.iops // 3, 100)),
        "innodb_io_capacity_max": str(max(db.iops, 100)),
        "innodb_read_io_threads": str(db.cores),
        "innodb_write_io_threads": str(max(int(db.iops * IOPS_LATENCY_S), 1)),
        "innodb_purge_threads": "4",
        "innodb_lru_scan_depth": "1024",
        "innodb_max_dirty_pages_pct": "40",
        "innodb_max_dirty_pages_pct_lwm": "20",
        "innodb_flush_log_at_trx_commit": "1",
    }


def replication_settings(db: DatabaseSpec, server_id: int, primary: bool) -> dict[str, str]:
    return {
        "server_id": str(server_id),
        "gtid_domain_id": str(db.domain_id),
        "gtid_strict_mode": "1",
        "log_bin": "mariadb-bin",
        "log_bin_index": "mariadb-bin.index",
        "binlog_format": db.binlog_format,
        "log_slave_updates": "1",
        "sync_binlog": "1",
        "relay_log": "relay-bin",
        "relay_log_index": "relay-bin.index",
        "relay_log_recovery": "1",
        "expire_logs_days": str(db.expire_logs_days),
        "slave_parallel_threads": str(db.cores),
        # A replica comes back read-only after any restart; only the primary takes writes.
        "read_only": "0" if primary else "1",
    }


def database_settings(db: DatabaseSpec, server_id: int, primary: bool,
                      topology: dict[str, str] | None = None) -> dict[str, str]:
    """Every generated server setting of a node, in the order they are written; ``topology`` (what the replication
    topology adds to this node: components.configurator.topologies), then tags and the stack's own ``settings``
    override the generated values, in that order. ``primary``: the node takes writes (read_only off)."""
    settings = {
        "skip_name_resolve": "1",
        # LOAD DATA LOCAL would let any SQL statement a client runs upload files of the client's host.
        "local_infile": "0",
        "max_connections": str(db.max_connections),
        **replication_settings(db, server_id, primary),
        **(topology or {}),
        **memory_settings(db),
        **io_settings(db),
    }
    settings.update(tag_settings(db.tags))
    settings.update({k: str(v) for k, v in db.settings.items()})
    return settings


@dataclass(frozen=True)
class MariaDBPaths(ServicePaths):
    datadir: str
    log_error: str
    tmpdir: str


def node_paths(placement: Placement) -> MariaDBPaths:
    """The files of a node inside its directory; the layout a person finds there."""
    root = PurePosixPath(placement.dir)
    return MariaDBPaths(
        config=str(root / "my.cnf"),
        pid_file=str(root / "mariadbd.pid"),
        socket=socket_path(placement.dir, "mariadbd.sock"),
        datadir=str(root / "data"),
        log_error=str(root / "error.log"),
        tmpdir=str(root / "tmp"),
    )


def placement_settings(placement: Placement, run_as_root: bool) -> dict[str, str]:
    paths = node_paths(placement)
    settings = {
        "port": str(placement.ports["mysql"]),
        # The placement's wildcard when the stack allows one; replicas and clients reach the node at its host.
        "bind_address": placement.extra.get("bind") or placement.host,
        "report_host": placement.host,
        "report_port": str(placement.ports["mysql"]),
        "socket": paths.socket,
        "datadir": paths.datadir,
        "pid_file": paths.pid_file,
        "log_error": paths.log_error,
        "tmpdir": paths.tmpdir,
        # Server-side file import and export (LOAD DATA INFILE, SELECT ... INTO OUTFILE) only there, never
        # anywhere the server's OS account can write.
        "secure_file_priv": paths.tmpdir,
    }
    if run_as_root:
        settings["user"] = "root"
    return settings


def render_my_cnf(*, cluster: str, node: str, primary: bool, settings: dict[str, str], placement: Placement,
                  run_as_root: bool, flavor: str = "mariadb") -> str:
    """Every name is an option name and every value one line (``UnsafeValue`` otherwise), whatever validated
    them before: nothing can start a section or a directive (``[mysqld]``, ``!include``). ``flavor`` names the
    server's section and binary (the settings are already in its names: components.configurator.flavors)."""
    for name in [*settings, *placement_settings(placement, run_as_root)]:
        if not _OPTION_NAME.fullmatch(name):
            raise UnsafeValue(f"refusing to render {name!r} as a my.cnf option name")
    return render_template(
        "my.cnf.j2",
        cluster=cluster,
        node=node,
        role="primary" if primary else "replica",
        section=CONFIG_SECTIONS[flavor],
        binary=SERVER_BINARIES[flavor],
        path=node_paths(placement).config,
        socket=node_paths(placement).socket,
        port=placement.ports["mysql"],
        placement=placement_settings(placement, run_as_root),
        settings=settings,
    )
