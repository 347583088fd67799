"""Database tags: named bundles of my.cnf settings, as replication-manager's configurator has them.

A stack lists tags under ``database.tags`` (or replication-manager's ``prov-db-tags`` string, as it is). Each tag
is one of three things, kept as data so the spec validates names and the renderer stays a plain merge:

* ``DATABASE_TAGS``: the settings a tag adds or overrides (an empty dict for a *label*: a tag that describes the
  service in replication-manager, or whose effect replstack already has, and changes nothing here; ``LABELS``
  says why for each; ``smallredolog`` is read by the memory formulas instead);
* ``REFUSED_TAGS``: tags of replication-manager that replstack cannot honour, with the reason and what to do;
* two settings are lists that several tags add to: ``plugin_load_add`` (libraries, joined with ``;``) and
  ``optimizer_switch`` (flags, joined with ``,``).

Two tags that set one variable to different values are refused together (``conflicts``), except ``slow``, which
is in replication-manager's default tag string and yields to ``nologslowqueries``.
"""

from __future__ import annotations

from typing import Iterable

# Settings whose values add up over tags rather than override each other.
LIST_SETTINGS = {"plugin_load_add": ";", "optimizer_switch": ","}

DATABASE_TAGS: dict[str, dict[str, str | int]] = {
    # Engines
    "innodb": {"default_storage_engine": "InnoDB"},
    "spider": {"plugin_load_add": "ha_spider"},
    "sphinx": {"plugin_load_add": "ha_sphinx"},
    "archive": {"plugin_load_add": "ha_archive"},
    "blackhole": {"plugin_load_add": "ha_blackhole"},
    "backhole": {"plugin_load_add": "ha_blackhole"},  # replication-manager's spelling
    # Replication
    "semisync": {"rpl_semi_sync_master_enabled": 1, "rpl_semi_sync_slave_enabled": 1},
    "row": {"binlog_format": "ROW"},
    "statement": {"binlog_format": "STATEMENT"},
    "compressbinlog": {"log_bin_compress": 1},
    "nologslaveupdates": {"log_slave_updates": 0},
    "nosyncbinlog": {"sync_binlog": 0},
    "gtidstrict": {"gtid_strict_mode": 1},
    "lossyconv": {"slave_type_conversions": "ALL_LOSSY,ALL_NON_LOSSY"},
    "idempotent": {"slave_exec_mode": "IDEMPOTENT"},
    "trustfunctioncreators": {"log_bin_trust_function_creators": 1},
    "optimistic": {"slave_parallel_mode": "optimistic"},
    "aggressive": {"slave_parallel_mode": "aggressive"},
    "minimal": {"slave_parallel_mode": "minimal"},
    "serialize": {"slave_parallel_mode": "none"},
    "nologslavestatement": {"binlog_annotate_row_events": 0},
    "noalter2phase": {"binlog_alter_two_phase": 0},
    "multidomains": {},
    "mysqlgtid": {},
    # Disk
    "smallredolog": {},  # handled by the memory formulas: a 128 MB redo log instead of BP/2 >= 1 GB
    "compresstables": {"innodb_compression_default": 1},
    "nodoublewrite": {"innodb_doublewrite": 0},
    "nodurable": {"innodb_flush_log_at_trx_commit": 2, "sync_binlog": 0},
    "noodirect": {"innodb_flush_method": "fsync"},
    "autodefrag": {"innodb_defragment": 1},
    "ssd": {"innodb_flush_neighbors": 0},
    "zfs": {"innodb_doublewrite": 0, "innodb_flush_neighbors": 0, "innodb_use_native_aio": 0},
    "noaio": {"innodb_use_native_aio": 0},
    "noadaptiveflush": {"innodb_adaptive_flushing": 0},
    "noadaptatiiveflush": {"innodb_adaptive_flushing": 0},  # replication-manager's spelling
    "relayspacelimit": {"relay_log_space_limit": "10M"},
    "diskmonitor": {},
    "nosplitpath": {},
    "notmpdisk": {},
    # Logs
    "slow": {"slow_query_log": 1, "long_query_time": 1},
    "nologslowqueries": {"slow_query_log": 0},
    "nologslowddlqueries": {"log_slow_admin_statements": 0},
    "nologslowslavequeries": {"log_slow_slave_statements": 0},
    "general": {"general_log": 1},
    "pfs": {"performance_schema": 1},
    "userstats": {"userstat": 1},
    "sqlerror": {"plugin_load_add": "sql_errlog"},
    "metadatalocks": {"plugin_load_add": "metadata_lock_info"},
    "audit": {"plugin_load_add": "server_audit", "server_audit_logging": 1},
    "logtotable": {"log_output": "TABLE"},
    "nologdeadlocks": {"innodb_print_all_deadlocks": 0},
    "nowarnings": {"log_warnings": 0},
    # Network
    "noquerycache": {"query_cache_type": 0, "query_cache_size": 0},
    "threadpool": {"thread_handling": "pool-of-threads"},
    "bind": {},
    "nobind": {},
    # Security
    "readonly": {},
    "ed25519": {"plugin_load_add": "auth_ed25519"},
    # Charset
    "nohandshake": {"character_set_client_handshake": 0},
    "utf8ci": {"character_set_server": "utf8mb4", "collation_server": "utf8mb4_general_ci"},
    "utf8cs": {"character_set_server": "utf8mb4", "collation_server": "utf8mb4_bin"},
    "bm4ci": {"character_set_server": "utf8mb4", "collation_server": "utf8mb4_unicode_ci"},
    "bm4cs": {"character_set_server": "utf8mb4", "collation_server": "utf8mb4_bin"},
    # Optimizer
    "noautocommit": {"autocommit": 0},
    "lowercasetable": {"lower_case_table_names": 1},
    "sqlmodeoracle": {"sql_mode": "ORACLE"},
    "sqlmodeunstrict": {"sql_mode": "NO_ENGINE_SUBSTITUTION"},
    "eits": {"use_stat_tables": "PREFERABLY", "optimizer_use_condition_selectivity": 4},
    "histograms": {"histogram_size": 255},
    "utctime": {"default_time_zone": "+00:00"},
    "readcommitted": {"transaction_isolation": "READ-COMMITTED"},
    "readdirty": {"transaction_isolation": "READ-UNCOMMITTED"},
    "readserialized": {"transaction_isolation": "SERIALIZABLE"},
    "readsnapshot": {"transaction_isolation": "REPEATABLE-READ"},
    "nodeadlockdetect": {"innodb_deadlock_detect": 0},
    "hashjoin": {"join_cache_level": 8},
    "nestedjoin": {"join_cache_level": 2},
    "trace": {"optimizer_trace": "enabled=on"},
    "noforcepk": {"innodb_force_primary_key": 0},
    "sequence": {},
    "noicp": {"optimizer_switch": "index_condition_pushdown=off"},
    "firstmatch": {"optimizer_switch": "firstmatch=on"},
    "semijoincache": {"optimizer_switch": "semijoin_with_cache=on"},
    "loosescan": {"optimizer_switch": "loosescan=on"},
    "extendedkeys": {"optimizer_switch": "extended_keys=on"},
    "noderivedmerge": {"optimizer_switch": "derived_merge=off"},
    "notableelimination": {"optimizer_switch": "table_elimination=off"},
    "noderivedwithkeys": {"optimizer_switch": "derived_with_keys=off"},
    "nointoexists": {"optimizer_switch": "in_to_exists=off"},
    "nomrr": {"optimizer_switch": "mrr=off"},
    "noouterjoincache": {"optimizer_switch": "outer_join_with_cache=off"},
    "subquerycache": {"optimizer_switch": "subquery_cache=on"},
    "noecp": {"optimizer_switch": "engine_condition_pushdown=off"},
    "nodcp": {"optimizer_switch": "condition_pushdown_for_derived=off"},
    "noscp": {"optimizer_switch": "condition_pushdown_for_subquery=off"},
    "nohcp": {"optimizer_switch": "condition_pushdown_from_having=off"},
    "nointosubquery": {"optimizer_switch": "materialization=off"},
    "nolateralderived": {"optimizer_switch": "split_materialized=off"},
    "imsi": {"optimizer_switch": "index_merge_sort_intersection=on"},
    "nobloomfilter": {"optimizer_switch": "rowid_filter=off"},
    # Memory
    "interleave": {"innodb_numa_interleave": 1},
    # System: where replication-manager deploys the service
    "docker": {}, "pkg": {}, "deb": {}, "rpm": {}, "linux": {}, "osx": {},
}

# Why a label changes nothing here (README lists them).
LABELS: dict[str, str] = {
    **{t: "where replication-manager deploys the service (the backend decides that here)"
       for t in ("docker", "pkg", "deb", "rpm", "linux", "osx")},
    "diskmonitor": "replication-manager's disk monitoring; replstack does not poll disks",
    "readonly": "replstack already starts every replica with read_only on and the primary writable",
    "multidomains": "the GTID domain is database.domainId (one per cluster)",
    "mysqlgtid": "MySQL's GTID mode; whether replicas use GTIDs follows bootstrap.topology",
    "nosplitpath": "replstack keeps every file of a node in its own directory",
    "notmpdisk": "the tmp directory is set by the backend (see database.tmpfsMb)",
    "bind": "the address is chosen by the backend (local.bindAddress)",
    "nobind": "the address is chosen by the backend (local.bindAddress)",
    "sequence": "sequences need no setting on MariaDB 10.3 and later",
}

REFUSED_TAGS: dict[str, str] = {
    "wsrep": "Galera replication is not a topology of replstack (bootstrap.topology); use asynchronous replication",
    "grouprep": "MySQL group replication is not a topology of replstack (bootstrap.topology)",
    "nobinlog": "replication needs the binary log on every node",
    "noslavestart": "replicas must resume replication after a restart (rolling restarts wait for it)",
    "ssl": "TLS certificates are not managed by replstack yet",
    "keyfileencrypt": "encryption keys are not managed by replstack yet",
    "noauth": "a server without authentication is refused",
    "localinfile": "LOAD DATA LOCAL is refused as unsafe; set database.settings.local_infile with "
                   "database.allowUnsafeSettings to take the risk",
    "resolvdns": "name resolution is refused as unsafe; set database.settings.skip_name_resolve: 0 with "
                 "database.allowUnsafeSettings to take the risk",
    "proxyprotocol": "proxy_protocol_networks is refused as unsafe; set it in database.settings with "
                     "database.allowUnsafeSettings",
    "pwdchecksimple": "the passwords replstack generates are letters and digits, which simple_password_check "
                      "refuses; set plugin_load_add in database.settings for your own accounts",
    "pwdcheckcracklib": "the cracklib_password_check plugin is not shipped with the server here",
    "splitundolog": "undo tablespaces are fixed when a data directory is created, so the tag cannot be added "
                    "to a running cluster",
    **{t: f"the {engine} engine is not shipped with the server here"
       for t, engine in (("myrocks", "MyRocks"), ("tokudb", "TokuDB"), ("connect", "CONNECT"),
                         ("mroonga", "Mroonga"), ("oqgraph", "OQGraph"), ("s3", "S3"), ("mcs", "ColumnStore"))},
}

# Yields to a tag that sets the same variable (it is in replication-manager's default tag string).
SOFT_TAGS = ("slow",)

# replication-manager's default prov-db-tags, accepted as it is.
RM_DEFAULT_TAGS = ("semisync,row,innodb,noquerycache,threadpool,slow,pfs,docker,linux,readonly,diskmonitor,"
                   "sqlerror,compressbinlog")


def tag_settings(tags: Iterable[str]) -> dict[str, str]:
    """The settings of ``tags`` merged in order: a later tag overrides an earlier one, except the list settings,
    which add up (each item once)."""
    out: dict[str, str] = {}
    for tag in tags:
        for name, value in DATABASE_TAGS[tag].items():
            text = str(value)
            if name in LIST_SETTINGS and name in out:
                items = out[name].split(LIST_SETTINGS[name])
                if text not in items:
                    out[name] = LIST_SETTINGS[name].join([*items, text])
            else:
                out[name] = text
    return out


def conflicts(tags: Iterable[str]) -> list[str]:
    """Pairs of tags that set one variable to different values, as sentences."""
    seen: dict[str, tuple[str, str]] = {}
    out = []
    for tag in tags:
        if tag in SOFT_TAGS:
            continue
        for name, value in DATABASE_TAGS.get(tag, {}).items():
            if name in LIST_SETTINGS:
                continue
            other = seen.setdefault(name, (tag, str(value)))
            if other[0] != tag and other[1] != str(value):
                out.append(f"{other[0]!r} and {tag!r} both set {name} ({other[1]} vs {value}); keep one of them")
    return out
