"""The pull-request gate, as users run it: for each kind of change to a real 3-node + HAProxy cluster,
``scripts/pulumi preview --diff`` exits 0 and says what will happen in words, plain ``scripts/pulumi up --yes``
(which previews first) applies it, and ``preview --expect-no-changes`` then passes. Real mariadbd and HAProxy
processes; the tests run in order on one cluster, each leaving it converged for the next."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import psutil
import pymysql
import pytest

from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster, insert_marker
from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR
from tests.support.processes import listening_ports, processes_under
from tests.support.sysbench import SysbenchLoad

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> CliStack:
    tmp = tmp_path_factory.mktemp("cli-changes")
    with cli_cluster(tmp, cluster_config(tmp / "data")) as created:
        yield created


def scalar(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return row[0] if row else None


def node_address(stack: CliStack, name: str) -> str:
    node = next(n for n in stack.outputs()["nodes"] if n["name"] == name)
    return f"{node['host']}:{node['port']}"


def pid_of(stack: CliStack, name: str) -> int:
    return int(stack.state(name)["pid"])


def apply(stack: CliStack, *expected: str) -> str:
    """preview --diff (naming every expected fragment), up, then a preview that must find nothing to do."""
    preview = stack.preview_diff().ok().output
    assert "Traceback" not in preview
    for fragment in expected:
        assert fragment in preview, f"the preview should say {fragment!r}"
    stack.up().ok()
    stack.expect_no_changes().ok()
    return preview


def replicating(stack: CliStack, name: str) -> bool:
    with stack.connect(node_address(stack, name)) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        status = cur.fetchone() or {}
    return (status.get("Slave_IO_Running"), status.get("Slave_SQL_Running")) == ("Yes", "Yes")


def write_marker(stack: CliStack) -> str:
    return insert_marker(stack, stack.outputs()["writeEndpoint"])


def wait_for_marker(stack: CliStack, name: str, marker: str) -> None:
    with stack.connect(node_address(stack, name)) as conn:
        wait_until(lambda: scalar(conn, "SELECT COUNT(*) FROM app.items WHERE marker = %s", (marker,)) == 1,
                   timeout=30, what=f"the row on {name}")


def test_no_op_preview_shows_only_unchanged_resources(stack):
    preview = stack.preview_diff().ok().output
    assert "unchanged" in preview and "to update" not in preview and "to create" not in preview
    stack.expect_no_changes().ok()


def test_dynamic_setting_is_previewed_as_live_and_applied_without_restart(stack):
    pids = {name: pid_of(stack, name) for name in ("db1", "db2", "db3")}
    stack.config_set("replstack:database.maxConnections", 1500)
    preview = apply(stack, "live: SET GLOBAL max_connections = 1500 (no restart)")
    assert "~ 3 to update" in preview, "only the three nodes change: nothing restarts, nothing to verify again"
    assert {name: pid_of(stack, name) for name in pids} == pids, "a live change restarts nothing"
    for name in pids:
        with stack.connect(node_address(stack, name)) as conn:
            assert scalar(conn, "SELECT @@max_connections") == 1500


def test_static_setting_is_previewed_as_a_rolling_restart(stack):
    pids = {name: pid_of(stack, name) for name in ("db1", "db2", "db3")}
    stack.config_set("replstack:database.settings.innodb_log_buffer_size", "32M")
    apply(stack, "restart: innodb_log_buffer_size cannot change on a running server",
          "replicas restart one at a time", "the primary restarts after every replica")
    started = {name: psutil.Process(pid_of(stack, name)).create_time() for name in pids}
    assert all(pid_of(stack, name) != pids[name] for name in pids), "every node restarted"
    assert started["db1"] >= max(started["db2"], started["db3"]), "the primary restarts last"
    for name in ("db2", "db3"):
        assert replicating(stack, name)


def test_scale_out_to_four_nodes_creates_a_replica_that_gets_the_data(stack):
    marker = write_marker(stack)
    stack.config_set("replstack:database.nodes", 4)
    apply(stack, "create: a new replica", "attach db4 as replica(s) of db1", "the read pool gains db4")
    wait_for_marker(stack, "db4", marker)
    assert replicating(stack, "db4")
    with stack.connect(node_address(stack, "db4")) as conn:
        assert scalar(conn, "SELECT @@read_only") == 1


def test_scale_in_to_three_nodes_drains_the_replica_first(stack):
    db4_port = int(node_address(stack, "db4").rsplit(":", 1)[1])
    stack.config_set("replstack:database.nodes", 3)
    apply(stack, "db4 leave(s) the topology: the proxies stop routing to it first",
          "db4 leaves the read pool before being removed", "local:MariaDBServer: (delete)",
          "MariaDBServer::db4]")
    assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2", "db3"]
    assert not [p for p in processes_under(stack.data_dir) if "/db4/" in " ".join(p.cmdline())]
    assert db4_port not in listening_ports()
    assert not list(stack.data_dir.rglob("db4"))


def test_proxy_added_then_removed(stack):
    proxies = stack.config()["replstack:proxies"]
    stack.config_set("replstack:proxies", proxies + [{"kind": "haproxy"}])
    apply(stack, "create: start HAProxy: writes to db1, reads from db2, db3")
    added = next(p for p in stack.outputs()["proxies"] if p["name"] == "haproxy2")
    with stack.connect(added["writeEndpoint"]) as conn:
        assert scalar(conn, "SELECT @@read_only") == 0
    stack.config_set("replstack:proxies", proxies)
    apply(stack, "local:HAProxy: (delete)", "HAProxy::haproxy2]")
    port = int(added["writeEndpoint"].rsplit(":", 1)[1])
    assert port not in listening_ports()
    assert not [p for p in processes_under(stack.data_dir) if "/haproxy2/" in " ".join(p.cmdline())]


def test_root_password_rotation_is_previewed_and_never_printed(stack):
    old_password = stack.outputs()["rootPassword"]
    new_password = "Rotated" + uuid.uuid4().hex
    stack.config_set_secret("replstack:rootPassword", new_password)
    preview = apply(stack, "re-key: the root account's name or password changes")
    assert new_password not in preview and old_password not in preview
    assert stack.outputs()["rootPassword"] == new_password
    for name in ("db1", "db2", "db3"):
        with stack.connect(node_address(stack, name), password=new_password) as conn:
            assert scalar(conn, "SELECT 1") == 1
        with pytest.raises(pymysql.err.OperationalError):
            stack.connect(node_address(stack, name), password=old_password)
    marker = write_marker(stack)
    wait_for_marker(stack, "db3", marker)


@pytest.mark.parametrize("victim", ["db2", "db1"], ids=["replica", "primary"])
def test_killed_node_is_previewed_as_start_and_repaired_by_up_refresh(stack, victim):
    old_pid = pid_of(stack, victim)
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE,
               timeout=10, what="the killed mariadbd to go")
    preview = stack.preview_diff("--refresh").ok().output
    assert "start: mariadbd is not running" in preview and "Traceback" not in preview
    stack.up("--refresh").ok()
    stack.expect_no_changes().ok()
    assert pid_of(stack, victim) != old_pid and psutil.Process(pid_of(stack, victim)).is_running()
    marker = write_marker(stack)
    for name in ("db2", "db3"):
        wait_for_marker(stack, name, marker)
        assert replicating(stack, name)


class Writer(threading.Thread):
    """Inserts one row per transaction through the write endpoint until stopped; keeps the rows the server
    acknowledged and how long writes failed in a row at most."""

    def __init__(self, stack: CliStack):
        super().__init__(daemon=True)
        self.outputs = stack.outputs()
        self.acknowledged: list[str] = []
        self.longest_outage = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        failing_since = None
        host, port = self.outputs["writeEndpoint"].rsplit(":", 1)
        for _ in range(100_000):
            if self.stop.is_set():
                break
            marker = uuid.uuid4().hex
            try:
                with pymysql.connect(host=host, port=int(port), user=self.outputs["rootUser"],
                                     password=self.outputs["rootPassword"], autocommit=True,
                                     connect_timeout=2, read_timeout=5) as conn, conn.cursor() as cur:
                    cur.execute("INSERT INTO app.items (marker) VALUES (%s)", (marker,))
                self.acknowledged.append(marker)
                if failing_since is not None:
                    self.longest_outage = max(self.longest_outage, time.monotonic() - failing_since)
                    failing_since = None
            except pymysql.MySQLError:
                failing_since = failing_since or time.monotonic()
                self.stop.wait(0.05)


def test_switchover_moves_the_primary_with_no_lost_write(stack):
    config = stack.config()
    write_marker(stack)  # the table exists
    stack.config_set("replstack:database.nodes", 4)
    stack.config_set("replstack:database.preferredPrimary", "db4")
    refused = stack.preview_diff()
    assert refused.returncode != 0 and "add the node first, then switch over to it" in refused.output
    assert "Traceback" not in refused.output
    stack.write_config(config)

    outputs = stack.outputs()
    load = SysbenchLoad(outputs["writeEndpoint"], outputs["rootUser"], outputs["rootPassword"],
                        stack.project.root.parent / "sysbench")
    load.prepare()
    writer = Writer(stack)
    writer.start()
    with load:
        try:
            load.wait_running()
            wait_until(lambda: len(writer.acknowledged) >= 10, timeout=30, what="writes before the switchover")
            stack.config_set("replstack:database.preferredPrimary", "db2")
            window = [(time.monotonic(), 0.0)]
            apply(stack, "switchover db1 → db2: db1 turns read-only", "switchover: it becomes the primary")
            window = [(window[0][0], time.monotonic())]
            wait_until(lambda: len(writer.acknowledged) >= 10 + 20, timeout=30, what="writes after the switchover")
            committed = load.transactions()
            try:
                wait_until(lambda: load.transactions() > committed + 50, timeout=30,
                           what="sysbench committing on the new primary")
            except TimeoutError:
                print("\n".join(load.output[-60:]))  # what sysbench said, for the failure's report
                raise
        finally:
            writer.stop.set()
            writer.join(timeout=30)
    print(f"switchover: {len(writer.acknowledged)} writes acknowledged, longest write outage "
          f"{writer.longest_outage:.2f} s; {load.summary(outside=window)}")
    assert load.failed(outside=window) == 0, "transactions fail only during the switchover:\n" + \
        "\n".join(load.output[-40:])
    outputs = stack.outputs()
    assert outputs["primary"] == "db2"
    db2_port = int(node_address(stack, "db2").rsplit(":", 1)[1])
    with stack.connect(outputs["writeEndpoint"]) as conn:
        assert scalar(conn, "SELECT @@port") == db2_port
        assert scalar(conn, "SELECT @@read_only") == 0
    for name in ("db1", "db3"):
        assert replicating(stack, name)
        with stack.connect(node_address(stack, name)) as conn:
            assert scalar(conn, "SELECT @@read_only") == 1
            wait_until(lambda conn=conn: scalar(conn, "SELECT COUNT(*) FROM app.items WHERE marker IN %s",
                                                (writer.acknowledged,)) == len(writer.acknowledged),
                       timeout=30, what=f"every acknowledged write on {name}")
    assert writer.longest_outage < 30, "writes fail only during the switchover"
    with stack.connect(node_address(stack, "db2")) as conn:
        target = scalar(conn, "SELECT @@gtid_binlog_pos")
    for name in ("db1", "db3"):
        with stack.connect(node_address(stack, name)) as conn:
            assert scalar(conn, "SELECT MASTER_GTID_WAIT(%s, 30)", (target,)) == 0
    assert load.checksums(node_address(stack, "db2")) == load.checksums(node_address(stack, "db1")) == \
        load.checksums(node_address(stack, "db3")), "sysbench's tables are the same on every node"

    stack.config_set("replstack:database.preferredPrimary", "db1")
    apply(stack, "switchover db2 → db1")
    assert stack.outputs()["primary"] == "db1"
    assert replicating(stack, "db2") and replicating(stack, "db3")


def test_policy_pack_preview_after_a_change(stack):
    """What ``make policy`` runs, on this stack: the pack recognises the nodes by type after a change."""
    stack.config_set("replstack:database.maxConnections", 1600)
    preview = stack.run("preview", "--diff", "--policy-pack", str(PROJECT_DIR / "policies")).ok().output
    assert "live: SET GLOBAL max_connections = 1600" in preview
    assert "Policy Packs run:" in preview and "replstack|local|" in preview
    stack.up("--policy-pack", str(PROJECT_DIR / "policies")).ok()
    stack.expect_no_changes().ok()
