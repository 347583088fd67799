"""The settings vocabulary on real servers, through the CLI: replication-manager's default tag string given as it
is starts real mariadbd nodes that replicate with every tag's settings in force, and the preview warns about the
resource settings the local backend ignores without changing anything."""

from __future__ import annotations

import pytest

from components.configurator.tags import RM_DEFAULT_TAGS
from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster
from tests.support.cluster import cluster_config

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> CliStack:
    tmp = tmp_path_factory.mktemp("vocabulary")
    config = cluster_config(tmp / "data", nodes=2, proxies=[])
    config["replstack:prov-db-tags"] = RM_DEFAULT_TAGS
    with cli_cluster(tmp, config, name="vocabulary") as created:
        yield created


def variables(stack: CliStack, node: str, names: list[str]) -> dict[str, str]:
    endpoint = next(f"{n['host']}:{n['port']}" for n in stack.outputs()["nodes"] if n["name"] == node)
    with stack.connect(endpoint) as conn, conn.cursor() as cur:
        cur.execute("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE "
                    f"VARIABLE_NAME IN ({', '.join(['%s'] * len(names))})", [n.upper() for n in names])
        return {name.lower(): value for name, value in cur.fetchall()}


def test_the_default_tag_string_runs_and_replicates(stack):
    expected = {"rpl_semi_sync_master_enabled": "ON", "rpl_semi_sync_slave_enabled": "ON", "binlog_format": "ROW",
                "default_storage_engine": "InnoDB", "query_cache_type": "OFF", "thread_handling": "pool-of-threads",
                "slow_query_log": "ON", "performance_schema": "ON", "log_bin_compress": "ON"}
    for node in ("db1", "db2"):
        assert variables(stack, node, list(expected)) == expected
    outputs = stack.outputs()
    with stack.connect(outputs["writeEndpoint"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'SQL_ERROR_LOG'")
        assert cur.fetchone() == ("ACTIVE",)
        cur.execute("CREATE DATABASE app")
        cur.execute("CREATE TABLE app.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        cur.execute("INSERT INTO app.t VALUES (1), (2)")
    replica = next(f"{n['host']}:{n['port']}" for n in outputs["nodes"] if n["name"] == "db2")

    def there() -> bool:
        with stack.connect(replica) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app'")
            if cur.fetchone()[0] != 1:
                return False
            cur.execute("SELECT COUNT(*) FROM app.t")
            return cur.fetchone()[0] == 2

    wait_until(there, timeout=30, what="app.t on db2")
    stack.expect_no_changes().ok()


def test_resource_settings_the_local_backend_ignores_are_warned_about_and_change_nothing(stack):
    stack.config_set("replstack:database.tmpfsMb", 64)
    stack.config_set("replstack:database.disk.fs", "zfs")
    stack.config_set("replstack:database.disk.compression", "lz4")
    preview = stack.expect_no_changes().ok().output
    assert ("replstack:database: tmpfsMb (64), disk.fs (zfs), disk.compression (lz4) ignored by the local "
            "orchestrator") in preview, preview
    stack.config_set("replstack:database.disk.fs", "ext4")
    stack.config_set("replstack:database.disk.compression", "zstd")
    refused = stack.preview_diff()
    assert refused.returncode != 0
    assert "replstack:database.disk: compression 'zstd' with fs 'ext4': ext4 does not compress" in refused.output
    assert "Traceback" not in refused.output
