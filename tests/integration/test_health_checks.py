"""The proxies' health checks on a real 3-node + HAProxy cluster: the check account cannot be used by another
local user nor locked out by a client, and the read side follows replication (a replica whose SQL thread stops,
or that lags more than bootstrap.maxReplicaLag, leaves the read pool and comes back when it recovers), through
HAProxy's own checks only."""

from __future__ import annotations

import getpass
from pathlib import Path

import pymysql
import pytest

from components.configurator.haproxy import CHECK_COMMAND, CHECK_OPTIONS, haproxy_paths
from components.configurator.mariadb import node_paths
from components.configurator.placement import Placement
from components.orchestrators.hosts import LocalHost
from components.proxies.haproxy_runtime import ServerStatus, server_statuses
from components.waiting import wait_until
from tests.support.attacker import as_nobody, shared_tmp
from tests.support.cluster import LocalCluster, local_cluster

pytestmark = pytest.mark.timeout(900)
MAX_LAG = 3
CHECK_USER = "replstack_check"


@pytest.fixture(scope="module")
def cluster() -> LocalCluster:
    with shared_tmp("replstack-checks-") as tmp:
        with local_cluster(tmp, bootstrap={"maxReplicaLag": MAX_LAG}) as created:
            yield created


def placement(cluster: LocalCluster, service: str) -> Placement:
    return Placement.from_output(cluster.resource_outputs(f"{service}-placement"))


def statuses(cluster: LocalCluster) -> dict[tuple[str, str], ServerStatus]:
    socket = haproxy_paths(placement(cluster, "haproxy1")).socket
    return {(s.backend, s.server): s for s in server_statuses(LocalHost(), socket)}


def wait_for_routing(cluster: LocalCluster, expected: dict[tuple[str, str], bool], what: str) -> None:
    def matches() -> bool:  # out means DOWN, not on its way down ("UP 1/2")
        now = statuses(cluster)
        return all(now[key].healthy if up else now[key].status == "DOWN" for key, up in expected.items())
    wait_until(matches, timeout=60, what=what)


def admin(cluster: LocalCluster, node: str) -> pymysql.connections.Connection:
    """The operator's way into a node: its unix socket, as the OS account that runs it."""
    return pymysql.connect(unix_socket=node_paths(placement(cluster, node)).socket, user=getpass.getuser(),
                           autocommit=True)


def client_as(cluster: LocalCluster, address: str, user: str, password: str = "") -> pymysql.connections.Connection:
    host, port = address.rsplit(":", 1)
    return pymysql.connect(host=host.strip("[]"), port=int(port), user=user, password=password, connect_timeout=5,
                           autocommit=True)


def reads_work(cluster: LocalCluster) -> int:
    with cluster.connect(cluster.outputs["readEndpoint"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@server_id")
        return cur.fetchone()[0]


def test_the_check_account_has_a_password_in_a_file_only_the_operator_reads(cluster):
    proxy_dir = Path(placement(cluster, "haproxy1").dir)
    options = proxy_dir / CHECK_OPTIONS
    assert options.stat().st_mode & 0o777 == 0o600 and (proxy_dir / CHECK_COMMAND).stat().st_mode & 0o077 == 0
    assert "password = " in options.read_text()
    with admin(cluster, "db2") as conn, conn.cursor() as cur:  # replicated from the primary
        cur.execute("SELECT Host, authentication_string FROM mysql.user WHERE User = %s", (CHECK_USER,))
        rows = cur.fetchall()
    assert len(rows) == 1 and rows[0][1].startswith("*"), f"the check account has no password: {rows}"
    assert as_nobody(["cat", str(options)]).returncode != 0


def test_no_account_logs_in_without_a_password_as_another_local_user(cluster):
    addresses = [cluster.outputs["writeEndpoint"], cluster.outputs["readEndpoint"],
                 *(f"{n['host']}:{n['port']}" for n in cluster.outputs["nodes"])]
    users = [CHECK_USER, "replstack_monitor", "replstack_repl", "root", getpass.getuser(), "mysql", "nobody", ""]
    logged_in = []
    for address in addresses:
        host, port = address.rsplit(":", 1)
        for user in users:
            attempt = as_nobody(["mariadb", "--no-defaults", "--protocol=TCP", f"--host={host.strip('[]')}",
                                 f"--port={port}", f"--user={user}", "--skip-password", "--connect-timeout=5",
                                 "--batch", "--skip-column-names", "--execute=SELECT CURRENT_USER()"])
            if attempt.returncode == 0:
                logged_in.append(f"{user!r} at {address}: {attempt.stdout.strip()}")
            else:
                assert "Access denied" in attempt.stderr, attempt.stderr
    assert logged_in == []


def test_a_client_cannot_lock_the_check_account_out(cluster):
    write = cluster.outputs["writeEndpoint"]
    # Its own session cannot be opened without the password, so it cannot SET PASSWORD for itself.
    with pytest.raises(pymysql.err.OperationalError) as refused:
        client_as(cluster, write, CHECK_USER)
    assert refused.value.args[0] == 1045
    # An administrator re-keying it through the write endpoint (it replicates everywhere): the proxies keep routing.
    check_hosts = [row[0] for row in _query(cluster, "db1", "SELECT Host FROM mysql.user WHERE User = %s",
                                            (CHECK_USER,))]
    with cluster.connect(write) as conn, conn.cursor() as cur:
        for host in check_hosts:
            cur.execute(f"ALTER USER '{CHECK_USER}'@'{host}' IDENTIFIED BY 'locked-out-by-a-client'")
    try:
        # The replicas' replication can no longer be read: they leave the read pool, reads go to the primary.
        wait_for_routing(cluster, {("write", "db1"): True, ("read", "db2"): False, ("read", "db3"): False,
                                   ("read", "db1"): True}, "the replicas to leave the read pool")
        with cluster.connect(write) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS still_writable")
        assert reads_work(cluster) == 1, "reads are served by the primary"
    finally:
        password = next(line.split("=", 1)[1].strip() for line in
                        (Path(placement(cluster, "haproxy1").dir) / CHECK_OPTIONS).read_text().splitlines()
                        if line.startswith("password"))
        with cluster.connect(write) as conn, conn.cursor() as cur:
            for host in check_hosts:
                cur.execute(f"ALTER USER '{CHECK_USER}'@'{host}' IDENTIFIED BY %s", (password,))
    wait_for_routing(cluster, {("read", "db2"): True, ("read", "db3"): True}, "the replicas to come back")


def _query(cluster: LocalCluster, node: str, sql: str, args: tuple = ()) -> list[tuple]:
    with admin(cluster, node) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def test_a_replica_whose_sql_thread_stops_leaves_the_read_pool_and_comes_back(cluster):
    wait_for_routing(cluster, {("read", "db2"): True, ("read", "db3"): True}, "both replicas in the read pool")
    _query(cluster, "db2", "STOP SLAVE SQL_THREAD")
    try:
        wait_for_routing(cluster, {("read", "db2"): False, ("read", "db3"): True}, "db2 to leave the read pool")
        assert {reads_work(cluster) for _ in range(6)} == {3}, "reads go to db3 only"
    finally:
        _query(cluster, "db2", "START SLAVE SQL_THREAD")
    wait_for_routing(cluster, {("read", "db2"): True, ("read", "db3"): True}, "db2 to come back")


def test_a_replica_lagging_more_than_the_bound_leaves_the_read_pool_and_comes_back(cluster):
    _query(cluster, "db3", "STOP SLAVE")
    _query(cluster, "db3", "CHANGE MASTER TO MASTER_DELAY = 600")
    _query(cluster, "db3", "START SLAVE")
    try:
        with cluster.connect(cluster.outputs["writeEndpoint"]) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS lag_probe")
        wait_for_routing(cluster, {("read", "db3"): False, ("read", "db2"): True},
                         f"db3 to leave the read pool once it lags more than {MAX_LAG}s")
        lag = _query(cluster, "db3", "SELECT 1")  # the node still answers: only its lag took it out
        assert lag == [(1,)]
    finally:
        _query(cluster, "db3", "STOP SLAVE")
        _query(cluster, "db3", "CHANGE MASTER TO MASTER_DELAY = 0")
        _query(cluster, "db3", "START SLAVE")
    wait_for_routing(cluster, {("read", "db2"): True, ("read", "db3"): True}, "db3 to catch up and come back")
