"""local.bindAddress on real clusters: an address of the host other than 127.0.0.1 (another loopback address, IPv6
loopback) gives a cluster that replicates and routes, with every service listening on that address only and the
check account limited to where the proxy really connects from. Addresses the host does not have and wildcards
are refused before anything starts (tests/support/bad_configs.py, run through `pulumi up` by
test_invalid_config.py)."""

from __future__ import annotations

import getpass
import socket
import uuid

import psutil
import pymysql
import pytest

from components.configurator.mariadb import node_paths
from components.configurator.placement import Placement
from components.orchestrators.hosts import LocalHost
from components.proxies.haproxy_runtime import server_statuses
from components.configurator.haproxy import haproxy_paths
from tests.support.cluster import LocalCluster, local_cluster
from tests.support.processes import processes_under
from components.waiting import WaitTimeout, wait_until

pytestmark = pytest.mark.timeout(600)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def state_of(cluster: LocalCluster, name: str) -> dict:
    return cluster.resource_outputs(name)


def listening_addresses(cluster: LocalCluster) -> set[str]:
    found = set()
    for proc in processes_under(cluster.data_dir):
        try:
            found |= {c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.parametrize("address, source", [("127.0.0.2", "127.0.0.1"), ("::1", "::1")])
def test_a_cluster_on_another_address_of_the_host_replicates_and_routes(tmp_path, address, source):
    if address == "::1" and not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1 cannot be bound)")
    shown = f"[{address}]" if ":" in address else address
    local = {"baseDir": str(tmp_path / "data"), "bindAddress": address}
    with local_cluster(tmp_path, nodes=3, local=local) as cluster:
        outputs = cluster.outputs
        assert outputs["writeEndpoint"].startswith(f"{shown}:") and outputs["readEndpoint"].startswith(f"{shown}:")
        assert {n["host"] for n in outputs["nodes"]} == {address}
        assert listening_addresses(cluster) == {address}, "every server and proxy listens on the address only"

        marker = uuid.uuid4().hex
        with cluster.connect(outputs["writeEndpoint"]) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS app")
            cur.execute("CREATE TABLE app.t (v VARCHAR(64) PRIMARY KEY)")
            cur.execute("INSERT INTO app.t VALUES (%s)", (marker,))

        def read_back() -> bool:
            with cluster.connect(outputs["readEndpoint"]) as conn, conn.cursor() as cur:
                cur.execute("SELECT @@read_only, (SELECT COUNT(*) FROM app.t WHERE v = %s)", (marker,))
                return cur.fetchone() == (1, 1)
        wait_until(read_back, timeout=30, what="the row to be read back through the read endpoint from a replica")

        # The check account is limited to where the proxy connects from, as the servers see it.
        primary_socket = node_paths(Placement.from_output(state_of(cluster, "db1-placement"))).socket
        with pymysql.connect(unix_socket=primary_socket, user=getpass.getuser()) as conn, conn.cursor() as cur:
            cur.execute("SELECT Host FROM mysql.user WHERE User = 'replstack_check'")
            assert [row[0] for row in cur.fetchall()] == [source]
        socket_path = haproxy_paths(Placement.from_output(state_of(cluster, "haproxy1-placement"))).socket
        # The write side lists every node; only the one that takes writes is up there. Read until HAProxy's
        # checks agree: on a loaded machine one check may time out and take a server down for a check interval.
        expected = {("write", "db1"): True, ("write", "db2"): False, ("write", "db3"): False, ("read", "db2"): True,
                    ("read", "db3"): True}
        seen: dict = {}

        def routed() -> bool:
            seen.update(statuses={(s.backend, s.server): s.healthy for s in server_statuses(LocalHost(), socket_path)
                                  if s.server != "db1" or s.backend == "write"})
            return seen["statuses"] == expected
        try:
            wait_until(routed, timeout=15, what="HAProxy's checks to agree")
        except WaitTimeout:
            assert seen["statuses"] == expected
