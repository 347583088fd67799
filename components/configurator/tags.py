"""Database tags: named bundles of my.cnf settings, as replication-manager's configurator has them.

A stack lists tags under ``database.tags``; each adds or overrides the settings below. Kept as data so the
spec can validate tag names and the renderer stays a plain merge.
"""

from __future__ import annotations

DATABASE_TAGS: dict[str, dict[str, str | int]] = {
    # Replication
    "semisync": {"rpl_semi_sync_master_enabled": 1, "rpl_semi_sync_slave_enabled": 1},
    "compressbinlog": {"log_bin_compress": 1},
    "nologslaveupdates": {"log_slave_updates": 0},
    "nosyncbinlog": {"sync_binlog": 0},
    "optimistic": {"slave_parallel_mode": "optimistic"},
    # Disk
    "smallredolog": {},  # handled by the memory formulas: a 128 MB redo log instead of BP/2 >= 1 GB
    "nodoublewrite": {"innodb_doublewrite": 0},
    "nodurable": {"innodb_flush_log_at_trx_commit": 2, "sync_binlog": 0},
    # Logs
    "slow": {"slow_query_log": 1, "long_query_time": 1},
    "nologslowqueries": {"slow_query_log": 0},
    "general": {"general_log": 1},
    "pfs": {"performance_schema": 1},
    "userstats": {"userstat": 1},
    "sqlerror": {"plugin_load_add": "sql_errlog"},
    # Network
    "noquerycache": {"query_cache_type": 0, "query_cache_size": 0},
    "threadpool": {"thread_handling": "pool-of-threads"},
    # Charset / optimizer
    "utf8ci": {"character_set_server": "utf8mb4", "collation_server": "utf8mb4_general_ci"},
    "readcommitted": {"transaction_isolation": "READ-COMMITTED"},
    "lowercasetable": {"lower_case_table_names": 1},
}
