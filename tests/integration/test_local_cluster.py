"""A 3-node GTID primary/replica MariaDB cluster with HAProxy on the local backend, through the real engine:
up, preview, refresh after a killed replica, up again, destroy. Real mariadbd and HAProxy processes."""

from __future__ import annotations

import os
import signal
import uuid

import psutil
import pytest
import yaml

from components.waiting import wait_until
from tests.support.cluster import LocalCluster, local_cluster
from tests.support.processes import listening_ports, processes_under
from tests.support.sampling import Sampler

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> LocalCluster:
    with local_cluster(tmp_path_factory.mktemp("local-cluster")) as running:
        yield running


def scalar(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return row[0] if row else None


def slave_status(conn) -> dict:
    with conn.cursor(__import__("pymysql").cursors.DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        return cur.fetchone() or {}


def replicas(cluster: LocalCluster) -> list[str]:
    return [n["name"] for n in cluster.outputs["nodes"] if n["role"] == "replica"]


def test_outputs_describe_the_cluster(cluster):
    out = cluster.outputs
    assert out["primary"] == "db1"
    assert [(n["name"], n["role"]) for n in out["nodes"]] == [("db1", "primary"), ("db2", "replica"), ("db3", "replica")]
    assert out["rootUser"] == "root" and len(out["rootPassword"]) >= 24
    assert out["writeEndpoint"] != out["readEndpoint"]
    # The password is a secret in state: encrypted, not readable in the checkpoint.
    state = (cluster.project.state_dir / ".pulumi").rglob("*.json")
    assert not any(out["rootPassword"] in path.read_text() for path in state)
    # ... and on no command line of any process.
    for proc in psutil.process_iter(["cmdline"]):
        assert out["rootPassword"] not in " ".join(proc.info["cmdline"] or [])


def test_row_written_through_write_endpoint_reaches_every_replica_and_read_endpoint(cluster):
    marker = uuid.uuid4().hex
    with cluster.connect(cluster.outputs["writeEndpoint"]) as conn:
        assert scalar(conn, "SELECT @@port") == cluster.node("db1")["port"]
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS app")
            cur.execute("CREATE TABLE IF NOT EXISTS app.items (id INT AUTO_INCREMENT PRIMARY KEY, marker CHAR(32))")
            cur.execute("INSERT INTO app.items (marker) VALUES (%s)", (marker,))
    for name in replicas(cluster):
        with cluster.connect(cluster.node_address(name)) as conn:
            wait_until(lambda: scalar(conn, "SELECT COUNT(*) FROM app.items WHERE marker = %s", (marker,)) == 1,
                       timeout=30, what=f"the row on {name}")
    seen_ports = set()
    for _ in range(4):
        with cluster.connect(cluster.outputs["readEndpoint"]) as conn:
            assert scalar(conn, "SELECT COUNT(*) FROM app.items WHERE marker = %s", (marker,)) == 1
            seen_ports.add(scalar(conn, "SELECT @@port"))
    assert seen_ports <= {cluster.node(n)["port"] for n in replicas(cluster)}, "reads must go to replicas only"


def test_replicas_are_read_only_replicating_with_matching_gtid(cluster):
    with cluster.connect(cluster.node_address("db1")) as primary:
        assert scalar(primary, "SELECT @@read_only") == 0
        assert scalar(primary, "SELECT @@gtid_strict_mode") == 1
        with primary.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS app")
            cur.execute("CREATE TABLE IF NOT EXISTS app.ticks (id INT AUTO_INCREMENT PRIMARY KEY)")
            cur.execute("INSERT INTO app.ticks VALUES ()")
        position = scalar(primary, "SELECT @@gtid_binlog_pos")
    for name in replicas(cluster):
        with cluster.connect(cluster.node_address(name)) as conn:
            assert scalar(conn, "SELECT @@read_only") == 1
            status = slave_status(conn)
            assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
            assert status["Using_Gtid"] == "Slave_Pos"
            assert int(status["Master_Port"]) == cluster.node("db1")["port"]
            wait_until(lambda: scalar(conn, "SELECT @@gtid_current_pos") == position, timeout=30,
                       what=f"{name} at GTID {position}")


def test_preview_after_up_reports_no_changes_and_second_up_changes_nothing(cluster):
    preview = cluster.stack.preview(on_output=print)
    assert set(preview.change_summary) == {"same"}, preview.change_summary
    pids = {n: cluster.resource_outputs(n)["pid"] for n in ("db1", "db2", "db3", "haproxy1")}
    up = cluster.stack.up(on_output=print)
    assert set(up.summary.resource_changes) == {"same"}, up.summary.resource_changes
    assert {n: cluster.resource_outputs(n)["pid"] for n in pids} == pids


class ReplicaWatch(Sampler):
    """Counts, while an update runs, the replica servers that are up; keeps the fewest seen."""

    def __init__(self, cluster: LocalCluster):
        super().__init__()
        self.markers = [f"/{name}/my.cnf" for name in replicas(cluster)]
        self.root = cluster.data_dir
        self.fewest_replicas_running = len(self.markers)

    def sample(self) -> None:
        cmdlines = []
        for proc in processes_under(self.root):
            try:
                cmdlines.append(" ".join(proc.cmdline()))
            except psutil.Error:  # it ended between the listing and this look: not running
                continue
        running = sum(any(marker in c for c in cmdlines) for marker in self.markers)
        self.fewest_replicas_running = min(self.fewest_replicas_running, running)


def test_dynamic_setting_is_applied_live_and_static_one_by_rolling_restart(cluster):
    settings_file = cluster.project.root / "Pulumi.test.yaml"
    original = settings_file.read_text()
    config = yaml.safe_load(original)["config"]
    pids = {n: cluster.resource_outputs(n)["pid"] for n in ("db1", "db2", "db3")}
    try:
        database = {**config["replstack:database"], "maxConnections": 1500}
        cluster.project.write_config("test", {**config, "replstack:database": database})
        cluster.stack.up(on_output=print)
        assert {n: cluster.resource_outputs(n)["pid"] for n in pids} == pids, "a dynamic change restarts nothing"
        for name in pids:
            with cluster.connect(cluster.node_address(name)) as conn:
                assert scalar(conn, "SELECT @@max_connections") == 1500

        database["settings"] = {"innodb_log_buffer_size": "32M"}
        cluster.project.write_config("test", {**config, "replstack:database": database})
        with ReplicaWatch(cluster) as watch:
            cluster.stack.up(on_output=print)
        assert watch.fewest_replicas_running >= 1, "replicas restart one at a time"
        started = {n: psutil.Process(int(cluster.resource_outputs(n)["pid"])).create_time() for n in pids}
        assert started["db1"] >= max(started["db2"], started["db3"]), "replicas restart first, the primary last"
        for name in pids:
            assert cluster.resource_outputs(name)["pid"] != pids[name], f"{name} restarts for a static change"
            with cluster.connect(cluster.node_address(name)) as conn:
                assert scalar(conn, "SELECT @@innodb_log_buffer_size") == 32 * 1024 * 1024
                assert scalar(conn, "SELECT @@max_connections") == 1500
                if name != "db1":
                    status = slave_status(conn)
                    assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
    finally:
        settings_file.write_text(original)
        cluster.stack.up(on_output=print)


def test_killed_replica_is_reported_by_refresh_and_restarted_by_up(cluster):
    victim = "db2"
    old_pid = int(cluster.resource_outputs(victim)["pid"])
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE,
               timeout=10, what="the killed mariadbd to go")

    refresh = cluster.stack.refresh(on_output=print)
    assert refresh.summary.resource_changes.get("update", 0) >= 1, refresh.summary.resource_changes
    assert cluster.resource_outputs(victim)["running"] is False

    marker = uuid.uuid4().hex
    with cluster.connect(cluster.outputs["writeEndpoint"]) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS app")
            cur.execute("CREATE TABLE IF NOT EXISTS app.items (id INT AUTO_INCREMENT PRIMARY KEY, marker CHAR(32))")
            cur.execute("INSERT INTO app.items (marker) VALUES (%s)", (marker,))

    up = cluster.stack.up(on_output=print)
    assert up.summary.resource_changes.get("update", 0) >= 1, up.summary.resource_changes
    state = cluster.resource_outputs(victim)
    assert state["running"] is True and int(state["pid"]) != old_pid
    assert psutil.Process(int(state["pid"])).is_running()
    with cluster.connect(cluster.node_address(victim)) as conn:
        wait_until(lambda: scalar(conn, "SELECT COUNT(*) FROM app.items WHERE marker = %s", (marker,)) == 1,
                   timeout=30, what="the row written while the replica was down")
        status = slave_status(conn)
        assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
        assert scalar(conn, "SELECT @@read_only") == 1


def test_destroy_leaves_no_process_port_or_directory(cluster):
    ports = {n["port"] for n in cluster.outputs["nodes"]}
    for proxy in cluster.outputs["proxies"]:
        ports |= {int(proxy[k].rsplit(":", 1)[1]) for k in ("writeEndpoint", "readEndpoint")}
    assert processes_under(cluster.data_dir), "the cluster should be running before destroy"

    destroy = cluster.stack.destroy(on_output=print)
    cluster.destroyed = True
    assert destroy.summary.resource_changes.get("delete", 0) >= 15

    assert processes_under(cluster.data_dir) == []
    assert not (ports & listening_ports())
    assert not cluster.data_dir.exists() or list(cluster.data_dir.iterdir()) == []
