"""Every replication topology on real mariadbd and HAProxy processes, through the CLI as a user runs it: ``up``,
how writes flow between the nodes (a row written on one node appears on the others the topology says), the roles
of the ``nodes`` output, HAProxy's routing, ``preview --expect-no-changes``, then ``destroy`` leaving nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest

from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster, insert_marker
from tests.support.cluster import cluster_config
from tests.support.processes import listening_ports, processes_under

pytestmark = pytest.mark.timeout(600)


def config(tmp: Path, nodes: int, **bootstrap: Any) -> dict[str, Any]:
    return cluster_config(tmp / "data", nodes=nodes, bootstrap=bootstrap)


def address(stack: CliStack, name: str) -> str:
    node = next(n for n in stack.outputs()["nodes"] if n["name"] == name)
    return f"{node['host']}:{node['port']}"


def one(conn: pymysql.connections.Connection, sql: str, args: Any = None) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return row[0] if row else None


def slave_status(stack: CliStack, name: str) -> dict[str, Any]:
    with stack.connect(address(stack, name)) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        return cur.fetchone() or {}


def write_on(stack: CliStack, where: str) -> str:
    """A row written on ``where`` (a node name or an endpoint ``host:port``); returns its marker."""
    return insert_marker(stack, address(stack, where) if ":" not in where else where)


def arrives(stack: CliStack, name: str, marker: str) -> None:
    with stack.connect(address(stack, name)) as conn:
        def there() -> bool:
            try:
                return one(conn, "SELECT COUNT(*) FROM app.items WHERE marker = %s", (marker,)) == 1
            except pymysql.MySQLError:  # the table not replicated yet
                return False
        wait_until(there, timeout=30, what=f"row {marker} on {name}")


def roles(stack: CliStack) -> dict[str, str]:
    return {n["name"]: n["role"] for n in stack.outputs()["nodes"]}


def server_of(stack: CliStack, endpoint: str) -> int:
    with stack.connect(endpoint) as conn:
        return int(one(conn, "SELECT @@server_id"))


def destroyed(stack: CliStack, tmp: Path, ports: list[int]) -> None:
    stack.expect_no_changes().ok()
    stack.run("destroy", "--yes").ok()
    assert not processes_under(tmp), "destroy left processes running"
    assert not set(ports) & listening_ports(), "destroy left ports listening"


def ports_of(stack: CliStack) -> list[int]:
    outputs = stack.outputs()
    return [int(n["port"]) for n in outputs["nodes"]] + [int(p) for x in outputs["proxies"]
                                                           for p in x["ports"].values()]


def test_master_slave_no_gtid_replicates_by_file_and_position(tmp_path):
    with cli_cluster(tmp_path, config(tmp_path, 2, topology="master-slave-no-gtid")) as stack:
        assert roles(stack) == {"db1": "primary", "db2": "replica"}
        status = slave_status(stack, "db2")
        assert status["Using_Gtid"] == "No"
        assert int(status["Master_Port"]) == int(address(stack, "db1").rsplit(":", 1)[1])
        outputs = stack.outputs()
        arrives(stack, "db2", write_on(stack, outputs["writeEndpoint"]))
        assert server_of(stack, outputs["writeEndpoint"]) == 1
        assert server_of(stack, outputs["readEndpoint"]) == 2
        destroyed(stack, tmp_path, ports_of(stack))


@pytest.mark.parametrize("writable", ["both", "one"])
def test_multi_master_replicates_both_ways(tmp_path, writable):
    with cli_cluster(tmp_path, config(tmp_path, 2, topology="multi-master", multiMasterWritable=writable)) as stack:
        assert roles(stack) == {"db1": "master", "db2": "master"}
        ports = {name: int(address(stack, name).rsplit(":", 1)[1]) for name in ("db1", "db2")}
        assert int(slave_status(stack, "db1")["Master_Port"]) == ports["db2"]
        assert int(slave_status(stack, "db2")["Master_Port"]) == ports["db1"]
        arrives(stack, "db2", write_on(stack, "db1"))
        with stack.connect(address(stack, "db1")) as a, stack.connect(address(stack, "db2")) as b:
            assert (one(a, "SELECT @@auto_increment_offset"), one(b, "SELECT @@auto_increment_offset")) == (1, 2)
            assert one(a, "SELECT @@gtid_domain_id") != one(b, "SELECT @@gtid_domain_id")
            assert one(b, "SELECT @@read_only") == (0 if writable == "both" else 1)
        if writable == "both":
            arrives(stack, "db1", write_on(stack, "db2"))
            # Both took writes: the generated keys interleave, never collide.
            with stack.connect(address(stack, "db1")) as a, stack.connect(address(stack, "db2")) as b:
                for conn in (a, b):
                    assert one(conn, "SELECT COUNT(DISTINCT id) FROM app.items") == 2
        else:
            with stack.connect(address(stack, "db2")) as b, pytest.raises(pymysql.MySQLError, match="read-only"):
                write_on_conn = b.cursor()
                write_on_conn.execute("INSERT INTO app.items (marker) VALUES ('refused')")
        outputs = stack.outputs()
        assert server_of(stack, outputs["writeEndpoint"]) == 1  # the preferred primary while it is up
        destroyed(stack, tmp_path, ports_of(stack))


def test_multi_tier_leaf_replicates_from_the_relay(tmp_path):
    with cli_cluster(tmp_path, config(tmp_path, 3, topology="multi-tier-slave")) as stack:
        assert roles(stack) == {"db1": "primary", "db2": "relay", "db3": "replica"}
        relay_port = int(address(stack, "db2").rsplit(":", 1)[1])
        assert int(slave_status(stack, "db3")["Master_Port"]) == relay_port
        assert int(slave_status(stack, "db2")["Master_Port"]) == int(address(stack, "db1").rsplit(":", 1)[1])
        outputs = stack.outputs()
        marker = write_on(stack, outputs["writeEndpoint"])
        arrives(stack, "db2", marker)
        arrives(stack, "db3", marker)
        assert server_of(stack, outputs["writeEndpoint"]) == 1
        assert {server_of(stack, outputs["readEndpoint"]) for _ in range(6)} <= {2, 3}
        destroyed(stack, tmp_path, ports_of(stack))


def test_ring_write_on_any_node_reaches_every_node(tmp_path):
    with cli_cluster(tmp_path, config(tmp_path, 3, topology="ring")) as stack:
        assert roles(stack) == {"db1": "master", "db2": "master", "db3": "master"}
        ports = {name: int(address(stack, name).rsplit(":", 1)[1]) for name in ("db1", "db2", "db3")}
        for node, source in (("db1", "db3"), ("db2", "db1"), ("db3", "db2")):
            assert int(slave_status(stack, node)["Master_Port"]) == ports[source]
        for writer in ("db1", "db2", "db3"):
            marker = write_on(stack, writer)
            for reader in ("db1", "db2", "db3"):
                arrives(stack, reader, marker)
        with stack.connect(address(stack, "db3")) as conn:
            assert one(conn, "SELECT COUNT(DISTINCT id) FROM app.items") == 3
        outputs = stack.outputs()
        assert server_of(stack, outputs["writeEndpoint"]) == 1
        # A refresh reads every node against its own source: a healthy ring shows no drift.
        stack.run("refresh", "--yes").ok()
        destroyed(stack, tmp_path, ports_of(stack))
