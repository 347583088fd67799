"""Real resizes through the CLI: 2 -> 4 -> 2 nodes with a dataset, the primary's binary logs purged before the
scale out (so the new replicas can only come from a copy), a writer through the write endpoint the whole time
(no acknowledged row may be lost), a removed node's data kept with keepData; then a plan switch from the shipped
x2.tiny to a small plan of a registry file, and back. Real mariadbd and HAProxy processes."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import psutil
import pymysql
import pytest

from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster
from tests.support.cluster import cluster_config
from tests.support.processes import listening_ports, processes_under
from tests.support.sysbench import SysbenchLoad

pytestmark = pytest.mark.timeout(600)

TABLES = 4
ROWS = 25_000  # per table: 100k rows in all


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> CliStack:
    tmp = tmp_path_factory.mktemp("resize")
    with cli_cluster(tmp, cluster_config(tmp / "data", nodes=2)) as created:
        yield created


def node_address(stack: CliStack, name: str) -> str:
    node = next(n for n in stack.outputs()["nodes"] if n["name"] == name)
    return f"{node['host']}:{node['port']}"


def rows(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def counts(stack: CliStack, name: str) -> dict[str, int]:
    with stack.connect(node_address(stack, name)) as conn:
        tables = [r[0] for r in rows(conn, "SELECT TABLE_NAME FROM information_schema.TABLES "
                                           "WHERE TABLE_SCHEMA = 'app' ORDER BY 1")]
        return {t: rows(conn, f"SELECT COUNT(*) FROM app.`{t}`")[0][0] for t in tables}


class Writer(threading.Thread):
    """Inserts one row per transaction through the write endpoint, remembering the ids the server acknowledged
    (a commit that returned); reconnects after an error and counts the failures."""

    def __init__(self, stack: CliStack):
        super().__init__(daemon=True)
        outputs = stack.outputs()
        host, port = outputs["writeEndpoint"].rsplit(":", 1)
        self.params = dict(host=host, port=int(port), user=outputs["rootUser"], password=outputs["rootPassword"],
                           autocommit=True, connect_timeout=5, read_timeout=10, write_timeout=10)
        self.acknowledged: list[int] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = pymysql.connect(**self.params)
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO app.writes (at) VALUES (NOW(6))")
                    self.acknowledged.append(cur.lastrowid)
            except pymysql.MySQLError:
                self.failures += 1
                conn = None
                self.stopping.wait(0.2)
            else:
                self.stopping.wait(0.01)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def load_dataset(stack: CliStack) -> None:
    with stack.connect(stack.outputs()["writeEndpoint"]) as conn:
        for i in range(1, TABLES + 1):
            rows(conn, f"CREATE TABLE IF NOT EXISTS app.t{i} (id INT PRIMARY KEY, payload CHAR(200)) ENGINE=InnoDB")
            rows(conn, f"INSERT INTO app.t{i} SELECT seq, REPEAT(CHAR(65 + seq % 26), 200) FROM app.seq_1_to_{ROWS}")
        rows(conn, "CREATE TABLE IF NOT EXISTS app.writes (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))")


def purge_binary_logs(stack: CliStack) -> str:
    """Every binary log but the current one goes, once the replica has read them: a replica made from scratch
    could not start from the primary's history any more."""
    with stack.connect(node_address(stack, "db1")) as conn:
        rows(conn, "FLUSH BINARY LOGS")
        current = rows(conn, "SHOW MASTER STATUS")[0][0]

        def purged() -> bool:  # a log the replica's dump thread still reads is kept: try until it moved on
            rows(conn, "PURGE BINARY LOGS TO %s", (current,))
            return rows(conn, "SHOW BINARY LOGS")[0][0] == current

        wait_until(purged, timeout=30, what="the primary's old binary logs to be purged")
        first = current
        start = rows(conn, "SELECT BINLOG_GTID_POS(%s, 4)", (first,))[0][0]
    assert start, "the primary's first binary log no longer starts at the beginning of its history"
    return start


def seed_record(stack: CliStack, name: str) -> dict:
    return json.loads((stack.data_dir / f"replstack-{stack.name}" / name / "seed.json").read_text())


def test_scale_out_from_a_copy_after_the_binary_logs_were_purged_then_scale_in(stack):
    assert stack.config()["replstack:database"]["nodes"] == 2
    with stack.connect(stack.outputs()["writeEndpoint"]) as conn:
        rows(conn, "CREATE DATABASE IF NOT EXISTS app")
    load_dataset(stack)
    outputs = stack.outputs()
    load = SysbenchLoad(outputs["writeEndpoint"], outputs["rootUser"], outputs["rootPassword"],
                        stack.project.root.parent / "sysbench")
    load.prepare()
    purge_binary_logs(stack)
    writer = Writer(stack)
    writer.start()
    load.__enter__()
    try:
        load.wait_running()
        stack.config_set("replstack:database.nodes", 4)
        preview = stack.preview_diff().ok().output
        assert "create: a new replica seeded from db2" in preview, preview
        started = time.monotonic()
        stack.up().ok()
        scale_out = time.monotonic() - started
        assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2", "db3", "db4"]
        for name in ("db3", "db4"):
            record = seed_record(stack, name)
            assert record["source"] == "db2" and record["verified"] and record["tables"] == TABLES + 1 + load.tables, record
            assert record["copiedMB"] > 10
            log = (stack.data_dir / f"replstack-{stack.name}" / name / "seed.log").read_text()
            assert "copied" in log and "holds the data of db2" in log
            # sysbench wrote during the copy: the source's counts were not at the copy's position.
            assert "both counted now" in log, log
        reference = counts(stack, "db2")
        assert all(reference[f"t{i}"] == ROWS for i in range(1, TABLES + 1))
        stack.expect_no_changes().ok()

        # Scale in, keeping the removed nodes' data.
        stack.config_set("replstack:keepData", True)
        stack.up().ok()
        removed_ports = {int(node_address(stack, n).rsplit(":", 1)[1]) for n in ("db3", "db4")}
        stack.config_set("replstack:database.nodes", 2)
        preview = stack.preview_diff().ok().output
        assert "db3, db4 leave(s) the topology" in preview
        assert "db3, db4 leave the read pool before being removed" in preview
        up = stack.up().ok().output
        # The proxy reloads without them before they are deleted.
        assert up.index("haproxy1 updated") < up.index("db3 deleted") and up.index("haproxy1 updated") < \
            up.index("db4 deleted"), up
        stack.expect_no_changes().ok()
    finally:
        load.__exit__()
        writer.stop()
    print(load.summary())
    assert load.failed() == 0, "no transaction fails while replicas are added and removed:\n" + \
        "\n".join(load.output[-30:])
    assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2"]
    assert not [p for p in processes_under(stack.data_dir) if "/db3/" in " ".join(p.cmdline())
                or "/db4/" in " ".join(p.cmdline())]
    assert not removed_ports & listening_ports()
    for name in ("db3", "db4"):
        assert (stack.data_dir / f"replstack-{stack.name}" / name / "data" / "app" / "t1.ibd").is_file(), \
            "keepData keeps a removed node's data"

    with stack.connect(node_address(stack, "db1")) as conn:
        present = {r[0] for r in rows(conn, "SELECT id FROM app.writes")}
        target = rows(conn, "SELECT @@gtid_binlog_pos")[0][0]
    lost = [i for i in writer.acknowledged if i not in present]
    print(f"scale out 2 -> 4 with {TABLES * ROWS} rows: {scale_out:.1f}s; writer: "
          f"{len(writer.acknowledged)} acknowledged rows, {writer.failures} failed, {len(lost)} lost")
    assert len(writer.acknowledged) > 50 and not lost
    with stack.connect(node_address(stack, "db2")) as conn:
        assert rows(conn, "SELECT MASTER_GTID_WAIT(%s, 30)", (target,))[0][0] == 0
        assert rows(conn, "SELECT COUNT(*) FROM app.writes")[0][0] == len(present)
    assert load.checksums(node_address(stack, "db1")) == load.checksums(node_address(stack, "db2"))


def test_plan_switch_from_the_shipped_catalogue_to_a_registry_file_and_back(stack):
    """x2.tiny (2 nodes, 1024 MB, 2 cores) -> a 3-node 256 MB plan of a registry file the test writes -> x2.tiny:
    node count and resources follow the plan, the added node is seeded, the removed one drained."""
    registry = stack.project.root / "plans.csv"
    registry.write_text("id,plan,nodes,dbmemory,dbcores,dbdatasize,dbsystemsize,dbiops,dbcpufreq,prxcores,prxdatasize\n"
                        "1,test.small,3,256,1,10,2,400,3000,1,5\n")
    config = stack.config()
    base = {k: v for k, v in config.items() if k not in ("replstack:database", "replstack:keepData")}

    def switch(**plan) -> str:
        stack.write_config({**base, "replstack:database": {}, **{f"replstack:{k}": v for k, v in plan.items()}})
        preview = stack.preview_diff().ok().output
        stack.up().ok()
        stack.expect_no_changes().ok()
        return preview

    def settings(name: str) -> tuple:
        with stack.connect(node_address(stack, name)) as conn:
            return rows(conn, "SELECT @@innodb_buffer_pool_size DIV 1048576, @@innodb_read_io_threads, "
                              "@@innodb_io_capacity_max")[0]

    switch(servicePlan="x2.tiny")
    assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2"]
    assert settings("db2")[1:] == (2, 300)
    preview = switch(servicePlan="test.small", servicePlanRegistry="plans.csv")
    assert "create: a new replica seeded from db2" in preview
    assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2", "db3"]
    assert all(settings(n)[1:] == (1, 400) for n in ("db1", "db2", "db3"))
    preview = switch(servicePlan="x2.tiny")
    assert "db3 leave(s) the topology" in preview
    assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2"]
    assert all(settings(n)[1:] == (2, 300) for n in ("db1", "db2"))


def test_whole_cluster_killed_comes_back_with_one_up_refresh(stack):
    victims = [int(stack.state(name)["pid"]) for name in ("db1", "db2")]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                               for p in victims), timeout=10, what="the killed servers to go")
    started = time.monotonic()
    stack.up("--refresh").ok()
    took = time.monotonic() - started
    print(f"whole-cluster recovery: one up --refresh in {took:.1f}s")
    assert took < 90, "no step waits for a dead primary"
    stack.expect_no_changes().ok()
    with stack.connect(stack.outputs()["writeEndpoint"]) as conn:
        rows(conn, "INSERT INTO app.writes (at) VALUES (NOW(6))")
        target = rows(conn, "SELECT @@gtid_binlog_pos")[0][0]
    with stack.connect(node_address(stack, "db2")) as conn:
        assert rows(conn, "SELECT MASTER_GTID_WAIT(%s, 30)", (target,))[0][0] == 0


def test_the_quick_data_check_compares_at_the_recorded_position_and_names_what_differs(stack):
    """The quick check of a new replica (its source's row counts, recorded while the copy streamed) on real
    servers: it compares only when the replica is exactly at the recorded position, and a table whose count
    differs fails it by name. Replication runs again afterwards either way."""
    from components.datacheck import DataMismatch, snapshot_counts, verify_recorded
    from components.sql import Endpoint

    def node(name: str) -> dict:
        host, port = node_address(stack, name).rsplit(":", 1)
        with stack.connect(node_address(stack, name)) as conn:
            socket = rows(conn, "SELECT @@socket")[0][0]
        return {"name": name, "host": host, "port": int(port), "socket": socket}

    def endpoint(n: dict) -> Endpoint:
        return Endpoint.admin_of_node(n, "", "")

    def caught_up() -> None:
        with stack.connect(node_address(stack, "db1")) as conn:
            target = rows(conn, "SELECT @@gtid_binlog_pos")[0][0]
        with stack.connect(node_address(stack, "db2")) as conn:
            assert rows(conn, "SELECT MASTER_GTID_WAIT(%s, 30)", (target,))[0][0] == 0

    db1, db2 = node("db1"), node("db2")
    with stack.connect(node_address(stack, "db1")) as conn:
        rows(conn, "CREATE DATABASE IF NOT EXISTS app")
        rows(conn, "CREATE TABLE app.quick (id INT PRIMARY KEY)")
        rows(conn, "INSERT INTO app.quick VALUES (1), (2), (3)")
    try:
        caught_up()
        at, tables = snapshot_counts(endpoint(db1))
        assert tables["app.quick"] == 3
        assert verify_recorded(db2, "db1", {"gtid": at, "tables": tables}, endpoint) == (at, len(tables))
        with pymysql.connect(unix_socket=db2["socket"], user="root", autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_log_bin = 0")
            cur.execute("DELETE FROM app.quick WHERE id = 3")
        with pytest.raises(DataMismatch, match=r"app.quick: 3 rows on db1, 2 here"):
            verify_recorded(db2, "db1", {"gtid": at, "tables": tables}, endpoint)
        with stack.connect(node_address(stack, "db1")) as conn:
            rows(conn, "INSERT INTO app.quick VALUES (4)")
        caught_up()  # replication was started again after each check
        assert verify_recorded(db2, "db1", {"gtid": at, "tables": tables}, endpoint) is None, \
            "a replica past the recorded position is left to the full check"
    finally:
        with pymysql.connect(unix_socket=db2["socket"], user="root", autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_log_bin = 0")
            cur.execute("INSERT IGNORE INTO app.quick VALUES (3)")
        with stack.connect(node_address(stack, "db1")) as conn:
            rows(conn, "DROP TABLE app.quick")
    caught_up()
