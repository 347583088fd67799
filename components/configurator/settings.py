"""Which server variables can change on a running server (``SET GLOBAL``) and which need a restart.

This is data, not code elsewhere: a config change is applied live when every changed variable is listed in
``DYNAMIC``, and by a restart otherwise (replicas first, primary last, by the caller).
"""

from __future__ import annotations

# Variables replstack renders that MariaDB 10.11 lets SET GLOBAL change on a running server.
DYNAMIC: frozenset[str] = frozenset({
    "aria_checkpoint_interval", "binlog_format", "expire_logs_days", "general_log", "gtid_strict_mode",
    "innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit", "innodb_io_capacity", "innodb_io_capacity_max",
    "innodb_lru_scan_depth", "innodb_max_dirty_pages_pct", "innodb_max_dirty_pages_pct_lwm",
    "join_buffer_size", "key_buffer_size", "log_bin_compress", "long_query_time", "max_connections",
    "max_heap_table_size", "query_cache_size", "query_cache_type", "read_only", "slow_query_log",
    "sort_buffer_size", "sync_binlog", "tmp_table_size", "transaction_isolation", "userstat",
    "rpl_semi_sync_master_enabled", "rpl_semi_sync_slave_enabled", "max_allowed_packet",
    "innodb_buffer_pool_dump_at_shutdown", "innodb_buffer_pool_load_at_startup", "slave_net_timeout",
    "local_infile",
})


def split_changes(old: dict[str, str], new: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """The settings that changed between two renderings: (those that can be applied live with their new
    values, the names of those that need a restart). A removed setting always needs a restart, since its
    default comes back only then."""
    live: dict[str, str] = {}
    restart: set[str] = set()
    for name in set(old) | set(new):
        if old.get(name) == new.get(name):
            continue
        if name in new and name in DYNAMIC:
            live[name] = new[name]
        else:
            restart.add(name)
    return live, restart
