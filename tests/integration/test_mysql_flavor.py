"""The mysql flavor on a real MySQL server, through the CLI as a user runs it.

Debian 12 has no MySQL server; ``scripts/setup --mysql`` unpacks Debian unstable's ``mysql-server-core`` (MySQL
9.7) and the libraries it links with into a private prefix (nothing of the system changes), whose ``bin/`` is the
stack's ``database.binaryDir``. The stack says ``flavor: mysql``; the version that mysqld reports drives the SQL
(``CHANGE REPLICATION SOURCE``, ``SHOW REPLICA STATUS``, GTID sets) and the my.cnf names. Asserted: every node is
that MySQL, replicates with GTID auto-position, replicas refuse client writes, HAProxy routes writes to the
primary and reads to the replicas, a switchover moves writes, ``preview --expect-no-changes`` holds, and
``destroy`` leaves nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pymysql
import pytest

from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster, insert_marker
from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR
from tests.support.processes import listening_ports, processes_under

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def mysql_dir() -> str:
    """``scripts/setup --mysql``: unpacks the server once, then only checks (a second)."""
    done = subprocess.run([str(PROJECT_DIR / "scripts" / "setup"), "--mysql"], capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, f"scripts/setup --mysql failed:\n{done.stdout}{done.stderr}"
    cache = Path(os.environ.get("REPLSTACK_CACHE") or Path.home() / ".cache" / "replstack")
    values = dict(line.split("=", 1) for line in (cache / "mysql.env").read_text().split())
    return values["MYSQL_BINARY_DIR"]


def mysql_config(tmp: Path, binary_dir: str, nodes: int = 3) -> dict[str, Any]:
    return cluster_config(tmp / "data", database={"nodes": nodes, "memory": 256, "flavor": "mysql",
                                                 "binaryDir": binary_dir})


def address(stack: CliStack, name: str) -> str:
    node = next(n for n in stack.outputs()["nodes"] if n["name"] == name)
    return f"{node['host']}:{node['port']}"


def one(stack: CliStack, where: str, sql: str, args: Any = None) -> Any:
    with stack.connect(where) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return row[0] if row else None


def arrives(stack: CliStack, name: str, marker: str) -> None:
    def there() -> bool:
        try:
            return one(stack, address(stack, name), "SELECT COUNT(*) FROM app.items WHERE marker = %s",
                       (marker,)) == 1
        except pymysql.MySQLError:  # the table not replicated yet
            return False
    wait_until(there, timeout=30, what=f"row {marker} on {name}")


def replica_status(stack: CliStack, name: str) -> dict[str, Any]:
    with stack.connect(address(stack, name)) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW REPLICA STATUS")
        return cur.fetchone() or {}


def test_a_mysql_cluster_replicates_routes_switches_over_and_leaves_nothing(tmp_path, mysql_dir):
    with cli_cluster(tmp_path, mysql_config(tmp_path, mysql_dir)) as stack:
        outputs = stack.outputs()
        nodes = [n["name"] for n in outputs["nodes"]]
        assert nodes == ["db1", "db2", "db3"]
        for name in nodes:
            version = one(stack, address(stack, name), "SELECT @@version_comment")
            assert "mariadb" not in str(version).lower()
            assert str(one(stack, address(stack, name), "SELECT VERSION()")).startswith("9.")
        # GTID auto-position from the primary, both threads running.
        primary_port = int(address(stack, "db1").rsplit(":", 1)[1])
        for name in ("db2", "db3"):
            status = replica_status(stack, name)
            assert int(status["Source_Port"]) == primary_port and status["Auto_Position"] == 1
            assert (status["Replica_IO_Running"], status["Replica_SQL_Running"]) == ("Yes", "Yes")

        # A write through HAProxy's write port lands on the primary and reaches every replica.
        marker = insert_marker(stack, outputs["writeEndpoint"])
        assert one(stack, outputs["writeEndpoint"], "SELECT @@server_id") == 1
        for name in ("db2", "db3"):
            arrives(stack, name, marker)
        # Reads go to the replicas; a client account cannot write on one.
        assert {one(stack, outputs["readEndpoint"], "SELECT @@server_id") for _ in range(6)} <= {2, 3}
        with pytest.raises(pymysql.MySQLError, match="read-only|read_only"):
            insert_marker(stack, address(stack, "db2"))
        stack.expect_no_changes().ok()

        # Switchover: db2 takes writes, db1 and db3 follow it.
        stack.config_set("replstack:database.preferredPrimary", "db2")
        stack.up().ok()
        def writes_on_db2() -> bool:
            return one(stack, stack.outputs()["writeEndpoint"], "SELECT @@server_id") == 2
        wait_until(writes_on_db2, timeout=30, what="HAProxy's write port to reach db2")
        marker = insert_marker(stack, stack.outputs()["writeEndpoint"])
        for name in ("db1", "db3"):
            arrives(stack, name, marker)
        assert int(replica_status(stack, "db1")["Source_Port"]) == int(address(stack, "db2").rsplit(":", 1)[1])
        stack.expect_no_changes().ok()

        ports = [int(n["port"]) for n in stack.outputs()["nodes"]] + [
            int(p) for x in stack.outputs()["proxies"] for p in x["ports"].values()]
        stack.run("destroy", "--yes").ok()
        assert not processes_under(tmp_path), "destroy left processes running"
        assert not set(ports) & listening_ports(), "destroy left ports listening"
        assert not any((tmp_path / "data").glob("*/db*")), "destroy left node directories"


def test_the_flavor_must_match_the_binary(tmp_path, mysql_dir):
    """A mysql stack pointed at MariaDB's directory, or a mariadb one at MySQL's, is refused before anything
    runs, naming the key and what the binary is."""
    from tests.support.cli import cli_stack

    stack = cli_stack(tmp_path, cluster_config(tmp_path / "data", database={
        "nodes": 2, "flavor": "percona", "binaryDir": mysql_dir}))
    result = stack.run("preview")
    assert result.returncode != 0
    assert "database.binaryDir" in result.output and "is mysql 9." in result.output
    assert not processes_under(tmp_path)
    stack.write_config(cluster_config(tmp_path / "data", database={
        "nodes": 2, "flavor": "mysql", "binaryDir": mysql_dir}, bootstrap={"topology": "ring"}))
    result = stack.run("preview")
    assert result.returncode != 0 and "bootstrap.topology" in result.output and "master-slave" in result.output


def test_every_tag_mysql_takes_renders_a_config_the_real_mysqld_accepts(tmp_path, mysql_dir):
    """The my.cnf of a node with every tag the mysql flavor accepts at once (the rest are refused by the spec),
    rendered as the cluster renders it for the version the binary says, passes ``mysqld --validate-config``;
    and a variable the table lets through but the server does not know would fail it (the check is real)."""
    from components.configurator import flavors
    from components.configurator.mariadb import database_settings, render_my_cnf
    from components.configurator.placement import Placement
    from components.configurator.tags import DATABASE_TAGS
    from components.spec import SpecError
    from components.spec.stack import detected_server
    from tests.unit.test_configurator import spec_of

    server = detected_server(f"{mysql_dir}/mysqld")
    accepted = sorted(t for t in DATABASE_TAGS if not flavors.tag_problems("mysql", server.version, [t]))
    assert len(accepted) > 50
    # Tags that set one variable differently (row and statement) cannot share a stack: as few groups as that
    # allows, each a stack the spec takes.
    groups: list[list[str]] = []
    for tag in accepted:
        for group in groups:
            try:
                spec_of({"orchestrator": "kube", "kube": {}, "database": {"tags": [*group, tag]}})
            except SpecError:
                continue
            group.append(tag)
            break
        else:
            groups.append([tag])
    (tmp_path / "tmp").mkdir()

    def validates(settings: dict[str, str]) -> subprocess.CompletedProcess:
        text = render_my_cnf(cluster="c", node="db1", primary=True, settings=settings,
                             placement=Placement("127.0.0.1", {"mysql": 3306}, str(tmp_path)),
                             run_as_root=os.geteuid() == 0, flavor="mysql")
        (tmp_path / "my.cnf").write_text(text)
        return subprocess.run([f"{mysql_dir}/mysqld", f"--defaults-file={tmp_path}/my.cnf", "--validate-config"],
                              capture_output=True, text=True, timeout=60)

    for group in groups:
        database = spec_of({"orchestrator": "kube", "kube": {}, "database": {"tags": group}}).database
        settings = flavors.flavor_settings(database_settings(database, 1, True), "mysql", server.version)
        flavors.check_settings(settings, "mysql", server.version)
        done = validates(settings)
        assert done.returncode == 0, f"tags {group}: {done.stderr}"
    done = validates({**settings, "aria_pagecache_buffer_size": "1M"})
    assert done.returncode != 0 and "unknown variable 'aria_pagecache_buffer_size" in done.stderr


def test_a_mysql_cluster_resizes_and_takes_new_settings(tmp_path, mysql_dir):
    """Without a physical copy (mariadb-backup cannot copy MySQL), a replica added to a running cluster
    replicates the primary's whole history by GTID auto-position; removing it stops and removes only it. Then
    settings change live or by a rolling restart."""
    with cli_cluster(tmp_path, mysql_config(tmp_path, mysql_dir, nodes=2)) as stack:
        before = insert_marker(stack, stack.outputs()["writeEndpoint"])
        stack.config_set("replstack:database.nodes", 3)
        preview = stack.preview_diff().ok()
        assert "install the datadir, start mysqld" in preview.output
        stack.up().ok()
        arrives(stack, "db3", before)
        after = insert_marker(stack, stack.outputs()["writeEndpoint"])
        arrives(stack, "db3", after)
        assert replica_status(stack, "db3")["Replica_SQL_Running"] == "Yes"
        db3 = tmp_path / "data" / "replstack-cli" / "db3"
        assert db3.is_dir()

        stack.config_set("replstack:database.nodes", 2)
        stack.up().ok()
        assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2"]
        assert not db3.exists() and not processes_under(db3)
        arrives(stack, "db2", insert_marker(stack, stack.outputs()["writeEndpoint"]))
        stack.expect_no_changes().ok()

        # Dynamic settings (max_connections, the buffer pool that database.memory sizes) are set on every
        # running node without a restart; a static one (innodb_log_buffer_size, in replstack's table) restarts
        # the nodes one at a time, replicas first, and each replicates again.
        pids = {name: int(stack.state(name)["pid"]) for name in ("db1", "db2")}
        stack.config_set("replstack:database.maxConnections", 333)
        stack.config_set("replstack:database.memory", 384)
        preview = stack.preview_diff().ok().output
        assert "SET GLOBAL" in preview and "max_connections = 333" in preview
        stack.up().ok()
        for name in ("db1", "db2"):
            assert one(stack, address(stack, name), "SELECT @@max_connections") == 333
            assert one(stack, address(stack, name), "SELECT @@innodb_buffer_pool_size") > 200 * 2**20
        assert {name: int(stack.state(name)["pid"]) for name in ("db1", "db2")} == pids, "no restart"

        stack.config_set("replstack:database.settings.innodb_log_buffer_size", "32M")
        assert "restart" in stack.preview_diff().ok().output
        stack.up().ok()
        after = {name: int(stack.state(name)["pid"]) for name in ("db1", "db2")}
        assert all(after[name] != pids[name] for name in pids), "both restarted"
        for name in ("db1", "db2"):
            assert one(stack, address(stack, name), "SELECT @@innodb_log_buffer_size") == 32 * 2**20
        status = replica_status(stack, "db2")
        assert (status["Replica_IO_Running"], status["Replica_SQL_Running"]) == ("Yes", "Yes")
        arrives(stack, "db2", insert_marker(stack, stack.outputs()["writeEndpoint"]))
        stack.expect_no_changes().ok()

