"""Every kind the local backend runs here, through the CLI on one 2-node cluster: HAProxy (kept as it was),
a ShardProxy (MariaDB with Spider: a row written through it lands on the shard its key selects, on the primary,
and replicates), Sphinx (rows inserted in the cluster are found by a SphinxQL full-text query after the reindex
of the next ``up``), and the sysbench step (tables prepared once through the first proxy's write listener)."""

from __future__ import annotations

import time

import pymysql
import pytest

from components.configurator.shardproxy import shard_of
from tests.support.cli import CliStack, cli_cluster
from tests.support.cluster import cluster_config

pytestmark = pytest.mark.timeout(900)
SHARDS = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> CliStack:
    tmp = tmp_path_factory.mktemp("kinds")
    config = cluster_config(tmp / "data", nodes=2,
                            proxies=[{"kind": "haproxy"}, {"kind": "shardproxy", "shards": SHARDS},
                                     {"kind": "sphinx"}],
                            bootstrap={"sysbench": {"tables": 2, "rows": 200}})
    with cli_cluster(tmp, config) as created:
        yield created


def proxy(stack: CliStack, name: str) -> dict:
    return next(p for p in stack.outputs()["proxies"] if p["name"] == name)


def rows(conn, sql: str, args=None) -> list:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def test_outputs_name_every_listener(stack):
    proxies = {p["name"]: p for p in stack.outputs()["proxies"]}
    assert set(proxies) == {"haproxy1", "shardproxy1", "sphinx1"}
    haproxy = proxies["haproxy1"]
    assert set(haproxy["ports"]) == {"write", "read", "stats"}
    assert haproxy["writeEndpoint"] == f"{haproxy['host']}:{haproxy['ports']['write']}"
    assert haproxy["statsUrl"] == f"http://{haproxy['host']}:{haproxy['ports']['stats']}/"
    assert set(proxies["shardproxy1"]["ports"]) == {"sql"} and proxies["shardproxy1"]["statsUrl"] is None
    assert set(proxies["sphinx1"]["ports"]) == {"sphinxql", "api"} and proxies["sphinx1"]["writeEndpoint"] is None
    # The cluster's endpoints stay HAProxy's, the first proxy routing writes and reads.
    assert stack.outputs()["writeEndpoint"] == haproxy["writeEndpoint"]


def test_a_row_through_the_shardproxy_lands_on_the_shard_its_key_selects(stack):
    shardproxy = proxy(stack, "shardproxy1")
    with stack.connect(shardproxy["writeEndpoint"]) as conn:
        for key in range(1, 10):
            rows(conn, "INSERT INTO replstack_shard.items (id, payload) VALUES (%s, %s)", (key, f"row {key}"))
        assert rows(conn, "SELECT COUNT(*) FROM replstack_shard.items")[0][0] == 9
    primary = next(n for n in stack.outputs()["nodes"] if n["role"] == "primary")
    with stack.connect(f"{primary['host']}:{primary['port']}") as conn:
        for n in range(1, SHARDS + 1):
            held = {r[0] for r in rows(conn, f"SELECT id FROM replstack_shard{n}.items")}
            assert held == {k for k in range(1, 10) if shard_of(k, SHARDS) == n}, (n, held)
    replica = next(n for n in stack.outputs()["nodes"] if n["role"] == "replica")
    with stack.connect(f"{replica['host']}:{replica['port']}") as conn:
        deadline = time.time() + 30
        while rows(conn, "SELECT COUNT(*) FROM replstack_shard1.items")[0][0] != 3 and time.time() < deadline:
            time.sleep(0.5)
        assert rows(conn, f"SELECT id FROM replstack_shard{shard_of(4, SHARDS)}.items WHERE id = 4") == [(4,)]


def test_sysbench_tables_are_prepared_once(stack):
    haproxy = proxy(stack, "haproxy1")
    with stack.connect(haproxy["writeEndpoint"]) as conn:
        assert [rows(conn, f"SELECT COUNT(*) FROM sbtest.sbtest{n}")[0][0] for n in (1, 2)] == [200, 200]
        created = rows(conn, "SELECT create_time FROM information_schema.tables WHERE table_schema = 'sbtest' "
                             "ORDER BY table_name")
    assert stack.state("sysbench")["result"].startswith("prepared 2 table(s)")
    stack.up().ok()  # also the reindex the next test relies on
    with stack.connect(haproxy["writeEndpoint"]) as conn:
        assert rows(conn, "SELECT create_time FROM information_schema.tables WHERE table_schema = 'sbtest' "
                          "ORDER BY table_name") == created


def test_rows_inserted_in_the_cluster_are_found_by_sphinxql_after_up(stack):
    haproxy = proxy(stack, "haproxy1")
    with stack.connect(haproxy["writeEndpoint"]) as conn:
        rows(conn, "INSERT INTO replstack_search.documents (title, body) VALUES (%s, %s), (%s, %s)",
             ("Spider shards", "rows spread over servers", "Sphinx search", "a full-text index of quokkas"))
    preview = stack.preview_diff().ok().output
    assert "refresh Sphinx: reindex" in preview
    stack.up().ok()
    sphinx = proxy(stack, "sphinx1")
    conn = pymysql.connect(host=sphinx["host"], port=sphinx["ports"]["sphinxql"], user="", connect_timeout=5)
    try:
        found = rows(conn, "SELECT id, title FROM documents WHERE MATCH('quokkas')")
        assert [title for _, title in found] == ["Sphinx search"]
        assert rows(conn, "SELECT id FROM documents WHERE MATCH('nothing_like_this')") == []
    finally:
        conn.close()
